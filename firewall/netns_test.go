package firewall

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portwarden/portwarden/lab"
	"github.com/portwarden/portwarden/rule"
)

// Kernel tests run nft and iptables in network namespaces they create, so
// the machine's own firewall is never touched, and remove them in
// t.Cleanup.

// requireKernel skips t unless it runs as root with ip and tools.
func requireKernel(t *testing.T, tools ...string) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("kernel tests need Linux network namespaces")
	}
	lab.SkipUnlessRoot(t, "network namespaces to run nft/iptables in")
	for _, tool := range append([]string{"ip"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("kernel test needs %s, which is not installed", tool)
		}
	}
}

// testNS is a network namespace made for one test.
type testNS struct {
	t    *testing.T
	name string
	// wrap, when set, is argv run inside the namespace before "sh -c
	// SCRIPT" (e.g. unshare for a private mount namespace).
	wrap []string
}

// newNS creates a namespace "pwfw-<random>" with loopback up.
func newNS(t *testing.T) *testNS {
	t.Helper()
	name := fmt.Sprintf("pwfw-%08x", rand.Uint32())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	ns := &testNS{t: t, name: name}
	ns.sh("ip link set lo up")
	return ns
}

// run runs a sh script inside the namespace.
func (ns *testNS) run(script string, stdin []byte) (stdout, stderr string, code int) {
	ns.t.Helper()
	argv := append(append([]string{"netns", "exec", ns.name}, ns.wrap...), "sh", "-c", script)
	cmd := exec.Command("ip", argv...)
	cmd.Stdin = bytes.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		ns.t.Fatalf("running a script in %s: %v", ns.name, err)
	}
	return o.String(), e.String(), code
}

// sh runs a script that must succeed and returns its output.
func (ns *testNS) sh(script string) string {
	ns.t.Helper()
	out, errOut, code := ns.run(script, nil)
	if code != 0 {
		ns.t.Fatalf("in %s: %q exited %d: %s%s", ns.name, script, code, out, errOut)
	}
	return out
}

// script runs a portwarden Script and returns its facts; it fails the
// test if the script exits non-zero.
func (ns *testNS) script(s Script) Facts {
	ns.t.Helper()
	if s.Shell != "sh" {
		ns.t.Fatalf("script shell %q, want sh", s.Shell)
	}
	out, errOut, code := ns.run(s.Body, s.Stdin)
	if code != 0 {
		ns.t.Fatalf("script exited %d in %s\nstderr: %s\nstdout: %s", code, ns.name, errOut, out)
	}
	return ParseFacts(out)
}

// link connects two namespaces with a veth pair: a gets 10.99.0.1/24 and
// fd99::1/64, b gets 10.99.0.2/24 and fd99::2/64 plus the extra addresses.
func link(t *testing.T, a, b *testNS, extra ...string) {
	t.Helper()
	a.sh("ip link add pw0 type veth peer name pw1 netns " + b.name)
	a.sh("ip addr add 10.99.0.1/24 dev pw0 && ip addr add fd99::1/64 dev pw0 nodad && ip link set pw0 up")
	b.sh("ip addr add 10.99.0.2/24 dev pw1 && ip addr add fd99::2/64 dev pw1 nodad && ip link set pw1 up")
	for _, x := range extra {
		b.sh("ip addr add " + x + " dev pw1 nodad")
	}
}

// in runs fn on an OS thread that is switched into the namespace.
// Sockets made by fn stay in the namespace after it returns.
func (ns *testNS) in(fn func()) {
	ns.t.Helper()
	var wg sync.WaitGroup
	var err error
	wg.Add(1)
	go func() {
		defer wg.Done()
		runtime.LockOSThread()
		orig, e := os.Open("/proc/thread-self/ns/net")
		if e != nil {
			err = e
			runtime.UnlockOSThread()
			return
		}
		defer orig.Close()
		target, e := os.Open("/run/netns/" + ns.name)
		if e != nil {
			err = e
			runtime.UnlockOSThread()
			return
		}
		defer target.Close()
		if e := setns(target); e != nil {
			err = e
			runtime.UnlockOSThread()
			return
		}
		fn()
		if e := setns(orig); e != nil {
			// The thread stays locked and dies with the goroutine.
			err = e
			return
		}
		runtime.UnlockOSThread()
	}()
	wg.Wait()
	if err != nil {
		ns.t.Fatalf("switching into namespace %s: %v", ns.name, err)
	}
}

// setnsTrap is setns(2)'s number, which package syscall does not export.
var setnsTrap = map[string]uintptr{
	"amd64": 308, "arm64": 268, "riscv64": 268, "loong64": 268, "386": 346, "arm": 375, "ppc64le": 350, "s390x": 339,
}

func setns(f *os.File) error {
	trap, ok := setnsTrap[runtime.GOARCH]
	if !ok {
		return fmt.Errorf("setns: unknown system call number on %s", runtime.GOARCH)
	}
	if _, _, e := syscall.RawSyscall(trap, f.Fd(), syscall.CLONE_NEWNET, 0); e != 0 {
		return e
	}
	return nil
}

// listen accepts and closes TCP connections on addr:port in ns until the
// test ends.
func (ns *testNS) listen(addr string, ports ...int) {
	ns.t.Helper()
	for _, p := range ports {
		var l net.Listener
		var err error
		ns.in(func() { l, err = net.Listen("tcp", net.JoinHostPort(addr, fmt.Sprint(p))) })
		if err != nil {
			ns.t.Fatalf("listening in %s: %v", ns.name, err)
		}
		ns.t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}
}

// reach reports whether a TCP connection from src (an address of ns, or
// "" for any) to dst:port completes within timeout.
func (ns *testNS) reach(src, dst string, port int, timeout time.Duration) bool {
	ns.t.Helper()
	var err error
	ns.in(func() {
		d := net.Dialer{Timeout: timeout}
		if src != "" {
			d.LocalAddr = &net.TCPAddr{IP: net.IP(netip.MustParseAddr(src).AsSlice())}
		}
		var c net.Conn
		c, err = d.Dial("tcp", net.JoinHostPort(dst, fmt.Sprint(port)))
		if err == nil {
			c.Close()
		}
	})
	return err == nil
}

// Timeouts for reach: an open port answers at once on a veth pair; a
// dropped one never does.
const (
	reachOpen    = 3 * time.Second
	reachBlocked = 400 * time.Millisecond
)

// expectReach checks that each of dst's ports is reachable (or not) from
// src in ns.
func expectReach(t *testing.T, ns *testNS, src, dst string, want bool, ports ...int) {
	t.Helper()
	for _, p := range ports {
		timeout := reachBlocked
		if want {
			timeout = reachOpen
		}
		if got := ns.reach(src, dst, p, timeout); got != want {
			verb := "reachable"
			if !want {
				verb = "blocked"
			}
			t.Errorf("%s → [%s]:%d: want %s, got the opposite", orAny(src), dst, p, verb)
		}
	}
}

func orAny(s string) string {
	if s == "" {
		return "any"
	}
	return s
}

// stable strips what changes between two listings of the same ruleset:
// iptables-save's date comments and counters.
func stable(s string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		if strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, ":") {
			if i := strings.LastIndex(line, " ["); i > 0 {
				line = line[:i] + "\n"
			}
		}
		b.WriteString(line)
	}
	return b.String()
}

// largeSetsDesired is a rule of a large fleet: 2,000 scattered peers that
// do not aggregate, touching prefixes that nft merges into ranges, and
// IPv6 ones, in enforce mode with a management source next to them.
func largeSetsDesired() Desired {
	var src []string
	for i := range 2000 {
		src = append(src, fmt.Sprintf("10.%d.%d.7", 100+i/250, i%250))
	}
	src = append(src, "10.0.0.1", "10.0.0.2/31", "10.0.0.4/30", "10.0.0.9", "fd00::1", "fd00::2/127", "fd00::8/125")
	d := Desired{
		Mode: rule.Enforce,
		Rules: []rule.Rule{
			{Protocol: "tcp", Ports: ports(2500, 3300, 6162, 6162), Sources: pfx(src...), Comment: "repository-copy"},
			{Protocol: "udp", Ports: ports(111, 111), Sources: pfx("10.0.0.1", "10.0.0.2/31")},
		},
		ManagementPort:    22,
		ManagementSources: pfx("10.0.0.3", "10.0.0.2"),
	}
	return normalized(d)
}

// checkLargeSets applies largeSetsDesired on a fresh host of the backend:
// the state read back equals it without drift, and once the host has it
// (after the first apply, which also inserts iptables' jumps) another
// apply renders the same script and leaves the kernel's ruleset as it was.
func checkLargeSets(t *testing.T, backend string) *kernelHost {
	h := newKernelHost(t, backend)
	d := largeSetsDesired()
	_, st := h.apply(d)
	checkState(t, st, d)
	ruleset := "nft list ruleset"
	if backend == "iptables" {
		ruleset = "iptables-save; ip6tables-save"
	}
	s2, st2 := h.apply(d)
	checkState(t, st2, d)
	before := stable(h.ns.sh(ruleset))
	s3, st3 := h.apply(d)
	if s2.Body != s3.Body || string(s2.Stdin) != string(s3.Stdin) {
		t.Errorf("applying again renders a different script")
	}
	checkState(t, st3, d)
	if after := stable(h.ns.sh(ruleset)); after != before {
		t.Errorf("applying again changed the ruleset")
	}
	checkState(t, h.state(), d)
	return h
}

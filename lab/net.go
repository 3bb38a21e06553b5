package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// CommandError is a failed command with what it printed on stderr.
type CommandError struct {
	Argv   []string
	Stderr string
	Err    error
}

func (e *CommandError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" {
		return fmt.Sprintf("%s: %v", strings.Join(e.Argv, " "), e.Err)
	}
	return fmt.Sprintf("%s: %v: %s", strings.Join(e.Argv, " "), e.Err, msg)
}

func (e *CommandError) Unwrap() error { return e.Err }

// run runs a command and returns its stdout; a failure is a *CommandError.
func run(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), &CommandError{Argv: append([]string{name}, args...), Stderr: stderr.String(), Err: err}
	}
	return stdout.Bytes(), nil
}

func ip(ctx context.Context, args ...string) error {
	_, err := run(ctx, nil, "ip", args...)
	return err
}

// claimID picks a free lab ID by creating its bridge: creating a link that
// exists fails, so two labs never get the same ID. IDs whose subnet is
// already routed in the root namespace are skipped.
func claimID(ctx context.Context) (int, error) {
	start := rand.IntN(254)
	var lastErr error
	for n := range 254 {
		id := (start+n)%254 + 1
		if subnetInUse(subnetFor(id)) {
			continue
		}
		err := ip(ctx, "link", "add", bridgeName(id), "type", "bridge")
		if err == nil {
			return id, nil
		}
		var ce *CommandError
		if errors.As(err, &ce) && strings.Contains(ce.Stderr, "File exists") {
			continue
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	if lastErr == nil {
		lastErr = errors.New("all 254 lab ids are taken")
	}
	return 0, fmt.Errorf("claiming a lab id: %w", lastErr)
}

func subnetFor(id int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(id), 0}), 24)
}

// subnet6For is the lab's IPv6 prefix: fd70:7764:0:<id>::/64, inside a
// unique local /48 ("pw" in its bytes) that nothing routes.
func subnet6For(id int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom16([16]byte{0xfd, 0x70, 0x77, 0x64, 0, 0, 0, byte(id)}), 64)
}

func hostAddr6(id, i int) netip.Addr {
	b := subnet6For(id).Addr().As16()
	b[15] = byte(10 + i)
	return netip.AddrFrom16(b)
}

func hostAddr(id, i int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 18, byte(id), byte(10 + i)})
}

// subnetInUse reports whether an interface of the root namespace already
// has an address in p.
func subnetInUse(p netip.Prefix) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		pfx, err := netip.ParsePrefix(a.String())
		if err == nil && pfx.Overlaps(p) {
			return true
		}
	}
	return false
}

// setupBridge gives the claimed bridge the controller address. Where the
// kernel passes bridged traffic through the root namespace's iptables
// (br_netfilter), the bridge opts out: the lab's traffic between hosts must
// neither depend on nor touch the machine's own firewall. The option is
// the bridge's own; no root-namespace rule or sysctl changes.
func (l *Lab) setupBridge(ctx context.Context) error {
	if _, err := os.Stat("/sys/class/net/" + l.Bridge + "/bridge/nf_call_iptables"); err == nil {
		if err := ip(ctx, "link", "set", l.Bridge, "type", "bridge", "nf_call_iptables", "0", "nf_call_ip6tables", "0", "nf_call_arptables", "0"); err != nil {
			return fmt.Errorf("keeping bridge %s out of the root namespace's firewall: %w", l.Bridge, err)
		}
	}
	if err := ip(ctx, "addr", "add", netip.PrefixFrom(l.Controller, l.Subnet.Bits()).String(), "dev", l.Bridge); err != nil {
		return fmt.Errorf("configuring bridge %s: %w", l.Bridge, err)
	}
	if l.Controller6.IsValid() {
		if err := ip(ctx, "addr", "add", netip.PrefixFrom(l.Controller6, l.Subnet6.Bits()).String(), "dev", l.Bridge, "nodad"); err != nil {
			return fmt.Errorf("configuring bridge %s: %w", l.Bridge, err)
		}
	}
	// The alias names the lab's directory, so that "ip -d link" or
	// "portwarden-lab list" tell where a forgotten lab's state is.
	if err := ip(ctx, "link", "set", "dev", l.Bridge, "alias", bridgeAlias(l.Dir)); err != nil {
		return fmt.Errorf("configuring bridge %s: %w", l.Bridge, err)
	}
	if err := ip(ctx, "link", "set", l.Bridge, "up"); err != nil {
		return fmt.Errorf("configuring bridge %s: %w", l.Bridge, err)
	}
	return nil
}

// setupHostNet makes the host's namespace and plugs it into the bridge.
func (l *Lab) setupHostNet(ctx context.Context, h Host) error {
	pfx := netip.PrefixFrom(h.Address, l.Subnet.Bits()).String()
	steps := [][]string{
		{"netns", "add", h.Namespace},
		{"link", "add", h.Veth, "type", "veth", "peer", "name", "eth0", "netns", h.Namespace},
		{"link", "set", h.Veth, "master", l.Bridge, "up"},
		{"-n", h.Namespace, "link", "set", "lo", "up"},
		{"-n", h.Namespace, "addr", "add", pfx, "dev", "eth0"},
		{"-n", h.Namespace, "link", "set", "eth0", "up"},
	}
	if h.Address6.IsValid() {
		steps = append(steps, []string{"-n", h.Namespace, "addr", "add", netip.PrefixFrom(h.Address6, l.Subnet6.Bits()).String(), "dev", "eth0", "nodad"})
	}
	for _, s := range steps {
		if err := ip(ctx, s...); err != nil {
			return fmt.Errorf("setting up the network of %s: %w", h.Name, err)
		}
	}
	return nil
}

// netnsPIDs lists the processes in a namespace; none if it does not exist.
func netnsPIDs(ctx context.Context, ns string) []int {
	out, err := run(ctx, nil, "ip", "netns", "pids", ns)
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(out)) {
		// This process is never the lab's, even while one of its threads
		// visits a lab namespace (Listen, DialFrom).
		if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
			pids = append(pids, pid)
		}
	}
	return pids
}

func netnsExists(ctx context.Context, ns string) bool {
	out, err := run(ctx, nil, "ip", "netns", "list")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == ns {
			return true
		}
	}
	return false
}

// delLink deletes a link; one that is already gone is fine.
func delLink(ctx context.Context, name string) error {
	err := ip(ctx, "link", "del", "dev", name)
	var ce *CommandError
	if errors.As(err, &ce) && strings.Contains(ce.Stderr, "Cannot find device") {
		return nil
	}
	return err
}

func linkExists(ctx context.Context, name string) bool {
	return ip(ctx, "link", "show", "dev", name) == nil
}

const aliasPrefix = "portwarden-lab "

func bridgeAlias(dir string) string {
	a := aliasPrefix + dir
	if len(a) > 255 {
		a = a[:255]
	}
	return a
}

// bridgeOwner returns the lab directory named by a bridge's alias, "" if
// the bridge does not exist or has no alias yet.
func bridgeOwner(ctx context.Context, bridge string) string {
	out, err := run(ctx, nil, "ip", "-j", "link", "show", "dev", bridge)
	if err != nil {
		return ""
	}
	var links []struct {
		Alias string `json:"ifalias"`
	}
	if json.Unmarshal(out, &links) != nil || len(links) != 1 {
		return ""
	}
	dir, _ := strings.CutPrefix(links[0].Alias, aliasPrefix)
	return dir
}

// Running is a lab found on this machine by its bridge.
type Running struct {
	ID     int
	Bridge string
	Dir    string // from the bridge's alias; "" if unknown
}

// List finds the labs on this machine, by their bridges, also those whose
// process is gone: take them down with Load(Dir) and Down, or
// "portwarden-lab down --dir DIR".
func List(ctx context.Context) ([]Running, error) {
	out, err := run(ctx, nil, "ip", "-j", "link", "show", "type", "bridge")
	if err != nil {
		return nil, fmt.Errorf("listing labs: %w", err)
	}
	var links []struct {
		Name  string `json:"ifname"`
		Alias string `json:"ifalias"`
	}
	if err := json.Unmarshal(out, &links); err != nil {
		return nil, fmt.Errorf("listing labs: reading ip's output: %w", err)
	}
	var labs []Running
	for _, link := range links {
		id, err := strconv.Atoi(strings.TrimPrefix(link.Name, "pwbr"))
		if err != nil || bridgeName(id) != link.Name {
			continue
		}
		r := Running{ID: id, Bridge: link.Name}
		if dir, ok := strings.CutPrefix(link.Alias, aliasPrefix); ok {
			r.Dir = dir
		}
		labs = append(labs, r)
	}
	return labs, nil
}

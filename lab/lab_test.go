package lab

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/masterzen/winrm"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func skipUnlessLab(t *testing.T) {
	t.Helper()
	SkipShort(t, "a lab (network namespaces, sshd, simulated Windows hosts)")
	if err := Available(); err != nil {
		t.Skipf("no lab: %v", err)
	}
}

// upWithCleanup builds a lab and takes it down in cleanup even if the test
// does so itself (Down is idempotent).
func upWithCleanup(t *testing.T, o Options) *Lab {
	t.Helper()
	skipUnlessLab(t)
	if o.Dir == "" {
		o.Dir = filepath.Join(t.TempDir(), "lab")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	l, err := Up(ctx, o)
	if err != nil {
		t.Fatalf("Up: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Down(); err != nil {
			t.Errorf("Down: %v", err)
		}
	})
	return l
}

// sshRun runs cmd on h as root with the lab's key and known_hosts.
func sshRun(t *testing.T, l *Lab, h Host, cmd string) string {
	t.Helper()
	key, err := os.ReadFile(l.KeyPath())
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	hk, err := knownhosts.New(l.KnownHostsPath())
	if err != nil {
		t.Fatal(err)
	}
	c, err := ssh.Dial("tcp", net.JoinHostPort(h.Address.String(), "22"), &ssh.ClientConfig{
		User:            "root",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: hk,
		Timeout:         5 * time.Second,
	})
	if err != nil {
		t.Fatalf("ssh to %s: %v", h.Name, err)
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.CombinedOutput(cmd)
	if err != nil {
		t.Fatalf("ssh %s %q: %v: %s", h.Name, cmd, err, out)
	}
	return string(out)
}

// leftovers lists the lab's kernel objects and processes that still exist.
func leftovers(t *testing.T, l *Lab) []string {
	t.Helper()
	ctx := context.Background()
	var left []string
	if linkExists(ctx, l.Bridge) {
		left = append(left, "bridge "+l.Bridge)
	}
	prefix := fmt.Sprintf("pw%d-", l.ID)
	out, err := run(ctx, nil, "ip", "netns", "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, prefix) {
			left = append(left, "namespace "+strings.Fields(line)[0])
		}
	}
	for _, h := range l.netHosts() {
		if linkExists(ctx, h.Veth) {
			left = append(left, "veth "+h.Veth)
		}
		if h.PID > 0 && processAlive(h.PID) {
			left = append(left, fmt.Sprintf("process %d", h.PID))
		}
	}
	// Any process still running with the lab's directory in its argv.
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && bytes.Contains(b, []byte(l.Dir+"/")) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			if processAlive(pid) {
				left = append(left, fmt.Sprintf("process %d: %s", pid, bytes.ReplaceAll(b, []byte{0}, []byte{' '})))
			}
		}
	}
	return left
}

func TestUpDown(t *testing.T) {
	t.Parallel()
	l := upWithCleanup(t, Options{Linux: 3})

	if len(l.Hosts) != 3 {
		t.Fatalf("got %d hosts, want 3", len(l.Hosts))
	}
	if want := fmt.Sprintf("198.18.%d.0/24", l.ID); l.Subnet.String() != want {
		t.Errorf("subnet %s, want %s", l.Subnet, want)
	}
	if want := fmt.Sprintf("198.18.%d.1", l.ID); l.Controller.String() != want {
		t.Errorf("controller %s, want %s", l.Controller, want)
	}
	ctx := context.Background()
	for i, h := range l.Hosts {
		if want := fmt.Sprintf("lnx%02d", i+1); h.Name != want {
			t.Errorf("host %d is %s, want %s", i, h.Name, want)
		}
		if want := fmt.Sprintf("198.18.%d.%d", l.ID, 10+i); h.Address.String() != want {
			t.Errorf("%s has address %s, want %s", h.Name, h.Address, want)
		}
		if len(h.Veth) > 15 {
			t.Errorf("veth name %q is too long for Linux", h.Veth)
		}
		if !netnsExists(ctx, h.Namespace) {
			t.Errorf("namespace %s missing", h.Namespace)
		}
		// A real login with the lab's key and known_hosts.
		out := sshRun(t, l, h, "ip -4 -o addr show dev eth0")
		if !strings.Contains(out, h.Address.String()+"/24") {
			t.Errorf("%s: eth0 is %q, want %s/24", h.Name, out, h.Address)
		}
		outb, err := l.Exec(ctx, h.Name, []byte("from-stdin"), "sh", "-c", "cat; ip -4 -o addr show dev eth0")
		if err != nil {
			t.Fatalf("Exec: %v", err)
		}
		if !strings.HasPrefix(string(outb), "from-stdin") || !strings.Contains(string(outb), h.Address.String()) {
			t.Errorf("Exec on %s printed %q", h.Name, outb)
		}
		if fi, err := os.Stat(h.PersistRoot); err != nil || !fi.IsDir() {
			t.Errorf("persist root of %s: %v", h.Name, err)
		}
	}
	if _, err := l.Exec(ctx, "lnx01", nil, "sh", "-c", "echo oops >&2; exit 3"); err == nil || !strings.Contains(err.Error(), "oops") {
		t.Errorf("failing Exec: got %v, want an error with its stderr", err)
	}

	// Hosts reach each other over the bridge.
	c, err := l.DialFrom(ctx, "lnx01", "tcp", net.JoinHostPort(l.Hosts[1].Address.String(), "22"))
	if err != nil {
		t.Fatalf("lnx01 -> lnx02: %v", err)
	}
	c.Close()

	// known_hosts has every host under its address.
	kh, err := os.ReadFile(l.KnownHostsPath())
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(kh), "\n"); n != 3 {
		t.Errorf("known_hosts has %d lines, want 3:\n%s", n, kh)
	}
	for _, h := range l.Hosts {
		// One line per host key, naming both of the host's addresses.
		if !strings.Contains(string(kh), h.Address.String()+","+h.Address6.String()+" "+h.HostKey) {
			t.Errorf("known_hosts lacks %s,%s %s", h.Address, h.Address6, h.HostKey)
		}
	}
	if fi, err := os.Stat(l.KeyPath()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("client key: %v %v", fi.Mode(), err)
	}

	// The inventory parses as HCL and names everything.
	inv, err := os.ReadFile(l.InventoryPath())
	if err != nil {
		t.Fatal(err)
	}
	if _, diags := hclsyntax.ParseConfig(inv, "inventory.hcl", hcl.InitialPos); diags.HasErrors() {
		t.Fatalf("inventory.hcl: %v\n%s", diags, inv)
	}
	for _, want := range []string{
		`host "lnx01"`, `roles        = ["backup_repository"]`, `roles        = ["gateway_server"]`,
		`host "vbr"`, `managed = false`, `address = "` + l.Controller.String() + `"`,
		`private_key = "` + l.KeyPath() + `"`, `known_hosts = "` + l.KnownHostsPath() + `"`,
		`persist_root = "` + l.Hosts[2].PersistRoot + `"`, `upgraded_from_pre_v10 = false`,
	} {
		if !strings.Contains(string(inv), want) {
			t.Errorf("inventory.hcl lacks %q:\n%s", want, inv)
		}
	}

	// List finds the lab by its bridge.
	labs, err := List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range labs {
		found = found || (r.ID == l.ID && r.Dir == l.Dir && r.Bridge == l.Bridge)
	}
	if !found {
		t.Errorf("List = %+v, want lab %d in %s", labs, l.ID, l.Dir)
	}

	// Load reads the same lab back.
	loaded, err := Load(l.Dir)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if loaded.ID != l.ID || len(loaded.Hosts) != 3 || loaded.Hosts[2].PID != l.Hosts[2].PID || loaded.Hosts[0].HostKey != l.Hosts[0].HostKey {
		t.Errorf("Load got %+v, want %+v", loaded, l)
	}

	// Down through a loaded lab, as portwarden-lab down does.
	if err := loaded.Down(); err != nil {
		t.Fatalf("Down: %v", err)
	}
	if left := leftovers(t, l); len(left) > 0 {
		t.Errorf("left after Down: %v", left)
	}
	if _, err := os.Stat(l.Dir); !os.IsNotExist(err) {
		entries, _ := os.ReadDir(l.Dir)
		t.Errorf("lab dir still there after Down: %v %v", err, entries)
	}
	if err := loaded.Down(); err != nil {
		t.Errorf("second Down: %v", err)
	}
}

func TestBaselineDrop(t *testing.T) {
	t.Parallel()
	l := upWithCleanup(t, Options{Linux: 1, BaselineDrop: true})
	h := l.Hosts[0]
	ctx := context.Background()

	ln, err := l.Listen(h.Name, "tcp", ":9401")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dial := func(port string) error {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(h.Address.String(), port), 500*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial("22"); err != nil {
		t.Errorf("ssh blocked by the baseline: %v", err)
	}
	if err := dial("9401"); err == nil {
		t.Errorf("port 9401 is reachable through the baseline drop policy")
	}
	// Loopback stays open.
	if c, err := l.DialFrom(ctx, h.Name, "tcp", "127.0.0.1:9401"); err != nil {
		t.Errorf("loopback blocked by the baseline: %v", err)
	} else {
		c.Close()
	}
	// Without the baseline the port answers: the drop was the firewall's.
	if _, err := l.Exec(ctx, h.Name, nil, "nft", "delete", "table", "inet", "baseline"); err != nil {
		t.Fatal(err)
	}
	if err := dial("9401"); err != nil {
		t.Errorf("port 9401 without the baseline: %v", err)
	}
}

func TestParallelLabs(t *testing.T) {
	t.Parallel()
	skipUnlessLab(t)
	type result struct {
		l   *Lab
		err error
	}
	res := make(chan result, 2)
	for range 2 {
		dir := filepath.Join(t.TempDir(), "lab")
		go func() {
			l, err := Up(context.Background(), Options{Dir: dir, Linux: 1})
			res <- result{l, err}
		}()
	}
	var labs []*Lab
	for range 2 {
		r := <-res
		if r.err != nil {
			t.Errorf("Up: %v", r.err)
			continue
		}
		labs = append(labs, r.l)
		t.Cleanup(func() {
			if err := r.l.Down(); err != nil {
				t.Errorf("Down: %v", err)
			}
		})
	}
	if len(labs) == 2 && labs[0].ID == labs[1].ID {
		t.Errorf("two labs share id %d", labs[0].ID)
	}
}

func TestWindowsHosts(t *testing.T) {
	t.Parallel()
	skipUnlessLab(t)
	l := upWithCleanup(t, Options{Linux: 1, Windows: 2, LabBinary: BuildLabBinary(t)})
	if got := len(l.Hosts); got != 3 {
		t.Fatalf("%d hosts, want 3", got)
	}
	w := l.Hosts[1]
	if w.Name != "win01" || w.OS != Windows || w.Port != 5986 || w.PID == 0 {
		t.Fatalf("second host is %+v, want win01, a running Windows host", w)
	}
	if fi, err := os.Stat(l.WinRMPasswordPath()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("winrm-password: %v %v", fi, err)
	}
	password, err := os.ReadFile(l.WinRMPasswordPath())
	if err != nil || len(password) < 12 || bytes.ContainsAny(password, "\r\n") {
		t.Errorf("winrm-password %q: %v", password, err)
	}

	// The certificate verifies against the lab CA for the host's IP.
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(l.CACertPath())
	if err != nil || !pool.AppendCertsFromPEM(ca) {
		t.Fatalf("ca.pem: %v", err)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Post("https://"+net.JoinHostPort(w.Address.String(), "5986")+"/wsman", "application/soap+xml;charset=UTF-8", strings.NewReader("<x/>"))
	if err != nil {
		t.Fatalf("HTTPS to win01: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unauthenticated request got %s, want 401", resp.Status)
	}

	// A real WinRM client logs in with NTLM and runs PowerShell.
	ep := winrm.NewEndpoint(w.Address.String(), 5986, true, false, ca, nil, nil, 10*time.Second)
	params := *winrm.DefaultParameters
	params.TransportDecorator = func() winrm.Transporter { return &winrm.ClientNTLM{} }
	wc, err := winrm.NewClientWithParameters(ep, WindowsUser, string(password), &params)
	if err != nil {
		t.Fatal(err)
	}
	if _, stderr, code, err := wc.RunPSWithString("Get-NetFirewallProfile", ""); err != nil || code != 0 {
		t.Errorf("Get-NetFirewallProfile on win01: exit %d, %v: %s", code, err, stderr)
	}
	if _, err := os.Stat(filepath.Join(w.Dir, "winfw.json")); err != nil {
		t.Errorf("firewall state: %v", err)
	}

	inv, err := os.ReadFile(l.InventoryPath())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(inv), `host "vbr"`) || !strings.Contains(string(inv), `password = file("`+l.WinRMPasswordPath()+`")`) {
		t.Errorf("inventory with Windows hosts:\n%s", inv)
	}

	if err := l.Down(); err != nil {
		t.Fatalf("Down: %v", err)
	}
	if left := leftovers(t, l); len(left) > 0 {
		t.Errorf("left after Down: %v", left)
	}
}

// A failed Up removes what it made: here the Windows host's server exits at
// once.
func TestFailedUpCleansUp(t *testing.T) {
	t.Parallel()
	skipUnlessLab(t)
	dir := filepath.Join(t.TempDir(), "lab")
	_, err := Up(context.Background(), Options{Dir: dir, Linux: 1, Windows: 1, LabBinary: "/bin/false"})
	if err == nil {
		t.Fatal("Up with a server that exits succeeded")
	}
	if testing.Verbose() {
		t.Logf("Up: %v", err)
	}
	m := regexp.MustCompile(`starting lab (\d+): `).FindStringSubmatch(err.Error())
	if m == nil {
		t.Fatalf("Up error names no lab id: %v", err)
	}
	if !strings.Contains(err.Error(), "win01") {
		t.Errorf("Up error does not name the failed host: %v", err)
	}
	id, _ := strconv.Atoi(m[1])
	l := &Lab{ID: id, Bridge: bridgeName(id), Dir: dir}
	l.Hosts = planHosts(l, 1, 1)
	if left := leftovers(t, l); len(left) > 0 {
		t.Errorf("left after failed Up: %v", left)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		entries, _ := os.ReadDir(dir)
		t.Errorf("lab dir after failed Up: %v %v", err, entries)
	}
}

// Down undoes a lab whose Up stopped half-way (the process died): only the
// bridge, one namespace and one server exist.
func TestDownAfterPartialUp(t *testing.T) {
	t.Parallel()
	skipUnlessLab(t)
	ctx := context.Background()
	dir := t.TempDir()
	id, err := claimID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l := &Lab{Dir: dir, ID: id, Bridge: bridgeName(id), Subnet: subnetFor(id), Controller: subnetFor(id).Addr().Next()}
	l.Hosts = planHosts(l, 2, 0)
	t.Cleanup(func() { _ = l.Down() })
	if err := l.save(); err != nil {
		t.Fatal(err)
	}
	if err := l.setupBridge(ctx); err != nil {
		t.Fatal(err)
	}
	h := l.Hosts[0]
	if err := os.MkdirAll(h.Dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := l.setupHostNet(ctx, h); err != nil {
		t.Fatal(err)
	}
	if _, err := l.writeSSHD(h); err != nil {
		t.Fatal(err)
	}
	if err := l.setupNSDir(); err != nil {
		t.Fatal(err)
	}
	if err := l.setupHostFS(ctx, h); err != nil {
		t.Fatal(err)
	}
	pid, err := l.startSSHD(h)
	if err != nil {
		t.Fatal(err)
	}
	h.PID = pid
	if err := l.waitListening(ctx, h, startTimeout); err != nil {
		t.Fatal(err)
	}
	// The second host's veth exists but its namespace does not.
	if err := ip(ctx, "link", "add", l.Hosts[1].Veth, "type", "veth", "peer", "name", l.Hosts[1].Veth+"p"); err != nil {
		t.Fatal(err)
	}

	loaded, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := loaded.Down(); err != nil {
		t.Fatalf("Down: %v", err)
	}
	l.Hosts[0].PID = pid
	if left := leftovers(t, l); len(left) > 0 {
		t.Errorf("left after Down: %v", left)
	}
	if _, err := os.Stat(filepath.Join(dir, stateFile)); !os.IsNotExist(err) {
		t.Errorf("lab.json after Down: %v", err)
	}
}

// A stale lab whose ID went to a newer lab removes its files only.
func TestStaleDownSparesNewerLab(t *testing.T) {
	t.Parallel()
	l := upWithCleanup(t, Options{Linux: 1})
	stale := &Lab{Dir: t.TempDir(), ID: l.ID, Bridge: l.Bridge}
	stale.Hosts = planHosts(stale, 1, 0)
	if err := stale.save(); err != nil {
		t.Fatal(err)
	}
	if err := stale.Down(); err != nil {
		t.Fatalf("Down: %v", err)
	}
	if _, err := os.Stat(filepath.Join(stale.Dir, stateFile)); !os.IsNotExist(err) {
		t.Errorf("stale lab.json: %v", err)
	}
	ctx := context.Background()
	if !linkExists(ctx, l.Bridge) || !netnsExists(ctx, l.Hosts[0].Namespace) || !processAlive(l.Hosts[0].PID) {
		t.Errorf("the stale lab's Down took the newer lab down")
	}
}

func TestInventoryWindows(t *testing.T) {
	l := &Lab{Dir: "/labs/a", ID: 7, Bridge: bridgeName(7), Subnet: subnetFor(7), Controller: subnetFor(7).Addr().Next()}
	l.Hosts = planHosts(l, 2, 3)
	inv := l.Inventory()
	if _, diags := hclsyntax.ParseConfig([]byte(inv), "inventory.hcl", hcl.InitialPos); diags.HasErrors() {
		t.Fatalf("inventory.hcl: %v\n%s", diags, inv)
	}
	for _, want := range []string{
		`host "win01"`, `roles   = ["backup_server", "console"]`, `roles   = ["hyperv_host"]`,
		`password = file("/labs/a/winrm-password")`, `ca_cert  = "/labs/a/ca.pem"`, `auth     = "ntlm"`,
		`address = "198.18.7.12"`, `cidrs = ["198.18.7.0/29"]`,
	} {
		if !strings.Contains(inv, want) {
			t.Errorf("inventory lacks %q:\n%s", want, inv)
		}
	}
	if strings.Contains(inv, `host "vbr"`) {
		t.Errorf("inventory with a Windows backup server still has the vbr peer:\n%s", inv)
	}
}

func TestHCLString(t *testing.T) {
	for in, want := range map[string]string{
		`/a/b`:        `"/a/b"`,
		`a"b\c`:       `"a\"b\\c"`,
		"x${y}%{z}$q": `"x$${y}%%{z}$q"`,
		"line\nnext":  `"line\nnext"`,
	} {
		if got := hclString(in); got != want {
			t.Errorf("hclString(%q) = %s, want %s", in, got, want)
		}
	}
}

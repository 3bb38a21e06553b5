package main

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/portwarden/portwarden/inventory"
)

func TestLocalRefusal(t *testing.T) {
	a := netip.MustParseAddr
	linux := &inventory.Host{Name: "repo01", OS: "linux", Managed: true}
	win := &inventory.Host{Name: "win01", OS: "windows", Managed: true}
	unmanaged := &inventory.Host{Name: "peer", OS: "linux"}
	mine := []netip.Addr{a("10.0.0.5"), a("fd00::5")}
	for _, tc := range []struct {
		name  string
		hosts []*inventory.Host
		euid  int
		addrs []netip.Addr
		want  string // "" = allowed
	}{
		{"this machine, as root", []*inventory.Host{linux}, 0, []netip.Addr{a("10.0.0.5")}, ""},
		{"matched by its IPv6 address", []*inventory.Host{linux}, 0, []netip.Addr{a("192.0.2.1"), a("fd00::5")}, ""},
		{"another machine", []*inventory.Host{linux}, 0, []netip.Addr{a("10.0.0.6")}, "is not this machine"},
		{"not root", []*inventory.Host{linux}, 1000, []netip.Addr{a("10.0.0.5")}, "must run as root"},
		{"no host named", nil, 0, nil, "exactly one host"},
		{"two hosts", []*inventory.Host{linux, linux}, 0, nil, "exactly one host"},
		{"windows", []*inventory.Host{win}, 0, []netip.Addr{a("10.0.0.5")}, "Linux hosts only"},
		{"unmanaged", []*inventory.Host{unmanaged}, 0, []netip.Addr{a("10.0.0.5")}, "not managed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := localRefusal(tc.hosts, tc.euid, tc.addrs, mine)
			if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("localRefusal = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestLocalDialerOnlyThisHost: local mode never runs another host's
// scripts on this machine (probes, a second host).
func TestLocalDialerOnlyThisHost(t *testing.T) {
	if _, err := (localDialer{host: "a"}).Dial(context.Background(), &inventory.Host{Name: "b"}); err == nil {
		t.Fatal("local dialer dialed another host")
	}
}

// TestLocalMode runs plan, apply and verify --local inside a lab host's
// namespace, as its own timer would, and the refusals there.
func TestLocalMode(t *testing.T) {
	l, inv := upRepoLab(t)
	// A directory others may read, for the unprivileged run.
	shared, err := os.MkdirTemp("", "pw-local-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(shared) })
	if err := os.Chmod(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(shared, "portwarden")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	src, _ := os.ReadFile(inv)
	inv = filepath.Join(shared, "inventory.hcl")
	if err := os.WriteFile(inv, src, 0o644); err != nil {
		t.Fatal(err)
	}
	on := func(host string, argv ...string) (string, int) {
		t.Helper()
		out, err := l.Exec(context.Background(), host, nil, append([]string{"sh", "-c", `"$@" 2>&1; echo "exit=$?"`, "sh"}, argv...)...)
		if err != nil {
			t.Fatalf("exec on %s: %v", host, err)
		}
		s := strings.TrimSpace(string(out))
		i := strings.LastIndex(s, "exit=")
		if i < 0 {
			t.Fatalf("no exit code in %q", s)
		}
		code, err := strconv.Atoi(strings.TrimSpace(s[i+5:]))
		if err != nil {
			t.Fatalf("no exit code in %q", s)
		}
		return s[:i], code
	}

	out, code := on("lnx01", bin, "plan", "--local", "--inventory", inv, "--host", "lnx01", "--detailed-exitcode")
	if code != exitChanges || !strings.Contains(out, "# lnx01") {
		t.Fatalf("plan --local: exit %d, want %d\n%s", code, exitChanges, out)
	}
	out, code = on("lnx01", bin, "apply", "--local", "--inventory", inv, "--host", "lnx01", "--auto-approve", "--detailed-exitcode")
	if code != exitChanges || !strings.Contains(out, "Apply complete: 1 host changed") {
		t.Fatalf("apply --local: exit %d\n%s", code, out)
	}
	if out, code = on("lnx01", bin, "verify", "--local", "--inventory", inv, "--host", "lnx01"); code != 0 {
		t.Fatalf("verify --local: exit %d\n%s", code, out)
	}
	// The controller, over SSH, sees the same converged host.
	if doc, code := planDoc(t, inv, "--host", "lnx01"); code != exitOK {
		t.Errorf("plan over SSH after apply --local: exit %d: %+v", code, hostOf(doc, "lnx01").Changes)
	}

	// Refusals change nothing.
	before := execOK(t, l, "lnx02", "nft", "list ruleset")
	for _, tc := range []struct {
		name string
		argv []string
		want string
	}{
		{"another host", []string{bin, "apply", "--local", "--inventory", inv, "--host", "lnx02", "--auto-approve"}, "lnx02 is not this machine"},
		{"no --host", []string{bin, "plan", "--local", "--inventory", inv}, "exactly one host"},
		{"not root", []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", bin, "plan", "--local", "--inventory", inv, "--host", "lnx01"}, "must run as root"},
	} {
		out, code := on("lnx01", tc.argv...)
		if code != exitInvalid || !strings.Contains(out, tc.want) {
			t.Errorf("%s: exit %d, want %d saying %q:\n%s", tc.name, code, exitInvalid, tc.want, out)
		}
	}
	// And from the lnx02 namespace, lnx01 is not this machine either.
	if out, code := on("lnx02", bin, "plan", "--local", "--inventory", inv, "--host", "lnx01"); code != exitInvalid || !strings.Contains(out, "not this machine") {
		t.Errorf("plan --local of lnx01 on lnx02: exit %d\n%s", code, out)
	}
	if after := execOK(t, l, "lnx02", "nft", "list ruleset"); after != before {
		t.Errorf("a refused --local run changed lnx02:\n%s", after)
	}
}

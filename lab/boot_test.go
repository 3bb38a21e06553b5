package lab

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// A file a host writes to /etc is its own: neither the other host nor this
// machine sees it, and Down leaves no mount behind.
func TestHostFilesArePrivate(t *testing.T) {
	t.Parallel()
	l := upWithCleanup(t, Options{Linux: 2})
	ctx := context.Background()
	name := fmt.Sprintf("/etc/portwarden-lab-test-%d", l.ID)
	if _, err := l.Exec(ctx, "lnx01", nil, "sh", "-c", "echo mine >"+name); err != nil {
		t.Fatal(err)
	}
	if out := sshRun(t, l, l.Hosts[0], "cat "+name); strings.TrimSpace(out) != "mine" {
		t.Errorf("lnx01 over SSH reads %q from %s", out, name)
	}
	if out, err := l.Exec(ctx, "lnx02", nil, "sh", "-c", "test -e "+name+" && echo visible || echo absent"); err != nil || strings.TrimSpace(string(out)) != "absent" {
		t.Errorf("lnx02 sees lnx01's %s: %q %v", name, out, err)
	}
	if _, err := os.Stat(name); !os.IsNotExist(err) {
		t.Errorf("this machine sees the host's %s: %v", name, err)
	}
	// /run is the host's: the machine's network namespaces are not there.
	if out, _ := l.Exec(ctx, "lnx01", nil, "sh", "-c", "ls /run/netns 2>/dev/null | wc -l"); strings.TrimSpace(string(out)) != "0" {
		t.Errorf("lnx01's /run/netns lists %s entries", out)
	}
	if err := l.Down(); err != nil {
		t.Fatal(err)
	}
	if m := mountsUnder(l.Dir); len(m) > 0 {
		t.Errorf("mounts left after Down: %v", m)
	}
	if left := leftovers(t, l); len(left) > 0 {
		t.Errorf("left after Down: %v", left)
	}
}

// A firewalld host and a ufw host come up reachable, with their manager
// running from their own /etc, and keep what they persisted across Reboot;
// a plain host loads its /etc/nftables.conf at boot and loses the rest.
func TestManagedHostsAndReboot(t *testing.T) {
	t.Parallel()
	l := upWithCleanup(t, Options{Linux: 3, Firewalld: 1, UFW: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	plain, fwd, ufw := l.HostsWith(ManagerNone), l.HostsWith(ManagerFirewalld), l.HostsWith(ManagerUFW)
	if len(plain) != 1 || len(fwd) != 1 || len(ufw) != 1 {
		t.Fatalf("hosts by manager: %d none, %d firewalld, %d ufw; want 1 each", len(plain), len(fwd), len(ufw))
	}
	exec := func(h Host, script string) string {
		t.Helper()
		out, err := l.Exec(ctx, h.Name, nil, "sh", "-c", script)
		if err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		return strings.TrimSpace(string(out))
	}
	if got := exec(fwd[0], "firewall-cmd --state; firewall-cmd --get-default-zone; firewall-cmd --zone=public --query-service=ssh"); got != "running\npublic\nyes" {
		t.Errorf("firewalld host: %q", got)
	}
	if got := exec(ufw[0], "ufw status | head -n 1"); got != "Status: active" {
		t.Errorf("ufw host: %q", got)
	}
	for _, h := range l.Hosts {
		sshRun(t, l, h, "true")
	}
	// ufw's default incoming deny drops a port no rule allows.
	ln, err := l.Listen(ufw[0].Name, "tcp", ":7777")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if dialOK(ufw[0], 7777) {
		t.Error("ufw host accepts 7777/tcp before a rule allows it")
	}

	// Persisted through each manager's own tool or file; runtime-only
	// changes that a boot does not load.
	exec(plain[0], "echo 'table inet kept { }' >>/etc/nftables.conf; nft add table inet lost")
	exec(fwd[0], "firewall-cmd -q --permanent --add-port=7777/tcp; firewall-cmd -q --add-port=7778/tcp")
	exec(ufw[0], "ufw allow 7777/tcp >/dev/null")
	if !dialOK(ufw[0], 7777) {
		t.Error("ufw host drops 7777/tcp after ufw allow")
	}
	for _, h := range []Host{plain[0], fwd[0], ufw[0]} {
		before, _ := l.Host(h.Name)
		if err := l.Reboot(ctx, h.Name); err != nil {
			t.Fatalf("Reboot %s: %v", h.Name, err)
		}
		after, _ := l.Host(h.Name)
		if after.PID == before.PID || processAlive(before.PID) {
			t.Errorf("%s: sshd %d still runs after Reboot (new %d)", h.Name, before.PID, after.PID)
		}
		sshRun(t, l, after, "true")
	}
	if got := exec(plain[0], "nft list tables"); !strings.Contains(got, "inet kept") || strings.Contains(got, "inet lost") {
		t.Errorf("plain host after reboot: tables %q, want kept and not lost", got)
	}
	if got := exec(fwd[0], "firewall-cmd --state; firewall-cmd --query-port=7777/tcp; firewall-cmd --query-port=7778/tcp || :"); got != "running\nyes\nno" {
		t.Errorf("firewalld host after reboot: %q, want running, 7777 yes, 7778 no", got)
	}
	if !dialOK(ufw[0], 7777) {
		t.Error("ufw host drops 7777/tcp after reboot")
	}
	// Nothing of the hosts' managers runs in this machine's namespace.
	self, _ := os.Readlink("/proc/self/ns/net")
	for _, pid := range l.hostPIDs(ctx, fwd[0]) {
		if ns, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)); ns == self {
			t.Errorf("process %d of %s runs in the root network namespace", pid, fwd[0].Name)
		}
	}
}

// dialOK reports whether the controller gets a TCP connection to h:port.
func dialOK(h Host, port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort(h.Address.String(), fmt.Sprint(port)), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

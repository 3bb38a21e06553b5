package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/portwarden/portwarden/firewall"
	"github.com/portwarden/portwarden/lab"
	"github.com/portwarden/portwarden/rule"
)

// TestFirewalldHost is the acceptance test for the firewalld backend on a
// lab host that runs a real firewalld (its own /etc/firewalld, D-Bus
// system bus and boot): apply from a clean host, an empty second plan,
// probes, drift made with firewall-cmd detected and repaired, reload and
// reboot keeping the rules, enforce dropping a stranger, the host's own
// zone settings surviving apply and destroy.
func TestFirewalldHost(t *testing.T) {
	l := lab.UpForTest(t, lab.Options{Linux: 2, Firewalld: 1})
	fh := onlyHostWith(t, l, lab.ManagerFirewalld)
	other := "lnx01"
	if fh == other {
		other = "lnx02"
	}
	specs := func(mode string) map[string]hostSpec {
		return map[string]hostSpec{
			other: {roles: []string{"backup_repository"}},
			fh:    {roles: []string{"gateway_server"}, mode: mode},
		}
	}
	inv := writeInventory(t, l, specs("additive"), "")
	fwcmd := func(args ...string) string {
		t.Helper()
		return execOK(t, l, fh, append([]string{"firewall-cmd"}, args...)...)
	}

	// The host's own zone settings, which portwarden must never touch.
	fwcmd("--permanent", "--zone=public", "--add-port=7777/tcp")
	fwcmd("--permanent", "--zone=public", "--add-service=http")
	fwcmd("--reload")
	zoneBefore := fwcmd("--permanent", "--zone=public", "--list-all")
	for _, port := range []string{":2600", ":7777"} {
		ln, err := l.Listen(fh, "tcp", port)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
	}
	if reachable(t, l, other, fh, 2600) {
		t.Fatal("firewalld's public zone lets tcp/2600 in before portwarden ran: the test would prove nothing")
	}
	if !reachable(t, l, other, fh, 7777) {
		t.Fatal("the host's own zone port 7777 is not open")
	}

	converged := func(what string) {
		t.Helper()
		if doc, code := planDoc(t, inv); code != 0 {
			t.Fatalf("%s: plan exit %d, want 0: %+v", what, code, hostOf(doc, fh))
		}
	}
	probesPass := func(what string) applyDoc {
		t.Helper()
		out, _, code := runCLI(t, "verify", "--inventory", inv, "--probe", "--format", "json")
		var doc applyDoc
		if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 0 {
			t.Fatalf("%s: verify --probe exit %d %v\n%s", what, code, err, out)
		}
		return doc
	}

	doc, code := applyJSON(t, inv)
	if code != 0 {
		t.Fatalf("apply: exit %d %+v", code, hostOf(doc.jsonPlan, fh))
	}
	if h := hostOf(doc.jsonPlan, fh); h.Backend != "firewalld" {
		t.Fatalf("backend %q on the firewalld host, want firewalld", h.Backend)
	}
	converged("after apply")
	if !reachable(t, l, other, fh, 2600) {
		t.Error("the repository cannot reach the gateway's data mover range after apply")
	}
	probesPass("after apply")
	if got := fwcmd("--permanent", "--policy=portwarden", "--list-all"); !strings.Contains(got, "priority: -100") || !strings.Contains(got, "ingress-zones: ANY") {
		t.Errorf("policy portwarden:\n%s", got)
	}

	// Drift in the runtime only: an ipset entry removed by hand.
	oh, _ := l.Host(other)
	addr := oh.Address.String()
	ipset := ""
	for _, name := range strings.Fields(fwcmd("--get-ipsets")) {
		if strings.HasPrefix(name, "portwarden-") && strings.Contains(fwcmd("--ipset="+name, "--get-entries"), addr) {
			ipset = name
		}
	}
	if ipset == "" {
		t.Fatalf("no ipset portwarden-* holds %s", addr)
	}
	fwcmd("--ipset="+ipset, "--remove-entry="+addr)
	if reachable(t, l, other, fh, 2600) {
		t.Error("the removed ipset entry still lets the repository in")
	}
	if _, code := planDoc(t, inv); code != 2 {
		t.Fatalf("runtime drift (ipset entry removed): plan exit %d, want 2", code)
	}
	if _, code := applyJSON(t, inv); code != 0 {
		t.Fatal("repairing the runtime drift failed")
	}
	converged("after repairing the ipset")
	// Drift in the permanent configuration: a rich rule removed.
	rich := strings.Split(strings.TrimSpace(fwcmd("--permanent", "--policy=portwarden", "--list-rich-rules")), "\n")[0]
	fwcmd("--permanent", "--policy=portwarden", "--remove-rich-rule="+rich)
	if _, code := planDoc(t, inv); code != 2 {
		t.Fatalf("permanent drift (rich rule removed): plan exit %d, want 2", code)
	}
	if _, code := applyJSON(t, inv); code != 0 {
		t.Fatal("repairing the permanent drift failed")
	}
	converged("after repairing the rich rule")

	// firewalld's own reload keeps the rules: they are permanent.
	fwcmd("--reload")
	converged("after firewall-cmd --reload")
	if !reachable(t, l, other, fh, 2600) {
		t.Error("tcp/2600 closed after firewall-cmd --reload")
	}

	// A reboot restarts firewalld from the host's own /etc/firewalld.
	reboot := func() {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := l.Reboot(ctx, fh); err != nil {
			t.Fatal(err)
		}
	}
	reboot()
	if !reachable(t, l, other, fh, 2600) {
		t.Error("tcp/2600 closed after a reboot")
	}
	converged("after a reboot")
	probesPass("after a reboot")

	// Enforce: the policy drops what no rule allows, even the host's own
	// zone port, and keeps SSH from the controller.
	inv = writeInventory(t, l, specs("enforce"), "")
	if doc, code := planDoc(t, inv); code != 2 || !strings.Contains(fmt.Sprint(hostOf(doc, fh).Changes), "policy portwarden, which runs before every zone, gets target DROP") {
		t.Errorf("enforce plan: exit %d, changes %+v: want the plan to say what enforce means with firewalld", code, hostOf(doc, fh).Changes)
	}
	if _, code := applyJSON(t, inv); code != 0 {
		t.Fatal("enforce apply failed")
	}
	converged("after enforce")
	if reachable(t, l, other, fh, 7777) {
		t.Error("enforce: a stranger port (the zone's own 7777) is still reachable")
	}
	vdoc := probesPass("enforce")
	negatives := 0
	for _, p := range vdoc.Probes {
		if p.Expect == "blocked" && p.To == fh {
			negatives++
			if !p.OK {
				t.Errorf("negative probe: %+v", p)
			}
		}
	}
	if negatives == 0 {
		t.Error("verify --probe made no negative probe on the enforce firewalld host")
	}
	reboot()
	converged("enforce after a reboot")
	if reachable(t, l, other, fh, 7777) {
		t.Error("enforce after a reboot: the stranger port is reachable")
	}

	// Destroy removes only portwarden's objects.
	if _, code := applyJSON(t, inv, "--destroy"); code != 0 {
		t.Fatal("apply --destroy failed")
	}
	if got := fwcmd("--permanent", "--zone=public", "--list-all"); got != zoneBefore {
		t.Errorf("the host's zone changed:\nbefore\n%s\nafter\n%s", zoneBefore, got)
	}
	for _, args := range [][]string{{"--get-ipsets"}, {"--permanent", "--get-ipsets"}, {"--get-policies"}, {"--permanent", "--get-policies"}} {
		if got := fwcmd(args...); strings.Contains(got, "portwarden") {
			t.Errorf("firewall-cmd %s after destroy: %s", strings.Join(args, " "), got)
		}
	}
	if !reachable(t, l, other, fh, 7777) {
		t.Error("the host's own zone port is closed after destroy")
	}
	if reachable(t, l, other, fh, 2600) {
		t.Error("tcp/2600 is still open after destroy")
	}
}

// TestManagerEnabledButStopped: a host whose firewalld is enabled but not
// running gets a warning with the way out, and is still managed with
// nftables.
func TestManagerEnabledButStopped(t *testing.T) {
	l := lab.UpForTest(t, lab.Options{Linux: 1})
	execOK(t, l, "lnx01", "sh", "-c", "mkdir -p /etc/systemd/system/multi-user.target.wants && ln -sfn /lib/systemd/system/firewalld.service /etc/systemd/system/multi-user.target.wants/firewalld.service")
	inv := writeInventory(t, l, map[string]hostSpec{"lnx01": {roles: []string{"backup_repository"}}}, "")
	doc, _ := planDoc(t, inv)
	h := hostOf(doc, "lnx01")
	if h.Backend != "nftables" || !strings.Contains(strings.Join(h.Warnings, "\n"), "systemctl disable --now firewalld") {
		t.Fatalf("backend %q, warnings %q: want nftables and the firewalld warning with the way out", h.Backend, h.Warnings)
	}
	// The same host forced to firewalld is refused: firewalld is not running.
	inv = writeInventory(t, l, map[string]hostSpec{"lnx01": {roles: []string{"backup_repository"}, firewall: "firewalld"}}, "")
	doc, _ = planDoc(t, inv)
	if h := hostOf(doc, "lnx01"); !strings.Contains(h.Error, "firewalld is not running") {
		t.Errorf("forced firewalld on a stopped firewalld: error %q", h.Error)
	}
}

// TestFirewalldApplyAllOrNothing runs the firewalld backend's apply script
// on a real firewalld with changes that firewalld refuses part way (an
// ipset of an unknown type, after another ipset was already updated) or
// that it would refuse only at its reload (overlapping ipset entries, a
// rich rule naming a missing ipset: both would leave firewalld FAILED,
// so the script refuses them first): each time the permanent and the runtime
// configuration, and the kernel's sets, are as before.
func TestFirewalldApplyAllOrNothing(t *testing.T) {
	l := lab.UpForTest(t, lab.Options{Linux: 1, Firewalld: 1})
	fh := l.HostsWith(lab.ManagerFirewalld)[0].Name
	ctx := context.Background()
	run := func(s firewall.Script, stdin []byte) (firewall.Facts, error) {
		out, err := l.Exec(ctx, fh, stdin, "sh", "-c", s.Body)
		return firewall.ParseFacts(string(out)), err
	}
	src := func(s ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, a := range s {
			out = append(out, netip.MustParsePrefix(a))
		}
		return out
	}
	b := &firewall.Firewalld{}
	good, err := b.Apply(nil, firewall.Desired{Mode: rule.Additive, Rules: []rule.Rule{
		{Protocol: "tcp", Ports: []rule.PortRange{{Lo: 2600, Hi: 2600}}, Sources: src("198.18.0.0/24", "198.18.3.5/32", "fd70::/64")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	f, err := run(good, good.Stdin)
	if err != nil {
		t.Fatalf("a good apply failed: %v: %s", err, f["apply"])
	}
	// A change of sources only goes in place, without a reload: a
	// runtime-only change another tool made (fail2ban's way) survives.
	execOK(t, l, fh, "firewall-cmd", "--zone=public", "--add-port=7779/tcp")
	moved, err := b.Apply(nil, firewall.Desired{Mode: rule.Additive, Rules: []rule.Rule{
		{Protocol: "tcp", Ports: []rule.PortRange{{Lo: 2600, Hi: 2600}}, Sources: src("198.18.0.0/24", "198.18.3.6/32", "fd70::/64")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if f, err = run(moved, moved.Stdin); err != nil || !strings.Contains(f["apply"], "without a reload") {
		t.Fatalf("a change of sources: %v: %s", err, f["apply"])
	}
	if ports := execOK(t, l, fh, "firewall-cmd", "--zone=public", "--list-ports"); !strings.Contains(ports, "7779/tcp") {
		t.Errorf("a runtime-only port of the host's zone is gone after an in-place change: %q", ports)
	}
	if st, err := b.State(f); err != nil || len(st.Drift) > 0 || !strings.Contains(f["firewalld"], "198.18.3.6") {
		t.Errorf("after the in-place change: %+v %v", st, err)
	}
	before := f["firewalld"]
	kernel := func() string {
		return execOK(t, l, fh, "sh", "-c", "nft list table inet firewalld | grep -A3 'set portwarden'")
	}
	kernelBefore := kernel()

	changed, err := b.Apply(nil, firewall.Desired{Mode: rule.Enforce, ManagementPort: 22, ManagementSources: src("198.18.0.1/32"), Rules: []rule.Rule{
		{Protocol: "tcp", Ports: []rule.PortRange{{Lo: 2600, Hi: 2600}}, Sources: src("198.18.1.0/24")},
		{Protocol: "udp", Ports: []rule.PortRange{{Lo: 53, Hi: 53}}, Sources: src("198.18.2.0/24")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var objs map[string]any
	if err := json.Unmarshal(changed.Stdin, &objs); err != nil {
		t.Fatal(err)
	}
	badRule := func() []byte {
		pol := objs["policy"].(map[string]any)
		pol["rich_rules"] = append(pol["rich_rules"].([]any), `rule family="ipv4" source ipset="portwarden-missing" port port="9" protocol="tcp" accept`)
		out, _ := json.Marshal(objs)
		return out
	}()
	// A refusal at write time, after portwarden-1 was already updated:
	// the ipsets are written in name order, and portwarden-2's type is
	// one firewalld does not know.
	badType := bytes.Replace(changed.Stdin, []byte(`"short":"portwarden udp/53","description":"","type":"hash:net"`), []byte(`"short":"portwarden udp/53","description":"","type":"hash:nonsense"`), 1)
	overlap := bytes.Replace(changed.Stdin, []byte(`"198.18.1.0/24"`), []byte(`"198.18.1.0/24","198.18.1.7"`), 1)
	if bytes.Equal(overlap, changed.Stdin) || bytes.Equal(badType, changed.Stdin) {
		t.Fatal("the test's overlap edit did not apply")
	}
	for _, tc := range []struct {
		name  string
		stdin []byte
		says  string
	}{
		{"refused part way", badType, "rolled back"},
		{"rich rule naming a missing ipset", badRule, "refused before any change"},
		{"overlapping entries", overlap, "refused before any change"},
	} {
		name := tc.name
		f, err := run(changed, tc.stdin)
		if err == nil || !strings.Contains(f["apply"], tc.says) {
			t.Errorf("%s: apply error %v, output %q: want a failure that says %q", name, err, f["apply"], tc.says)
		}
		if got := f["firewalld"]; got != before {
			t.Errorf("%s: firewalld's view changed:\nbefore %s\nafter  %s\napply: %s", name, before, got, f["apply"])
		}
		if got := kernel(); got != kernelBefore {
			t.Errorf("%s: the kernel's sets changed:\n%s\n%s", name, kernelBefore, got)
		}
		if st := strings.TrimSpace(execOK(t, l, fh, "firewall-cmd", "--state")); st != "running" {
			t.Errorf("%s: firewalld is %q after the failed apply", name, st)
		}
	}
	// The refused change, made valid, goes through.
	if f, err := run(changed, changed.Stdin); err != nil {
		t.Fatalf("the valid change failed: %v: %s", err, f["apply"])
	}
}

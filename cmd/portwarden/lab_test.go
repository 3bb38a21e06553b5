package main

// End-to-end tests of the CLI against the lab: real OpenSSH servers in
// network namespaces, real nftables and iptables, real TCP between
// namespaces. They skip (with the reason) where a lab cannot run: not
// root, no sshd.

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portwarden/portwarden/internal/testca"
	"github.com/portwarden/portwarden/lab"
)

// hostSpec is how a test wants one lab host in its inventory.
type hostSpec struct {
	roles    []string
	mode     string // default additive
	firewall string // default auto
	managed  *bool
	extra    string // raw HCL inside the host block
}

// upRepoLab brings up a lab of two Linux hosts, lnx01 and lnx02, both
// backup repositories, and returns it with their inventory. Like every
// lab, it skips under go test -short.
func upRepoLab(t *testing.T) (*lab.Lab, string) {
	t.Helper()
	l := lab.UpForTest(t, lab.Options{Linux: 2})
	return l, writeInventory(t, l, map[string]hostSpec{
		"lnx01": {roles: []string{"backup_repository"}},
		"lnx02": {roles: []string{"backup_repository"}},
	}, "")
}

// labHostFile returns the file name of lab host host's directory.
func labHostFile(t *testing.T, l *lab.Lab, host, name string) []byte {
	t.Helper()
	h, _ := l.Host(host)
	b, err := os.ReadFile(filepath.Join(h.Dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// onlyHostWith returns the name of the one host of l that m manages.
func onlyHostWith(t *testing.T, l *lab.Lab, m string) string {
	t.Helper()
	hs := l.HostsWith(m)
	if len(hs) != 1 {
		t.Fatalf("lab has %d %s hosts, want 1", len(hs), m)
	}
	return hs[0].Name
}

// writeInventory renders an inventory over the lab's hosts. The controller
// (the bridge address) plays the backup server as an unmanaged peer.
func writeInventory(t *testing.T, l *lab.Lab, specs map[string]hostSpec, extra string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "defaults {\n  ssh {\n    private_key = %q\n    known_hosts = %q\n    connect_timeout = \"3s\"\n  }\n", l.KeyPath(), l.KnownHostsPath())
	if slices.ContainsFunc(l.Hosts, func(h lab.Host) bool { return h.OS == lab.Windows }) {
		b.WriteString("  winrm {\n    user = \"Administrator\"\n")
		fmt.Fprintf(&b, "    password = file(%q)\n    ca_cert = %q\n    connect_timeout = \"3s\"\n  }\n", l.WinRMPasswordPath(), l.CACertPath())
	}
	b.WriteString("}\n")
	hasWindows := false
	for _, h := range l.Hosts {
		s, ok := specs[h.Name]
		if !ok {
			continue
		}
		mode, fw := cmpOr(s.mode, "additive"), "auto"
		if h.OS == lab.Windows {
			hasWindows = true
			fw = "windows"
		}
		fw = cmpOr(s.firewall, fw)
		quoted := make([]string, len(s.roles))
		for i, r := range s.roles {
			quoted[i] = fmt.Sprintf("%q", r)
		}
		fmt.Fprintf(&b, "host %q {\n  address = %q\n  os = %q\n  roles = [%s]\n  mode = %q\n  firewall = %q\n",
			h.Name, h.Address, h.OS, strings.Join(quoted, ", "), mode, fw)
		if h.OS == lab.Linux {
			fmt.Fprintf(&b, "  persist_root = %q\n", h.PersistRoot)
		}
		if s.managed != nil {
			fmt.Fprintf(&b, "  managed = %v\n", *s.managed)
		}
		b.WriteString(s.extra)
		b.WriteString("}\n")
	}
	if !hasWindows || specs["vbr"].roles != nil {
		fmt.Fprintf(&b, "host \"vbr\" {\n  address = %q\n  os = \"windows\"\n  roles = [\"backup_server\"]\n  managed = false\n}\n", l.Controller)
	}
	b.WriteString(extra)
	path := filepath.Join(t.TempDir(), "inventory.hcl")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// planDoc runs plan --format json and decodes it.
func planDoc(t *testing.T, inv string, extra ...string) (jsonPlan, int) {
	t.Helper()
	out, errOut, code := runCLI(t, append([]string{"plan", "--inventory", inv, "--format", "json", "--detailed-exitcode"}, extra...)...)
	var doc jsonPlan
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("plan output is not JSON (exit %d): %v\n%s\n%s", code, err, out, errOut)
	}
	return doc, code
}

type applyDoc struct {
	jsonPlan
	Probes []jsonProbe `json:"probes"`
}

func applyJSON(t *testing.T, inv string, extra ...string) (applyDoc, int) {
	t.Helper()
	out, errOut, code := runCLI(t, append([]string{"apply", "--inventory", inv, "--auto-approve", "--format", "json"}, extra...)...)
	var doc applyDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("apply output is not JSON (exit %d): %v\n%s\n%s", code, err, out, errOut)
	}
	return doc, code
}

func hostOf(doc jsonPlan, name string) jsonHostPlan {
	for _, h := range doc.Hosts {
		if h.Name == name {
			return h
		}
	}
	return jsonHostPlan{}
}

// reachable reports whether a TCP connection from one lab host (or the
// controller, from == "") to another host's port gets through: accepted or
// reset. A drop shows as a timeout.
func reachable(t *testing.T, l *lab.Lab, from, to string, port int) bool {
	t.Helper()
	h, _ := l.Host(to)
	addr := net.JoinHostPort(h.Address.String(), fmt.Sprint(port))
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer cancel()
	var c net.Conn
	var err error
	if from == "" {
		var d net.Dialer
		c, err = d.DialContext(ctx, "tcp", addr)
	} else {
		c, err = l.DialFrom(ctx, from, "tcp", addr)
	}
	if err == nil {
		c.Close()
		return true
	}
	return strings.Contains(err.Error(), "refused")
}

func execOK(t *testing.T, l *lab.Lab, host string, argv ...string) string {
	t.Helper()
	out, err := l.Exec(context.Background(), host, nil, argv...)
	if err != nil {
		t.Fatalf("%s: %v", strings.Join(argv, " "), err)
	}
	return string(out)
}

// TestLinuxLifecycle is the Linux acceptance test, for both backends, on
// hardened hosts whose own nftables table drops inbound traffic.
func TestLinuxLifecycle(t *testing.T) {
	if testing.Short() {
		t.Skip("lab test")
	}
	for _, backend := range []string{"nftables", "iptables"} {
		t.Run(backend, func(t *testing.T) {
			// Hardened hosts: nftables hosts get the lab's default-drop
			// nftables table; iptables hosts a default-drop INPUT policy.
			l := lab.UpForTest(t, lab.Options{Linux: 3, BaselineDrop: backend == "nftables"})
			if backend == "iptables" {
				for _, h := range l.Hosts {
					execOK(t, l, h.Name, "sh", "-c", "iptables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT && iptables -A INPUT -i lo -j ACCEPT && iptables -A INPUT -p tcp --dport 22 -j ACCEPT && iptables -P INPUT DROP")
				}
			}
			specs := map[string]hostSpec{
				"lnx01": {roles: []string{"backup_repository"}, firewall: backend},
				"lnx02": {roles: []string{"backup_repository"}, firewall: backend},
				"lnx03": {roles: []string{"gateway_server"}, firewall: backend},
			}
			inv := writeInventory(t, l, specs, "")

			// Rules portwarden does not own must survive untouched.
			execOK(t, l, "lnx01", "nft", "add table inet foreign; add chain inet foreign c; add rule inet foreign c tcp dport 7777 counter accept comment \"not ours\"")
			execOK(t, l, "lnx01", "iptables", "-A", "INPUT", "-p", "tcp", "--dport", "7778", "-m", "comment", "--comment", "not ours", "-j", "ACCEPT")
			foreignBefore := execOK(t, l, "lnx01", "nft", "list table inet foreign")
			iptBefore := execOK(t, l, "lnx01", "sh", "-c", "iptables -S INPUT | grep 7778")

			// Before: the baseline drops the data mover range between repositories.
			ln, err := l.Listen("lnx01", "tcp", ":2600")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			if reachable(t, l, "lnx02", "lnx01", 2600) {
				t.Fatal("baseline drop does not drop: the test would prove nothing")
			}

			doc, code := planDoc(t, inv)
			if code != 2 || doc.Summary.Add == 0 {
				t.Fatalf("first plan: exit %d, summary %+v; want changes (exit 2)", code, doc.Summary)
			}
			ad, code := applyJSON(t, inv, "--probe")
			if code != 0 {
				for _, h := range ad.Hosts {
					t.Logf("%s: error %q warnings %q", h.Name, h.Error, h.Warnings)
				}
				t.Fatalf("apply exit %d", code)
			}
			if len(ad.Probes) == 0 {
				t.Fatal("apply --probe ran no probe")
			}
			for _, p := range ad.Probes {
				if p.Proto == "tcp" && !p.Passed {
					t.Errorf("probe %s → %s tcp/%d: %s %s", p.From, p.To, p.Port, p.Outcome, p.Detail)
				}
			}
			if got := hostOf(ad.jsonPlan, "lnx01").Backend; got != backend {
				t.Errorf("backend = %s, want %s", got, backend)
			}
			if !reachable(t, l, "lnx02", "lnx01", 2600) {
				t.Error("after apply, repository lnx02 cannot reach lnx01's data mover range through the baseline drop")
			}

			// A second apply changes nothing.
			out, _, code := runCLI(t, "apply", "--inventory", inv, "--auto-approve")
			if code != 0 || !strings.Contains(out, "No changes.") {
				t.Fatalf("second apply: exit %d:\n%s", code, out)
			}
			if doc, code := planDoc(t, inv); code != 0 || doc.Summary != (jsonSummary{}) {
				t.Fatalf("plan after apply: exit %d, %+v", code, doc.Summary)
			}
			if got := execOK(t, l, "lnx01", "nft", "list table inet foreign"); got != foreignBefore {
				t.Errorf("foreign nftables table changed:\n%s\nwas:\n%s", got, foreignBefore)
			}
			if got := execOK(t, l, "lnx01", "sh", "-c", "iptables -S INPUT | grep 7778"); got != iptBefore {
				t.Errorf("foreign iptables rule changed: %q, was %q", got, iptBefore)
			}

			// Drift made by hand shows in plan (exit 2) and the next apply repairs it.
			if backend == "nftables" {
				execOK(t, l, "lnx01", "nft", "flush chain inet portwarden input")
			} else {
				execOK(t, l, "lnx01", "iptables", "-F", "PORTWARDEN-INPUT")
			}
			doc, code = planDoc(t, inv)
			if code != 2 || len(hostOf(doc, "lnx01").Changes) == 0 {
				t.Fatalf("drift not detected: exit %d, lnx01 changes %+v", code, hostOf(doc, "lnx01").Changes)
			}
			if len(hostOf(doc, "lnx02").Changes) != 0 {
				t.Errorf("drift on lnx01 shows on lnx02: %+v", hostOf(doc, "lnx02").Changes)
			}
			if _, code := applyJSON(t, inv); code != 0 {
				t.Fatalf("repair apply exit %d", code)
			}
			if _, code := planDoc(t, inv); code != 0 {
				t.Fatalf("plan after repair: exit %d", code)
			}

			// A role removed from the inventory removes its rules.
			specs["lnx02"] = hostSpec{roles: []string{}, firewall: backend}
			inv2 := writeInventory(t, l, specs, "")
			doc, code = planDoc(t, inv2)
			if code != 2 {
				t.Fatalf("plan after role removal: exit %d", code)
			}
			for _, c := range hostOf(doc, "lnx02").Changes {
				if c.Action != "delete" {
					t.Errorf("lnx02 lost its only role, yet its plan does not only remove: %+v", c)
				}
			}
			if len(hostOf(doc, "lnx02").Changes) != 3 {
				t.Errorf("lnx02 had 3 rules; plan: %+v", hostOf(doc, "lnx02").Changes)
			}
			if _, code := applyJSON(t, inv2); code != 0 {
				t.Fatal("apply after role removal failed")
			}
			if reachable(t, l, "lnx02", "lnx01", 2600) {
				t.Error("lnx02 is no repository any more but still reaches lnx01's data mover range")
			}
		})
	}
}

// TestEnforceOnBareHost: portwarden owns the inbound policy; a peer that is
// no source is blocked, the controller keeps SSH.
func TestEnforceOnBareHost(t *testing.T) {
	l := lab.UpForTest(t, lab.Options{Linux: 2})
	inv := writeInventory(t, l, map[string]hostSpec{
		"lnx01": {roles: []string{"backup_repository"}, mode: "enforce"},
		"lnx02": {roles: []string{"guest_linux"}},
	}, "")
	ln, err := l.Listen("lnx01", "tcp", ":6162")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if !reachable(t, l, "lnx02", "lnx01", 6162) {
		t.Fatal("a bare host drops traffic before portwarden ran")
	}
	// Without --auto-approve, apply asks; anything but "yes" changes nothing.
	stdin = strings.NewReader("no\n")
	out, _, code := runCLI(t, "apply", "--inventory", inv)
	if code != 1 || !strings.Contains(out, "Only 'yes' will be accepted") || !strings.Contains(out, "Apply cancelled") {
		t.Fatalf("declined apply: exit %d\n%s", code, out)
	}
	if _, code := planDoc(t, inv); code != 2 {
		t.Fatalf("a declined apply changed something: plan exit %d", code)
	}
	stdin = strings.NewReader("yes\n")
	t.Cleanup(func() { stdin = os.Stdin })
	out, _, code = runCLI(t, "apply", "--inventory", inv)
	if code != 0 || !strings.Contains(out, "Apply complete: 2 hosts changed") {
		t.Fatalf("approved apply: exit %d\n%s", code, out)
	}
	if reachable(t, l, "lnx02", "lnx01", 6162) {
		t.Error("enforce: lnx02 plays no role that needs tcp/6162 on lnx01, yet gets through")
	}
	if !reachable(t, l, "", "lnx01", 6162) {
		t.Error("enforce: the backup server (controller address) cannot reach tcp/6162")
	}
	// The controller keeps SSH: the next plan connects and finds nothing to do.
	if doc, code := planDoc(t, inv); code != 0 {
		t.Fatalf("plan after enforce: exit %d %+v", code, doc.Hosts)
	}
	// verify --probe proves the least privilege too: lnx02, which no rule
	// of lnx01 names, is dropped.
	vout, _, vcode := runCLI(t, "verify", "--inventory", inv, "--probe", "--format", "json")
	var vdoc applyDoc
	if err := json.Unmarshal([]byte(vout), &vdoc); err != nil || vcode != 0 {
		t.Fatalf("verify --probe: exit %d %v\n%s", vcode, err, vout)
	}
	negatives := 0
	for _, p := range vdoc.Probes {
		if p.Expect == "blocked" {
			negatives++
			if p.From != "lnx02" || p.To != "lnx01" || !p.OK || p.Outcome != "blocked" {
				t.Errorf("negative probe: %+v", p)
			}
		}
	}
	if negatives == 0 {
		t.Error("verify --probe made no negative probe on the enforce host")
	}
	// More management sources change the management rule, and only that.
	inv2 := writeInventory(t, l, map[string]hostSpec{
		"lnx01": {roles: []string{"backup_repository"}, mode: "enforce"},
		"lnx02": {roles: []string{"guest_linux"}},
	}, "settings {\n  management_sources = [\""+l.AdminsNetwork().String()+"\"]\n}\n")
	doc, code := planDoc(t, inv2)
	cs := hostOf(doc, "lnx01").Changes
	if code != 2 || len(cs) != 1 || !strings.Contains(cs[0].Detail, l.AdminsNetwork().String()) {
		t.Fatalf("new management source: exit %d, changes %+v", code, cs)
	}
	if _, code := applyJSON(t, inv2); code != 0 {
		t.Fatal("apply of the management change failed")
	}
	if _, code := planDoc(t, inv2); code != 0 {
		t.Fatal("management change not converged")
	}
}

// TestFailingHostsDoNotStopOthers: an unreachable host, a host that refuses
// the key and a host with a changed host key each fail on their own; the
// good host converges; the summary names the failures; exit 3 (partial).
func TestFailingHostsDoNotStopOthers(t *testing.T) {
	l := lab.UpForTest(t, lab.Options{Linux: 3})
	dir := t.TempDir()
	otherKey := filepath.Join(dir, "other_key")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", otherKey).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	// A known_hosts in which lnx03's key is someone else's.
	kh, err := os.ReadFile(l.KnownHostsPath())
	if err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(otherKey + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	h3, _ := l.Host("lnx03")
	var changed []string
	for _, line := range strings.Split(strings.TrimSpace(string(kh)), "\n") {
		if strings.HasPrefix(line, h3.Address.String()+" ") || strings.HasPrefix(line, h3.Address.String()+",") {
			f := strings.Fields(string(pub))
			line = h3.Address.String() + " " + f[0] + " " + f[1]
		}
		changed = append(changed, line)
	}
	changedKH := filepath.Join(dir, "known_hosts")
	if err := os.WriteFile(changedKH, []byte(strings.Join(changed, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	down := "\nhost \"gone\" {\n  address = \"" + l.Subnet.Addr().Next().Next().Next().Next().Next().Next().Next().Next().String() + "\"\n  os = \"linux\"\n  roles = [\"guest_linux\"]\n}\n"
	inv := writeInventory(t, l, map[string]hostSpec{
		"lnx01": {roles: []string{"backup_repository"}},
		"lnx02": {roles: []string{"guest_linux"}, extra: fmt.Sprintf("  ssh {\n    private_key = %q\n  }\n", otherKey)},
		"lnx03": {roles: []string{"guest_linux"}, extra: fmt.Sprintf("  ssh {\n    known_hosts = %q\n  }\n", changedKH)},
	}, down)
	out, _, code := runCLI(t, "apply", "--inventory", inv, "--auto-approve")
	if code != exitPartial {
		t.Fatalf("apply exit %d, want %d (some hosts failed, the others are done):\n%s", code, exitPartial, out)
	}
	for _, want := range []string{"gone", "lnx02", "lnx03"} {
		if !strings.Contains(out, want+" (") {
			t.Errorf("output does not report host %s:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "Failed:") && !strings.Contains(out, "Could not plan") {
		t.Errorf("no failure summary:\n%s", out)
	}
	doc, _ := planDoc(t, inv)
	if h := hostOf(doc, "lnx01"); h.Error != "" || len(h.Changes) != 0 {
		t.Errorf("lnx01 did not converge: %+v", h)
	}
	for name, want := range map[string]string{"lnx02": "auth", "lnx03": "changed", "gone": "connect"} {
		h := hostOf(doc, name)
		if !strings.Contains(strings.ToLower(h.Error), want) {
			t.Errorf("%s: error %q does not say %q", name, h.Error, want)
		}
	}
	// The host with the changed key was never touched.
	if out := execOK(t, l, "lnx03", "nft", "list ruleset"); strings.Contains(out, "portwarden") {
		t.Errorf("lnx03 (changed host key) got rules:\n%s", out)
	}
}

// TestMixedFleet: Linux and simulated Windows hosts in one inventory and
// one run; drift on a Windows host is detected and repaired; a wrong
// password and an untrusted certificate fail only their host.
func TestMixedFleet(t *testing.T) {
	l := lab.UpForTest(t, lab.Options{Linux: 2, Windows: 2, BaselineDrop: true})
	specs := map[string]hostSpec{
		"lnx01": {roles: []string{"backup_repository"}},
		"lnx02": {roles: []string{"guest_linux"}},
		"win01": {roles: []string{"backup_server", "mount_server"}},
		"win02": {roles: []string{"hyperv_host"}, mode: "enforce"},
	}
	inv := writeInventory(t, l, specs, "network \"admins\" {\n  cidrs = [\""+l.AdminsNetwork().String()+"\"]\n  roles = [\"console\"]\n}\n")
	ad, code := applyJSON(t, inv, "--probe")
	if code != 0 {
		for _, h := range ad.Hosts {
			t.Logf("%s: error %q remaining %+v", h.Name, h.Error, h.Remaining)
		}
		for _, p := range ad.Probes {
			if !p.Passed {
				t.Logf("probe %+v", p)
			}
		}
		t.Fatalf("apply exit %d", code)
	}
	if got := hostOf(ad.jsonPlan, "win01").Backend; got != "windows" {
		t.Fatalf("win01 backend %q", got)
	}
	probedWindows := false
	for _, p := range ad.Probes {
		if strings.HasPrefix(p.To, "win") && p.Passed {
			probedWindows = true
		}
	}
	if !probedWindows {
		t.Error("no probe reached a Windows host")
	}
	// win02 enforces: a Linux peer that plays no source role is blocked by
	// the simulated firewall's nftables enforcement; the backup server
	// (win01) is let through.
	ln, err := l.Listen("win02", "tcp", ":6163")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if reachable(t, l, "lnx02", "win02", 6163) {
		t.Error("enforce on win02: lnx02 reaches tcp/6163 without a rule for it")
	}
	if !reachable(t, l, "win01", "win02", 6163) {
		t.Error("enforce on win02: the backup server cannot reach tcp/6163")
	}
	out, _, code := runCLI(t, "apply", "--inventory", inv, "--auto-approve")
	if code != 0 || !strings.Contains(out, "No changes.") {
		t.Fatalf("second apply: exit %d\n%s", code, out)
	}

	// Drift by hand on win01: remove one of portwarden's rules from the
	// simulated host's rule store.
	h1, _ := l.Host("win01")
	storePath := filepath.Join(h1.Dir, "winfw.json")
	raw, err := os.ReadFile(storePath)
	if err != nil {
		t.Fatal(err)
	}
	var store map[string]any
	if err := json.Unmarshal(raw, &store); err != nil {
		t.Fatalf("winfw.json: %v", err)
	}
	rules, _ := store["Rules"].([]any)
	kept := rules[:0]
	dropped := false
	for _, r := range rules {
		m, _ := r.(map[string]any)
		if !dropped && fmt.Sprint(m["Group"]) == "portwarden" {
			dropped = true
			continue
		}
		kept = append(kept, r)
	}
	if !dropped {
		t.Fatalf("no portwarden rule found in %s", storePath)
	}
	store["Rules"] = kept
	raw, _ = json.Marshal(store)
	if err := os.WriteFile(storePath, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	doc, code := planDoc(t, inv)
	if code != 2 || len(hostOf(doc, "win01").Changes) == 0 {
		t.Fatalf("Windows drift not detected: exit %d %+v", code, hostOf(doc, "win01"))
	}
	if _, code := applyJSON(t, inv); code != 0 {
		t.Fatal("repair failed")
	}
	if _, code := planDoc(t, inv); code != 0 {
		t.Fatal("not converged after repair")
	}

	// Wrong password on win02, an untrusted CA for win01: per-host errors,
	// the Linux hosts still plan, and the Windows hosts stay as they were.
	before1, _ := os.ReadFile(storePath)
	otherCA := filepath.Join(t.TempDir(), "other-ca.pem")
	if err := os.WriteFile(otherCA, otherCAPEM(t), 0o644); err != nil {
		t.Fatal(err)
	}
	specs["win01"] = hostSpec{roles: []string{"backup_server"}, extra: fmt.Sprintf("  winrm {\n    ca_cert = %q\n  }\n", otherCA)}
	specs["win02"] = hostSpec{roles: []string{}, mode: "enforce", extra: "  winrm {\n    password = \"wrong-password\"\n  }\n"}
	bad := writeInventory(t, l, specs, "")
	out, errOut, code := runCLI(t, "apply", "--inventory", bad, "--auto-approve")
	if code != exitPartial {
		t.Fatalf("apply with bad credentials: exit %d, want %d\n%s%s", code, exitPartial, out, errOut)
	}
	if strings.Contains(out+errOut, "wrong-password") {
		t.Error("the password appears in the output")
	}
	doc, _ = planDoc(t, bad)
	if e := hostOf(doc, "win02").Error; !strings.Contains(strings.ToLower(e), "auth") {
		t.Errorf("win02 error %q does not say authentication failed", e)
	}
	if e := hostOf(doc, "win01").Error; !strings.Contains(strings.ToLower(e), "certificate") {
		t.Errorf("win01 error %q does not say the certificate is not trusted", e)
	}
	if e := hostOf(doc, "lnx01").Error; e != "" {
		t.Errorf("lnx01 failed with the Windows hosts: %s", e)
	}
	if after, _ := os.ReadFile(storePath); string(after) != string(before1) {
		t.Error("win01's rule store changed although it could not be reached")
	}
}

// TestProbeCatchesWhatReadBackCannot: rules that read back fine but are
// shadowed by a foreign drop in front of them pass verify's read-back and
// fail its probes, rule by rule.
func TestProbeCatchesWhatReadBackCannot(t *testing.T) {
	l := lab.UpForTest(t, lab.Options{Linux: 2, BaselineDrop: true})
	inv := writeInventory(t, l, map[string]hostSpec{
		"lnx01": {roles: []string{"backup_repository"}},
		"lnx02": {roles: []string{"backup_repository"}},
	}, "")
	if _, code := applyJSON(t, inv); code != 0 {
		t.Fatal("apply failed")
	}
	// Someone drops the upper end of the data mover range ahead of
	// portwarden's jump, in the host's own table.
	execOK(t, l, "lnx01", "nft", "insert rule inet baseline input tcp dport 3300 drop")
	out, _, code := runCLI(t, "verify", "--inventory", inv, "--format", "json", "--probe")
	if code != 1 {
		t.Fatalf("verify --probe: exit %d, want 1\n%s", code, out)
	}
	var doc applyDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if rem := hostOf(doc.jsonPlan, "lnx01").Remaining; len(rem) != 0 {
		t.Errorf("read-back should still match (portwarden's own rules are intact): %+v", rem)
	}
	var blocked, passed int
	for _, p := range doc.Probes {
		switch {
		case p.To == "lnx01" && p.Port == 3300:
			if p.Passed || p.Outcome != "blocked" {
				t.Errorf("probe to the dropped port: %+v", p)
			}
			blocked++
		case p.Passed:
			passed++
		}
	}
	if blocked == 0 || passed == 0 {
		t.Errorf("want the dropped port blocked and the others passing: %d blocked, %d passed", blocked, passed)
	}
}

// TestDestroyRemovesOnlyWhatPortwardenOwns: apply --destroy takes a fleet
// back to how it was, Linux and Windows, enforce included.
func TestDestroyRemovesOnlyWhatPortwardenOwns(t *testing.T) {
	l := lab.UpForTest(t, lab.Options{Linux: 2, Windows: 1, BaselineDrop: true})
	inv := writeInventory(t, l, map[string]hostSpec{
		"lnx01": {roles: []string{"backup_repository"}},
		"lnx02": {roles: []string{"gateway_server"}, mode: "enforce"},
		"win01": {roles: []string{"backup_server"}, mode: "enforce"},
	}, "")
	before := map[string]string{}
	for _, h := range []string{"lnx01", "lnx02"} {
		before[h] = execOK(t, l, h, "nft", "list", "ruleset")
	}
	w, _ := l.Host("win01")
	winBefore, err := os.ReadFile(filepath.Join(w.Dir, "winfw.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, code := applyJSON(t, inv); code != 0 {
		t.Fatal("apply failed")
	}
	doc, code := planDoc(t, inv, "--destroy")
	if code != 2 || doc.Summary.Remove == 0 {
		t.Fatalf("plan --destroy: exit %d %+v", code, doc.Summary)
	}
	if _, code := applyJSON(t, inv, "--destroy"); code != 0 {
		t.Fatal("apply --destroy failed")
	}
	if _, code := planDoc(t, inv, "--destroy"); code != 0 {
		t.Fatal("a second destroy still has changes")
	}
	for _, h := range []string{"lnx01", "lnx02"} {
		if got := execOK(t, l, h, "nft", "list", "ruleset"); got != before[h] {
			t.Errorf("%s after destroy:\n%s\nbefore:\n%s", h, got, before[h])
		}
	}
	var a, b struct{ Profiles, Rules any }
	winAfter, _ := os.ReadFile(filepath.Join(w.Dir, "winfw.json"))
	if json.Unmarshal(winBefore, &a) != nil || json.Unmarshal(winAfter, &b) != nil {
		t.Fatal("winfw.json is not JSON")
	}
	if a.Rules == nil || a.Profiles == nil {
		t.Fatalf("winfw.json has no rules or profiles: %s", winBefore)
	}
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("win01 after destroy differs from before:\n%v\n%v", b, a)
	}
}

// TestIPv6Fleet: hosts addressed over IPv6 get ip6 rules, in both modes,
// and probes and the management rule work over IPv6.
func TestIPv6Fleet(t *testing.T) {
	l := lab.UpForTest(t, lab.Options{Linux: 3, BaselineDrop: true})
	var b strings.Builder
	fmt.Fprintf(&b, "defaults {\n  ssh {\n    private_key = %q\n    known_hosts = %q\n  }\n}\n", l.KeyPath(), l.KnownHostsPath())
	fmt.Fprintf(&b, "host \"vbr\" {\n  address = %q\n  os = \"windows\"\n  roles = [\"backup_server\"]\n  managed = false\n}\n", l.Controller6)
	for name, spec := range map[string]string{
		"lnx01": "roles = [\"backup_repository\"]\n  mode = \"enforce\"",
		"lnx02": "roles = [\"backup_repository\"]",
		"lnx03": "roles = [\"guest_linux\"]",
	} {
		h, _ := l.Host(name)
		fmt.Fprintf(&b, "host %q {\n  address = %q\n  os = \"linux\"\n  %s\n  persist_root = %q\n}\n", name, h.Address6, spec, h.PersistRoot)
	}
	inv := filepath.Join(t.TempDir(), "inv.hcl")
	if err := os.WriteFile(inv, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ad, code := applyJSON(t, inv, "--probe")
	if code != 0 {
		for _, h := range ad.Hosts {
			t.Logf("%s: %q", h.Name, h.Error)
		}
		t.Fatalf("apply exit %d", code)
	}
	v6probes := 0
	for _, p := range ad.Probes {
		if strings.Contains(p.Address, ":") && p.Passed {
			v6probes++
		}
	}
	if v6probes == 0 {
		t.Errorf("no probe passed over IPv6: %+v", ad.Probes)
	}
	ruleset := execOK(t, l, "lnx01", "nft", "list", "table", "inet", "portwarden")
	if !strings.Contains(ruleset, "ip6 saddr") || !strings.Contains(ruleset, "policy drop") {
		t.Errorf("lnx01 has no ip6 rules in enforce mode:\n%s", ruleset)
	}
	h1, _ := l.Host("lnx01")
	ln, err := l.Listen("lnx01", "tcp", "[::]:6162")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dial := func(from string, port int) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		c, err := l.DialFrom(ctx, from, "tcp", net.JoinHostPort(h1.Address6.String(), fmt.Sprint(port)))
		if err == nil {
			c.Close()
			return true
		}
		return strings.Contains(err.Error(), "refused")
	}
	if dial("lnx03", 6162) {
		t.Error("enforce over IPv6: lnx03 reaches tcp/6162 without a rule")
	}
	if !dial("lnx02", 2600) {
		t.Error("enforce over IPv6: repository lnx02 cannot reach the data mover range")
	}
	if _, code := planDoc(t, inv); code != 0 {
		t.Fatal("not converged over IPv6 (or the controller lost SSH)")
	}
}

// TestSavedPlan: apply --plan applies exactly a reviewed plan, and refuses,
// changing nothing anywhere, when any host changed since it was saved.
func TestSavedPlan(t *testing.T) {
	l, inv := upRepoLab(t)
	dir := t.TempDir()
	p1 := filepath.Join(dir, "p1.json")
	if out, _, code := runCLI(t, "plan", "--inventory", inv, "--out", p1); code != 0 || !strings.Contains(out, "Saved the plan") {
		t.Fatalf("plan --out: exit %d\n%s", code, out)
	}
	if out, errOut, code := runCLI(t, "apply", "--inventory", inv, "--plan", p1); code != 0 {
		t.Fatalf("apply --plan: exit %d\n%s%s", code, out, errOut)
	}
	if _, code := planDoc(t, inv); code != 0 {
		t.Fatal("not converged after apply --plan")
	}
	// Review a repair of lnx01, then lnx02 drifts before the apply.
	execOK(t, l, "lnx01", "nft", "flush chain inet portwarden input")
	p2 := filepath.Join(dir, "p2.json")
	if _, _, code := runCLI(t, "plan", "--inventory", inv, "--out", p2, "--detailed-exitcode"); code != 2 {
		t.Fatalf("plan --out after drift: exit %d", code)
	}
	execOK(t, l, "lnx02", "nft", "flush chain inet portwarden input")
	out, errOut, code := runCLI(t, "apply", "--inventory", inv, "--plan", p2)
	if code != 1 || !strings.Contains(errOut, "lnx02 changed since the plan was saved") || !strings.Contains(errOut, "nothing was applied") {
		t.Fatalf("apply of a stale plan: exit %d\n%s%s", code, out, errOut)
	}
	// Nothing was applied: lnx01 still needs its repair.
	doc, _ := planDoc(t, inv)
	if len(hostOf(doc, "lnx01").Changes) == 0 || len(hostOf(doc, "lnx02").Changes) == 0 {
		t.Errorf("a refused apply changed a host: %+v", doc.Hosts)
	}
}

// TestProxyJumpFleet: hosts that only a bastion may reach are planned and
// applied through it (one shared bastion connection), and enforce mode
// keeps SSH open from the bastion, the address those hosts see.
func TestProxyJumpFleet(t *testing.T) {
	l := lab.UpForTest(t, lab.Options{Linux: 3})
	bastion, _ := l.Host("lnx01")
	// lnx02 and lnx03 drop SSH from the controller, like hosts in a
	// segment only the bastion reaches.
	for _, h := range []string{"lnx02", "lnx03"} {
		execOK(t, l, h, "nft", fmt.Sprintf("add table inet seg; add chain inet seg in { type filter hook input priority -10; policy accept; }; add rule inet seg in ip saddr %s tcp dport 22 drop", l.Controller))
	}
	jump := fmt.Sprintf("  ssh {\n    proxy_jump = \"root@%s\"\n  }\n", bastion.Address)
	inv := writeInventory(t, l, map[string]hostSpec{
		"lnx01": {roles: []string{"guest_linux"}},
		"lnx02": {roles: []string{"backup_repository"}, mode: "enforce", extra: jump},
		"lnx03": {roles: []string{"backup_repository"}, extra: jump},
	}, "")
	if ad, code := applyJSON(t, inv); code != 0 {
		for _, h := range ad.Hosts {
			t.Logf("%s: %q", h.Name, h.Error)
		}
		t.Fatalf("apply through the bastion: exit %d", code)
	}
	log, _ := os.ReadFile(filepath.Join(bastion.Dir, "sshd.log"))
	// One login for lnx01 itself (its confirm checks sshd's greeting and
	// goes over that connection), one shared by the two hosts behind it
	// and by their confirms' greetings.
	if n := strings.Count(string(log), "Accepted publickey"); n != 2 {
		t.Errorf("bastion saw %d logins, want 2 (its own and one shared jump connection)", n)
	}
	rs := execOK(t, l, "lnx02", "nft", "list", "table", "inet", "portwarden")
	if !strings.Contains(rs, bastion.Address.String()) || !strings.Contains(rs, "policy drop") {
		t.Errorf("enforce on lnx02 does not keep SSH open from the bastion:\n%s", rs)
	}
	if _, code := planDoc(t, inv); code != 0 {
		t.Fatal("second plan through the bastion: not converged, or SSH lost")
	}
}

// TestWindowsIneffectiveRulesAreReported: a disabled profile and Group
// Policy that ignores local rules show as warnings on the Windows host.
func TestWindowsIneffectiveRulesAreReported(t *testing.T) {
	l := lab.UpForTest(t, lab.Options{Windows: 1})
	inv := writeInventory(t, l, map[string]hostSpec{"win01": {roles: []string{"hyperv_host"}}}, "")
	w, _ := l.Host("win01")
	path := filepath.Join(w.Dir, "winfw.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	for _, p := range st["Profiles"].([]any) {
		prof := p.(map[string]any)
		switch prof["Name"] {
		case "Public":
			prof["Enabled"] = "False"
		case "Domain":
			prof["GroupPolicy"] = map[string]any{"AllowLocalFirewallRules": "False"}
		}
	}
	raw, _ = json.Marshal(st)
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	doc, _ := planDoc(t, inv)
	warn := strings.Join(hostOf(doc, "win01").Warnings, "\n")
	if !strings.Contains(warn, "profile Public is disabled") || !strings.Contains(warn, "Domain does not merge local rules") {
		t.Errorf("warnings = %q", warn)
	}
	out, _, _ := runCLI(t, "plan", "--inventory", inv)
	if !strings.Contains(out, "! warning: Windows Firewall profile Public is disabled") {
		t.Errorf("the text plan does not show the warning:\n%s", out)
	}
}

// otherCAPEM returns a fresh self-signed CA certificate that signed none
// of the lab's certificates.
func otherCAPEM(t *testing.T) []byte {
	_, _, p := testca.New(t, "some other CA")
	return p
}

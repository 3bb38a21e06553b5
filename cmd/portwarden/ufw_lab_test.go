package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portwarden/portwarden/lab"
)

// TestUFWHost is the acceptance test of the ufw backend on a lab host with
// ufw enabled (default incoming deny, its own 22/tcp rule) and rules of
// the host's own added here: apply from a clean host, a second plan is
// empty, verify --probe passes, the host's deny (ordered after
// portwarden's rules) keeps working, "ufw reload" keeps the rules, drift
// made with "ufw delete" is detected and repaired, a reboot brings the
// rules back without portwarden, enforce drops a stranger, and destroy
// leaves exactly the host's own rules.
func TestUFWHost(t *testing.T) {
	l := lab.UpForTest(t, lab.Options{Linux: 3, UFW: 1})
	u := onlyHostWith(t, l, lab.ManagerUFW)
	var peer, stranger lab.Host
	for _, h := range l.HostsWith(lab.ManagerNone) {
		if peer.Name == "" {
			peer = h
		} else if stranger.Name == "" {
			stranger = h
		}
	}
	// The host's own rules: a deny of the peer (after portwarden's rules,
	// so portwarden's openings for the peer win, and the peer's other
	// ports stay denied), and an allow for anyone.
	execOK(t, l, u, "sh", "-c", "ufw deny from "+peer.Address.String()+" >/dev/null && ufw allow 8080/tcp >/dev/null")
	for _, port := range []string{":2600", ":8080", ":9999"} {
		ln, err := l.Listen(u, "tcp", port)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
	}
	if reachable(t, l, peer.Name, u, 2600) {
		t.Fatal("ufw's default deny does not drop: the test would prove nothing")
	}
	spec := func(mode string) map[string]hostSpec {
		return map[string]hostSpec{
			u:             {roles: []string{"backup_repository"}, mode: mode},
			peer.Name:     {roles: []string{"backup_repository"}},
			stranger.Name: {roles: []string{"guest_linux"}},
		}
	}
	inv := writeInventory(t, l, spec("additive"), "")
	converged := func(what string) {
		t.Helper()
		if doc, code := planDoc(t, inv); code != 0 {
			t.Fatalf("%s: plan exit %d, %s: changes %+v drift? warnings %q", what, code, u, hostOf(doc, u).Changes, hostOf(doc, u).Warnings)
		}
	}
	if doc, code := planDoc(t, inv); code != 2 || len(hostOf(doc, u).Changes) == 0 {
		t.Fatalf("plan on a clean ufw host: exit %d %+v", code, hostOf(doc, u))
	}
	if ad, code := applyJSON(t, inv, "--probe"); code != 0 {
		for _, h := range ad.Hosts {
			t.Logf("%s: error %q warnings %q", h.Name, h.Error, h.Warnings)
		}
		t.Fatalf("apply exit %d", code)
	}
	converged("after apply")
	if !reachable(t, l, peer.Name, u, 2600) {
		t.Fatal("after apply, the peer cannot reach the repository's data mover range")
	}
	if reachable(t, l, peer.Name, u, 9999) || reachable(t, l, peer.Name, u, 8080) {
		t.Error("the host's own deny of the peer stopped working")
	}
	if !reachable(t, l, "", u, 8080) {
		t.Error("the host's own allow 8080/tcp stopped working")
	}
	status := execOK(t, l, u, "ufw", "status")
	if !strings.Contains(status, "# portwarden:tcp/") || !strings.Contains(status, "8080/tcp") {
		t.Errorf("ufw status does not list portwarden's and the host's rules:\n%s", status)
	}
	if out, errOut, code := runCLI(t, "verify", "--inventory", inv, "--probe"); code != 0 {
		t.Fatalf("verify --probe: exit %d\n%s\n%s", code, out, errOut)
	}

	// ufw reload keeps the rules: they are in ufw's own files.
	execOK(t, l, u, "ufw", "reload")
	converged("after ufw reload")

	// Drift made with ufw's own tool: portwarden's rules are first.
	execOK(t, l, u, "ufw", "--force", "delete", "1")
	if doc, code := planDoc(t, inv); code != 2 || len(hostOf(doc, u).Changes) == 0 {
		t.Fatalf("a rule deleted with ufw delete: plan exit %d %+v", code, hostOf(doc, u))
	}
	if _, code := applyJSON(t, inv); code != 0 {
		t.Fatal("repairing apply failed")
	}
	converged("after repair")

	// A reboot: ufw's boot loads the rules from the host's own /etc.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := l.Reboot(ctx, u); err != nil {
		t.Fatalf("reboot: %v", err)
	}
	if !reachable(t, l, peer.Name, u, 2600) {
		t.Error("after reboot, the peer cannot reach the repository: the rules did not come back")
	}
	if reachable(t, l, peer.Name, u, 9999) {
		t.Error("after reboot, the host's own deny did not come back")
	}
	converged("after reboot")
	if out, errOut, code := runCLI(t, "verify", "--inventory", inv, "--probe"); code != 0 {
		t.Errorf("verify --probe after reboot: exit %d\n%s\n%s", code, out, errOut)
	}

	// Enforce: the stranger, whom no rule names, is dropped.
	inv = writeInventory(t, l, spec("enforce"), "")
	if _, code := applyJSON(t, inv); code != 0 {
		t.Fatal("enforce apply failed")
	}
	converged("after enforce")
	vout, _, vcode := runCLI(t, "verify", "--inventory", inv, "--probe", "--format", "json")
	var vdoc applyDoc
	if err := json.Unmarshal([]byte(vout), &vdoc); err != nil || vcode != 0 {
		t.Fatalf("verify --probe in enforce mode: exit %d %v\n%s", vcode, err, vout)
	}
	negatives := 0
	for _, p := range vdoc.Probes {
		if p.Expect == "blocked" && p.To == u {
			negatives++
			if !p.OK || p.Outcome != "blocked" {
				t.Errorf("negative probe: %+v", p)
			}
		}
	}
	if negatives == 0 {
		t.Error("verify --probe made no negative probe on the ufw enforce host")
	}
	if reachable(t, l, stranger.Name, u, 2600) {
		t.Error("enforce: the stranger reaches the data mover range")
	}

	// Destroy: only the host's own rules remain, in their order, and the
	// default incoming policy is the host's again.
	if _, code := applyJSON(t, inv, "--destroy"); code != 0 {
		t.Fatal("destroy failed")
	}
	status = execOK(t, l, u, "ufw", "status", "verbose")
	if strings.Contains(status, "portwarden:") {
		t.Errorf("portwarden's rules remain after destroy:\n%s", status)
	}
	for _, want := range []string{`8080/tcp\s+ALLOW IN`, `DENY IN\s+` + regexp.QuoteMeta(peer.Address.String()), `22/tcp\s+ALLOW IN.*# portwarden lab: ssh`, `deny \(incoming\)`} {
		if !regexp.MustCompile(want).MatchString(status) {
			t.Errorf("after destroy, ufw status lacks %q:\n%s", want, status)
		}
	}
	if reachable(t, l, peer.Name, u, 2600) {
		t.Error("after destroy, the peer still reaches the repository")
	}
}

package firewall

import (
	"crypto/sha256"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/portwarden/portwarden/rule"
)

// ufwNS is a network namespace whose scripts run with a private copy of
// ufw's files: every run enters a fresh mount namespace (private
// propagation) with the copies bound over /etc/ufw and /etc/default/ufw
// and a tmpfs on /run, so this machine's ufw files are never written.
// ufw is never run outside it.
type ufwNS struct {
	*testNS
	dir string
	// sbin is bound over /usr/local/sbin, first in the scripts' PATH, for
	// wrappers around ufw.
	sbin string
}

func newUFWNS(t *testing.T) *ufwNS {
	t.Helper()
	requireKernel(t, "ufw", "iptables-restore", "unshare")
	before := hashTree(t, "/etc/ufw", "/etc/default/ufw")
	t.Cleanup(func() {
		if after := hashTree(t, "/etc/ufw", "/etc/default/ufw"); after != before {
			t.Errorf("this machine's ufw files changed during the test")
		}
	})
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-a", "/etc/ufw", filepath.Join(dir, "ufw")).CombinedOutput(); err != nil {
		t.Fatalf("copying /etc/ufw: %v: %s", err, out)
	}
	if out, err := exec.Command("cp", "-a", "/etc/default", filepath.Join(dir, "default")).CombinedOutput(); err != nil {
		t.Fatalf("copying /etc/default: %v: %s", err, out)
	}
	u := &ufwNS{testNS: newNS(t), dir: dir, sbin: filepath.Join(dir, "sbin")}
	u.wrap = []string{"unshare", "-m", "--propagation", "private", "env", "PW_T=" + dir, "sh", "-c", ufwNSWrap, "pwtest"}
	if err := os.Mkdir(u.sbin, 0o755); err != nil {
		t.Fatal(err)
	}
	return u
}

func hashTree(t *testing.T, paths ...string) [32]byte {
	t.Helper()
	h := sha256.New()
	for _, p := range paths {
		_ = filepath.Walk(p, func(path string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() {
				return nil
			}
			b, _ := os.ReadFile(path)
			h.Write([]byte(path + "\x00"))
			h.Write(b)
			return nil
		})
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// ufwNSWrap runs in a fresh mount namespace: $PW_T is the test's copy of
// the files, "$@" the command (sh -c SCRIPT).
const ufwNSWrap = `mount --bind "$PW_T/ufw" /etc/ufw &&
mount --bind "$PW_T/default" /etc/default &&
mount --bind "$PW_T/sbin" /usr/local/sbin &&
mount -t tmpfs pwtest-run /run || exit 97
exec "$@"`

func (u *ufwNS) facts() Facts {
	u.t.Helper()
	out, errOut, code := u.run(LinuxFactsScript.Body, nil)
	if code != 0 {
		u.t.Fatalf("facts script exited %d: %s", code, errOut)
	}
	return ParseFacts(out)
}

// backend detects the backend from fresh facts; it must be ufw.
func (u *ufwNS) backend() (*UFW, Facts) {
	u.t.Helper()
	f := u.facts()
	b, err := Detect(f, "auto", "")
	if err != nil {
		u.t.Fatalf("detect: %v", err)
	}
	ub, ok := b.(*UFW)
	if !ok {
		u.t.Fatalf("detect chose %s, want ufw", b.Name())
	}
	return ub, f
}

// apply applies d from fresh facts and returns the state read back from
// the apply's own output.
func (u *ufwNS) apply(d Desired) State {
	u.t.Helper()
	b, f := u.backend()
	s, err := b.Apply(f, d)
	if err != nil {
		u.t.Fatalf("apply: %v", err)
	}
	out, errOut, code := u.run(s.Body, s.Stdin)
	if code != 0 {
		u.t.Fatalf("apply script exited %d\nstderr: %s\nstdout: %s", code, errOut, out)
	}
	st, err := b.State(ParseFacts(out))
	if err != nil {
		u.t.Fatalf("state after apply: %v", err)
	}
	return st
}

func (u *ufwNS) state() State {
	u.t.Helper()
	b, f := u.backend()
	st, err := b.State(f)
	if err != nil {
		u.t.Fatalf("state: %v", err)
	}
	return st
}

func (u *ufwNS) file(name string) string {
	u.t.Helper()
	b, err := os.ReadFile(filepath.Join(u.dir, name))
	if err != nil {
		u.t.Fatal(err)
	}
	return string(b)
}

func ufwTestDesired(mode rule.Mode) Desired {
	many := make([]rule.PortRange, 0, 20)
	for p := uint16(7000); p < 7040; p += 2 {
		many = append(many, rule.PortRange{Lo: p, Hi: p})
	}
	return Desired{
		Mode: mode,
		Rules: []rule.Rule{
			{Protocol: "tcp", Ports: []rule.PortRange{{Lo: 443, Hi: 443}, {Lo: 2500, Hi: 3300}}, Sources: []netip.Prefix{netip.MustParsePrefix("198.18.0.5/32"), netip.MustParsePrefix("fd70::5/128")}, Comment: "Veeam data movers"},
			{Protocol: "tcp", Ports: many, Sources: []netip.Prefix{netip.MustParsePrefix("198.18.1.0/24")}},
			{Protocol: "udp", Ports: []rule.PortRange{{Lo: 111, Hi: 111}}, Sources: []netip.Prefix{netip.MustParsePrefix("198.18.0.6/32")}},
		},
		ManagementPort:    22,
		ManagementSources: []netip.Prefix{netip.MustParsePrefix("198.18.0.1/32"), netip.MustParsePrefix("fd70::1/128")},
	}
}

func checkUFWState(t *testing.T, st State, d Desired) {
	t.Helper()
	dd, err := prepareLinuxDesired(d)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Drift) > 0 {
		t.Errorf("drift: %q", st.Drift)
	}
	if st.Mode != d.Mode || !st.Installed {
		t.Errorf("mode %q installed %v, want %q", st.Mode, st.Installed, d.Mode)
	}
	if got, want := rulesText(st.Rules), rulesText(dd.Rules); got != want {
		t.Errorf("rules read back:\n%s\nwant:\n%s", got, want)
	}
}

func rulesText(rs []rule.Rule) string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString(r.Key() + " from ")
		for _, s := range r.Sources {
			b.WriteString(s.String() + " ")
		}
		b.WriteString("# " + r.Comment + "\n")
	}
	return b.String()
}

// TestUFWKernel: apply, ufw's own view, a later "ufw allow" and "ufw
// reload" keep the rules, hand-made drift, enforce, and destroy with the
// host's own rules kept, all with the real ufw.
func TestUFWKernel(t *testing.T) {
	u := newUFWNS(t)
	u.sh(`ufw default allow incoming >/dev/null && ufw --force enable >/dev/null &&
ufw deny from 198.18.9.9 >/dev/null && ufw allow 8080/tcp >/dev/null`)

	d := ufwTestDesired(rule.Additive)
	checkUFWState(t, u.apply(d), d)

	status := u.sh("ufw status")
	if !strings.Contains(status, "# portwarden:tcp/443,2500-3300 Veeam data movers") || !strings.Contains(status, "8080/tcp") {
		t.Errorf("ufw status does not list portwarden's and the host's rules:\n%s", status)
	}
	rules := u.file("ufw/user.rules")
	if i, j := strings.Index(rules, "198.18.0.5"), strings.Index(rules, "198.18.9.9"); i < 0 || j < i {
		t.Errorf("portwarden's rules are not before the host's deny in user.rules:\n%s", rules)
	}
	if !strings.Contains(u.file("ufw/user6.rules"), "fd70::5") {
		t.Errorf("user6.rules lacks the IPv6 source")
	}

	// ufw itself rewrites the files on "ufw allow": the tuples portwarden
	// wrote must come out as they went in, and the admin's rule is added.
	u.sh("ufw allow 9999/tcp >/dev/null")
	if got := u.file("ufw/user.rules"); !strings.Contains(got, "9999") || strings.Replace(got, "\n### tuple ### allow tcp 9999 0.0.0.0/0 any 0.0.0.0/0 in\n-A ufw-user-input -p tcp --dport 9999 -j ACCEPT\n", "", 1) != rules {
		t.Errorf("ufw rewrote portwarden's tuples differently:\nbefore:\n%s\nafter:\n%s", rules, got)
	}
	u.sh("ufw reload >/dev/null")
	checkUFWState(t, u.state(), d)

	// Drift with ufw's own tool: delete portwarden's first rule.
	u.sh("ufw --force delete 1 >/dev/null")
	if st := u.state(); len(st.Drift) == 0 && rulesText(st.Rules) == rulesText(mustPrepare(t, d).Rules) {
		t.Fatalf("a rule deleted with ufw delete is not seen")
	}
	checkUFWState(t, u.apply(d), d)

	// Kernel drift: the chain flushed behind ufw's back.
	u.sh("iptables -F ufw-user-input")
	if st := u.state(); len(st.Drift) == 0 {
		t.Errorf("a flushed ufw-user-input is not drift")
	}
	checkUFWState(t, u.apply(d), d)

	// Enforce: default deny incoming, previous default recorded.
	e := ufwTestDesired(rule.Enforce)
	st := u.apply(e)
	checkUFWState(t, st, e)
	if st.Management == nil || st.Management.Key() != "tcp/22" || len(st.Management.Sources) != 2 {
		t.Errorf("management rule read back: %+v", st.Management)
	}
	if !strings.Contains(u.file("default/ufw"), `DEFAULT_INPUT_POLICY="DROP"`) || !strings.Contains(u.sh("iptables-save"), ":INPUT DROP") {
		t.Errorf("enforce did not set the default input policy to DROP")
	}
	if rec := u.file("ufw/portwarden.conf"); !strings.Contains(rec, "previous_default_input_policy=ACCEPT") {
		t.Errorf("previous default not recorded: %s", rec)
	}

	// ufw enabled in its files but stopped: the rules are there, the
	// state says they are not loaded.
	u.sh("ufw disable >/dev/null")
	st, err := (&UFW{}).State(u.facts())
	if err != nil {
		t.Fatalf("state with ufw disabled: %v", err)
	}
	if !st.Installed || !slices.ContainsFunc(st.Warnings, func(w string) bool { return strings.Contains(w, "ufw is not active") }) {
		t.Errorf("state with ufw disabled: installed %v warnings %q", st.Installed, st.Warnings)
	}
	u.sh("ufw --force enable >/dev/null")

	// Destroy: everything portwarden's goes, the default comes back, the
	// host's rules stay in their order.
	u.apply(Desired{Mode: rule.Additive})
	after := u.file("ufw/user.rules")
	if strings.Contains(after, "comment=") || strings.Contains(u.file("ufw/user6.rules"), "comment=") {
		t.Errorf("portwarden's tuples remain after destroy:\n%s", after)
	}
	for _, want := range []string{"198.18.9.9", "8080", "9999"} {
		if !strings.Contains(after, want) {
			t.Errorf("the host's rule %s is gone after destroy", want)
		}
	}
	if !strings.Contains(u.file("default/ufw"), `DEFAULT_INPUT_POLICY="ACCEPT"`) || !strings.Contains(u.sh("iptables-save"), ":INPUT ACCEPT") {
		t.Errorf("destroy did not restore the default input policy")
	}
	if _, err := os.Stat(filepath.Join(u.dir, "ufw/portwarden.conf")); err == nil {
		t.Errorf("portwarden.conf remains after destroy")
	}
	if st := u.state(); st.Installed || len(st.Rules) > 0 {
		t.Errorf("state after destroy: %+v", st)
	}
}

func mustPrepare(t *testing.T, d Desired) linuxDesired {
	t.Helper()
	dd, err := prepareLinuxDesired(d)
	if err != nil {
		t.Fatal(err)
	}
	return dd
}

// TestUFWKernelRollback: a reload that fails puts the old files back and
// loads them; files changed since the facts make the apply refuse.
func TestUFWKernelRollback(t *testing.T) {
	u := newUFWNS(t)
	u.sh("ufw --force enable >/dev/null && ufw allow 8080/tcp >/dev/null")
	u.sh("ufw default allow incoming >/dev/null")
	before, kernelBefore := u.file("ufw/user.rules"), u.sh("iptables-save -t filter | grep -v '^#'")
	defaultBefore := u.file("default/ufw")

	// A ufw that fails its first reload, as a broken before.rules would.
	wrapper := "#!/bin/sh\nif [ \"$1\" = reload ] && [ ! -e /run/pw-failed ]; then : >/run/pw-failed; echo 'ERROR: problem running ufw-init' >&2; exit 1; fi\nexec /usr/sbin/ufw \"$@\"\n"
	if err := os.WriteFile(filepath.Join(u.sbin, "ufw"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	// What an interrupted earlier run left staged: removed under the lock.
	for _, f := range []string{"ufw/user.rules.portwarden-new", "ufw/user6.rules.portwarden-old-AbCd1234", "default/ufw.portwarden-new-Zz99Yy88"} {
		os.WriteFile(filepath.Join(u.dir, f), []byte("stale\n"), 0o600)
	}
	b, f := u.backend()
	s, err := b.Apply(f, ufwTestDesired(rule.Enforce))
	if err != nil {
		t.Fatal(err)
	}
	// /run is fresh per run: the wrapper fails once within this script.
	out, _, code := u.run(s.Body, s.Stdin)
	for _, pattern := range []string{"ufw/*.portwarden-*", "default/ufw.portwarden-*"} {
		if left, _ := filepath.Glob(filepath.Join(u.dir, pattern)); len(left) > 0 {
			t.Errorf("staged or stale files left after the run: %v", left)
		}
	}
	if code == 0 || !strings.Contains(out, "the old files are back and loaded") {
		t.Fatalf("apply with a failing reload: exit %d\n%s", code, out)
	}
	if got := u.file("ufw/user.rules"); got != before {
		t.Errorf("user.rules changed by a failed apply:\n%s", got)
	}
	if got := u.file("default/ufw"); got != defaultBefore {
		t.Errorf("/etc/default/ufw changed by a failed apply:\n%s", got)
	}
	if got := u.sh("iptables-save -t filter | grep -v '^#'"); stable(got) != stable(kernelBefore) {
		t.Errorf("kernel rules changed by a failed apply:\nbefore:\n%s\nafter:\n%s", kernelBefore, got)
	}
	if _, err := os.Stat(filepath.Join(u.dir, "ufw/portwarden.conf")); err == nil {
		t.Errorf("portwarden.conf written by a failed apply")
	}
	os.Remove(filepath.Join(u.sbin, "ufw"))

	// Stale facts: the admin adds a rule between plan and apply.
	b, f = u.backend()
	s, err = b.Apply(f, ufwTestDesired(rule.Additive))
	if err != nil {
		t.Fatal(err)
	}
	u.sh("ufw allow 9999/tcp >/dev/null")
	mid := u.file("ufw/user.rules")
	out, _, code = u.run(s.Body, s.Stdin)
	if code == 0 || !strings.Contains(out, "changed since the facts were read") {
		t.Fatalf("apply over changed files: exit %d\n%s", code, out)
	}
	if u.file("ufw/user.rules") != mid {
		t.Errorf("an apply over changed files changed them")
	}
}

// TestUFWKernelArmedRevert: an apply that the controller never confirms
// is undone by the host itself: ufw's files come back and ufw reloads
// them.
func TestUFWKernelArmedRevert(t *testing.T) {
	u := newUFWNS(t)
	u.sh("ufw --force enable >/dev/null && ufw allow 8080/tcp >/dev/null")
	before := u.file("ufw/user.rules")
	b, f := u.backend()
	d := ufwTestDesired(rule.Additive)
	d.Guard = Guard{ConfirmTimeout: 4 * time.Second}
	s, err := b.Apply(f, d)
	if err != nil {
		t.Fatal(err)
	}
	// The revert runs detached in the script's mount namespace; the
	// script waits for it here, as a host would go on running. Its timer
	// starts only once the apply returned (gateRevertTimer), so a loaded
	// machine cannot make the apply outlast the timeout; the wait for the
	// revert's exit status is bounded (60s), not a sleep.
	gate := filepath.Join(u.dir, "expire")
	script := filepath.Join(u.dir, "apply.sh")
	if err := os.WriteFile(script, []byte(gateRevertTimer(t, s.Body, gate)), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := u.run("sh "+script+"; rc=$?; : >"+gate+`
i=0; until grep -qs '^exit ' /run/portwarden/apply.*/revert.log || [ "$i" -ge 1200 ]; do sleep 0.05; i=$((i + 1)); done
cat /run/portwarden/apply.*/revert.log; iptables-save -t filter; exit $rc`, s.Stdin)
	if code != 0 || !strings.Contains(out, "confirm=") {
		t.Fatalf("guarded apply: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "\nexit 0\n") {
		t.Errorf("the armed revert did not run, or failed:\n%s", out)
	}
	if got := u.file("ufw/user.rules"); got != before {
		t.Errorf("the armed revert did not put user.rules back:\n%s", got)
	}
	if i := strings.LastIndex(out, "*filter"); i < 0 || strings.Contains(out[i:], "198.18.0.5") || !strings.Contains(out[i:], "--dport 8080") {
		t.Errorf("after the revert, the kernel does not hold the old rules:\n%s", out[max(i, 0):])
	}
}

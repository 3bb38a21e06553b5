package winfw

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/portwarden/portwarden/firewall"
	"github.com/portwarden/portwarden/lab"
	"github.com/portwarden/portwarden/rule"
)

// expectNoRule fails for every rule of fw's store whose name matches:
// what (a description of those rules) must be left behind by none.
func expectNoRule(t *testing.T, fw *Firewall, what string, match func(name string) bool) {
	t.Helper()
	for _, r := range snapshot(t, fw).Rules {
		if match(r.Name) {
			t.Errorf("%s %s left behind", what, r.Name)
		}
	}
}

func newFirewall(t *testing.T) *Firewall {
	t.Helper()
	fw, err := New(Options{StateDir: t.TempDir(), ManagementPort: 5986})
	if err != nil {
		t.Fatal(err)
	}
	return fw
}

func run(t *testing.T, fw *Firewall, script string) (string, string) {
	t.Helper()
	out, errOut, code := fw.Run(context.Background(), script)
	if code != 0 {
		t.Fatalf("script exited %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	return out, errOut
}

func pfx(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		if !strings.Contains(s, "/") {
			a := netip.MustParseAddr(s)
			out[i] = netip.PrefixFrom(a, a.BitLen())
			continue
		}
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

func desired(mode rule.Mode) firewall.Desired {
	many := make([]netip.Prefix, 0, 230)
	for i := range 230 {
		many = append(many, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 9, byte(i / 200), byte(i % 200)}), 32))
	}
	return firewall.Desired{
		Mode: mode,
		Rules: []rule.Rule{
			{Protocol: "tcp", Ports: ports(pr(2500, 3300)), Sources: pfx("10.0.0.5", "10.0.1.0/24", "2001:db8::/64"), Comment: "Veeam data movers"},
			{Protocol: "tcp", Ports: ports(pr(6160, 6160), pr(6162, 6162)), Sources: pfx("10.0.0.5"), Comment: "Veeam installer's service"},
			{Protocol: "tcp", Ports: ports(pr(10005, 10005)), Sources: many, Comment: "many proxies"},
			{Protocol: "udp", Ports: ports(pr(111, 111)), Sources: pfx("10.0.0.5")},
		},
		ManagementPort:    5986,
		ManagementSources: pfx("192.0.2.10"),
	}
}

func state(t *testing.T, out string) firewall.State {
	t.Helper()
	st, err := firewall.Windows{}.State(firewall.ParseFacts(out))
	if err != nil {
		t.Fatalf("State: %v\noutput:\n%s", err, out)
	}
	return st
}

func pr(lo, hi uint16) rule.PortRange { return rule.PortRange{Lo: lo, Hi: hi} }

func ports(ps ...rule.PortRange) []rule.PortRange { return ps }

var cmpPrefix = cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })

func apply(t *testing.T, fw *Firewall, d firewall.Desired) firewall.State {
	t.Helper()
	s, err := firewall.Windows{}.Apply(nil, d)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := run(t, fw, s.Body)
	return state(t, out)
}

func foreignRules(st State) []Rule {
	var out []Rule
	for _, r := range st.Rules {
		if r.Group != rule.Tag {
			out = append(out, r)
		}
	}
	return out
}

func snapshot(t *testing.T, fw *Firewall) State {
	t.Helper()
	st, err := fw.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestApplyRoundTrip(t *testing.T) {
	for _, mode := range []rule.Mode{rule.Additive, rule.Enforce} {
		t.Run(string(mode), func(t *testing.T) {
			fw := newFirewall(t)
			before := snapshot(t, fw)
			d := desired(mode)

			got := apply(t, fw, d)
			want := firewall.State{Backend: "windows", Installed: true, Mode: mode, Rules: slices.Clone(d.Rules)}
			for i := range want.Rules {
				want.Rules[i] = want.Rules[i].Normalize()
			}
			slices.SortFunc(want.Rules, func(a, b rule.Rule) int { return strings.Compare(a.Key(), b.Key()) })
			if mode == rule.Enforce {
				m := rule.Rule{Protocol: "tcp", Ports: []rule.PortRange{{Lo: d.ManagementPort, Hi: d.ManagementPort}},
					Sources: d.ManagementSources}.Normalize()
				want.Management = &m
			}
			if diff := cmp.Diff(want, got, cmpPrefix); diff != "" {
				t.Fatalf("state after apply (-want +got):\n%s", diff)
			}
			// The facts script reads the same.
			out, _ := run(t, fw, firewall.WindowsFactsScript.Body)
			if diff := cmp.Diff(want, state(t, out), cmpPrefix); diff != "" {
				t.Errorf("facts after apply (-want +got):\n%s", diff)
			}

			after := snapshot(t, fw)
			if diff := cmp.Diff(foreignRules(before), foreignRules(after)); diff != "" {
				t.Errorf("foreign rules changed (-before +after):\n%s", diff)
			}
			// A fresh host's NotConfigured already means Block, so enforce
			// mode leaves it (and never writes NotConfigured back).
			wantProfile := "NotConfigured"
			for _, p := range after.Profiles {
				if p.DefaultInboundAction != wantProfile {
					t.Errorf("profile %s DefaultInboundAction = %s, want %s", p.Name, p.DefaultInboundAction, wantProfile)
				}
			}

			// A second apply changes nothing.
			again := apply(t, fw, d)
			if diff := cmp.Diff(want, again, cmpPrefix); diff != "" {
				t.Errorf("state after second apply (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(after, snapshot(t, fw)); diff != "" {
				t.Errorf("second apply changed the firewall (-first +second):\n%s", diff)
			}
		})
	}
}

func TestModeSwitchRestoresDefaults(t *testing.T) {
	fw := newFirewall(t)
	// Someone had set Private to Allow before portwarden came.
	if err := fw.Modify(func(st *State) error {
		st.profile("Private").DefaultInboundAction = "Allow"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	d := desired(rule.Enforce)
	if st := apply(t, fw, d); st.Mode != rule.Enforce || len(st.Drift) != 0 {
		t.Fatalf("after enforce: mode %s, drift %v", st.Mode, st.Drift)
	}
	if snap := snapshot(t, fw); snap.profile("Private").DefaultInboundAction != "Block" {
		t.Fatalf("enforce mode left Private at %s", snap.profile("Private").DefaultInboundAction)
	}
	// Re-applying enforce keeps the record of the original defaults.
	apply(t, fw, d)
	d.Mode = rule.Additive
	st := apply(t, fw, d)
	if st.Mode != rule.Additive {
		t.Fatalf("after additive: mode %s", st.Mode)
	}
	got := map[string]string{}
	for _, p := range snapshot(t, fw).Profiles {
		got[p.Name] = p.DefaultInboundAction
	}
	// Enforce mode left the NotConfigured profiles alone (NotConfigured
	// is Block there), so nothing has to be written back to them.
	want := map[string]string{"Domain": "NotConfigured", "Private": "Allow", "Public": "NotConfigured"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults after leaving enforce mode (-want +got):\n%s", diff)
	}
	expectNoRule(t, fw, "management rule", func(name string) bool { return strings.HasPrefix(name, "portwarden-management") })
}

func TestEnforceDriftWhenDefaultChangedByHand(t *testing.T) {
	fw := newFirewall(t)
	apply(t, fw, desired(rule.Enforce))
	if err := fw.Modify(func(st *State) error {
		st.profile("Public").DefaultInboundAction = "Allow"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	out, _ := run(t, fw, firewall.WindowsFactsScript.Body)
	st := state(t, out)
	if st.Mode != rule.Enforce || len(st.Drift) != 1 || !strings.Contains(st.Drift[0], "Public") {
		t.Fatalf("mode %s, drift %q", st.Mode, st.Drift)
	}
	if st := apply(t, fw, desired(rule.Enforce)); len(st.Drift) != 0 {
		t.Errorf("drift after re-apply: %q", st.Drift)
	}
}

func TestApplyEmptiesGroup(t *testing.T) {
	fw := newFirewall(t)
	apply(t, fw, desired(rule.Additive))
	st := apply(t, fw, firewall.Desired{Mode: rule.Additive})
	if st.Installed || len(st.Rules) != 0 {
		t.Fatalf("after applying nothing: %+v", st)
	}
	if diff := cmp.Diff(DefaultState(5986), snapshot(t, fw)); diff != "" {
		t.Errorf("firewall differs from a fresh one (-fresh +got):\n%s", diff)
	}
}

func TestApplyRollsBackWhenACreationFails(t *testing.T) {
	fw := newFirewall(t)
	apply(t, fw, desired(rule.Additive))

	// A rule outside portwarden's group holds the temporary name of the
	// last rule the next apply creates, so that creation fails.
	d := desired(rule.Additive)
	d.Rules = append(d.Rules, rule.Rule{Protocol: "udp", Ports: ports(pr(999, 999)), Sources: pfx("10.0.0.7")})
	s, err := firewall.Windows{}.Apply(nil, d)
	if err != nil {
		t.Fatal(err)
	}
	var pending string
	for _, line := range strings.Split(s.Body, "\n") {
		if strings.Contains(line, "portwarden-udp-999-") {
			pending = strings.Split(strings.Split(line, "-Name '")[1], "'")[0]
		}
	}
	if pending == "" {
		t.Fatal("no pending name found in the script")
	}
	run(t, fw, "New-NetFirewallRule -Name '"+pending+"' -DisplayName squatter -Group other | Out-Null")
	before := snapshot(t, fw)

	out, errOut, code := fw.Run(context.Background(), s.Body)
	if code == 0 {
		t.Fatalf("apply succeeded despite the name clash:\n%s", out)
	}
	if !strings.Contains(errOut, "Cannot create a file when that file already exists.") {
		t.Errorf("stderr does not explain the failure:\n%s", errOut)
	}
	if diff := cmp.Diff(before, snapshot(t, fw)); diff != "" {
		t.Errorf("a failed apply changed the firewall (-before +after):\n%s", diff)
	}
}

func TestApplyCleansUpAnInterruptedRun(t *testing.T) {
	fw := newFirewall(t)
	d := desired(rule.Additive)
	s, err := firewall.Windows{}.Apply(nil, d)
	if err != nil {
		t.Fatal(err)
	}
	// Run only up to the creation of the new rules, as if the connection
	// had dropped there: both pending rules and nothing else exist.
	// The run ends without releasing the host-wide lock, which the next
	// run finds abandoned.
	body := s.Body[:strings.Index(s.Body, "$pwPhase=2\n")] + "}catch{throw}\n}finally{}\n"
	run(t, fw, body)
	out, _ := run(t, fw, firewall.WindowsFactsScript.Body)
	if st := state(t, out); len(st.Drift) == 0 {
		t.Errorf("leftover pending rules are not reported as drift: %+v", st)
	}
	st := apply(t, fw, d)
	if len(st.Drift) != 0 || len(st.Rules) != len(d.Rules) {
		t.Errorf("after re-apply: %+v", st)
	}
	expectNoRule(t, fw, "pending rule", func(name string) bool { return strings.Contains(name, "-pending-") })
}

func TestOnlyPortwardenGroupIsTouched(t *testing.T) {
	fw := newFirewall(t)
	// A hand-made rule whose name starts like portwarden's, in another
	// group, must survive.
	run(t, fw, "New-NetFirewallRule -Name 'portwarden-tcp-22-00000000' -DisplayName 'not ours' -Group 'Admins' -Protocol TCP -LocalPort 22 | Out-Null")
	before := foreignRules(snapshot(t, fw))
	apply(t, fw, desired(rule.Enforce))
	apply(t, fw, desired(rule.Additive))
	apply(t, fw, firewall.Desired{Mode: rule.Additive})
	if diff := cmp.Diff(before, foreignRules(snapshot(t, fw))); diff != "" {
		t.Errorf("foreign rules changed (-before +after):\n%s", diff)
	}
}

func TestWarningsFromProfiles(t *testing.T) {
	fw := newFirewall(t)
	if err := fw.Modify(func(st *State) error {
		st.profile("Domain").Enabled = "False"
		st.profile("Public").GroupPolicy.AllowLocalFirewallRules = "False"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	st := apply(t, fw, desired(rule.Additive))
	want := []string{
		"Windows Firewall profile Domain is disabled: rules have no effect",
		"Windows Firewall profile Public does not merge local rules (AllowLocalFirewallRules is False, set by Group Policy): portwarden's rules have no effect",
	}
	if diff := cmp.Diff(want, st.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

func TestStatePersists(t *testing.T) {
	dir := t.TempDir()
	fw, err := New(Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	apply(t, fw, desired(rule.Additive))
	fw2, err := New(Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := run(t, fw2, firewall.WindowsFactsScript.Body)
	if st := state(t, out); len(st.Rules) != 4 {
		t.Errorf("after restart: %+v", st)
	}
	// The store is plain JSON that tests may edit.
	b, err := os.ReadFile(filepath.Join(dir, "winfw.json"))
	if err != nil || !strings.Contains(string(b), `"ActiveProfile": "Public"`) {
		t.Errorf("winfw.json: %v\n%s", err, b)
	}
}

func TestFailsLoudly(t *testing.T) {
	tests := []struct {
		name, script, stderr string
	}{
		{"unknown cmdlet", "Get-NetFirewallRule -Group portwarden -ErrorAction SilentlyContinue\nSet-NetFirewallRule -Name x -Enabled False", "The term 'Set-NetFirewallRule' is not recognized"},
		{"unknown cmdlet caught", "try { Invoke-WebRequest http://x } catch { 'caught' }", "is not recognized"},
		{"unknown parameter", "Get-NetFirewallRule -Group portwarden -TracePolicyStore", "A parameter cannot be found that matches parameter name 'TracePolicyStore'"},
		{"unsupported keyword", "while($true){}", "'while' keyword is not supported"},
		{"unsupported expansion", `$x="a $env:TEMP"`, "not supported by the PowerShell simulation"},
		{"unsupported method", "'abc'.PadLeft(5)", "PadLeft"},
		{"unsupported store", "Get-NetFirewallRule -PolicyStore RSOP", "PolicyStore RSOP"},
		{"parse error", "if ($x { }", "Missing"},
		{"bad path", "Set-Content -Path C:\\Windows\\x.txt -Value 1", "has files only in"},
		{"throw", "throw 'boom'", "boom"},
		{"bad enum", "New-NetFirewallRule -DisplayName x -Direction Sideways", "Unable to match the identifier name Sideways"},
		{"bad address", "New-NetFirewallRule -DisplayName x -Protocol TCP -LocalPort 1 -RemoteAddress 10.0.0.300", "The address is invalid"},
		{"port without protocol", "New-NetFirewallRule -DisplayName x -LocalPort 80", "ports can be specified only"},
		{"missing display name", "New-NetFirewallRule -Name x", "missing mandatory parameters: DisplayName"},
		{"null index", "$a=$null; $a[0]", "Cannot index into a null array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fw := newFirewall(t)
			before := snapshot(t, fw)
			out, errOut, code := fw.Run(context.Background(), tt.script)
			if code == 0 {
				t.Errorf("exit code 0, stdout %q", out)
			}
			if !strings.Contains(errOut, tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, errOut)
			}
			if strings.Contains(out, "caught") {
				t.Error("a simulation limit was caught by try/catch")
			}
			if diff := cmp.Diff(before, snapshot(t, fw)); diff != "" {
				t.Errorf("firewall changed (-before +after):\n%s", diff)
			}
		})
	}
}

func TestDuplicateNameFails(t *testing.T) {
	fw := newFirewall(t)
	run(t, fw, "New-NetFirewallRule -Name dup -DisplayName one | Out-Null")
	out, errOut, code := fw.Run(context.Background(), "New-NetFirewallRule -Name DUP -DisplayName two | Out-Null\n'after'")
	// With ErrorActionPreference Continue the error is shown and the
	// script goes on, like Windows.
	if !strings.Contains(errOut, "Cannot create a file when that file already exists.") || !strings.Contains(out, "after") || code != 0 {
		t.Errorf("exit %d, stdout %q, stderr:\n%s", code, out, errOut)
	}
	_, errOut, code = fw.Run(context.Background(), "$ErrorActionPreference='Stop'\nNew-NetFirewallRule -Name dup -DisplayName two\n'after'")
	if code != 1 || !strings.Contains(errOut, "Windows System Error 183") {
		t.Errorf("with Stop: exit %d, stderr:\n%s", code, errOut)
	}
	n := 0
	for _, r := range snapshot(t, fw).Rules {
		if strings.EqualFold(r.Name, "dup") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d rules named dup", n)
	}
}

func TestRemoveNetFirewallRuleSemantics(t *testing.T) {
	fw := newFirewall(t)
	count := func() int { return len(snapshot(t, fw).Rules) }
	n := count()
	// An empty pipeline removes nothing.
	run(t, fw, "@() | Remove-NetFirewallRule")
	if count() != n {
		t.Fatal("an empty pipeline removed rules")
	}
	// A name that does not exist is an ObjectNotFound error.
	_, errOut, code := fw.Run(context.Background(), "Remove-NetFirewallRule -Name nope")
	if code != 1 || !strings.Contains(errOut, "No MSFT_NetFirewallRule objects found with property 'InstanceID' equal to 'nope'") {
		t.Errorf("exit %d, stderr:\n%s", code, errOut)
	}
	// Without a selector every rule goes, as on Windows.
	run(t, fw, "Remove-NetFirewallRule")
	if count() != 0 {
		t.Errorf("Remove-NetFirewallRule without selector left %d rules", count())
	}
}

func TestPowerShellSubset(t *testing.T) {
	tests := []struct {
		name, script, want string
	}{
		{"enum to json is a number", "ConvertTo-Json -InputObject (Get-NetFirewallProfile -Name Domain).Enabled", "1\r\n"},
		{"enum cast is its name", "[string](Get-NetFirewallProfile -Name Domain).Enabled", "True\r\n"},
		{"enum compares with strings", "if((Get-NetFirewallProfile -Name Public).DefaultInboundAction -eq 'notconfigured'){'yes'}", "yes\r\n"},
		{"array filter", "$a=1,2,3; @($a|Where-Object{$_ -ne 2}).Count", "2\r\n"},
		{"ordered json", "ConvertTo-Json -Compress -InputObject ([ordered]@{b=1;a='x'})", `{"b":1,"a":"x"}` + "\r\n"},
		{"pscustomobject json", "ConvertTo-Json -Compress -InputObject @([pscustomobject]@{A=@('x')})", `[{"A":["x"]}]` + "\r\n"},
		{"json round trip", "$o=ConvertFrom-Json '{\"Domain\":\"Allow\"}'; $n='Domain'; $o.$n", "Allow\r\n"},
		{"foreach and +=", "$s=@(); foreach($x in 'a','b'){$s+=$x}; $s.Count", "2\r\n"},
		{"try catch finally", "try{throw 'x'}catch{'c:'+$_.Exception.Message}finally{'f'}", "c:x\r\nf\r\n"},
		{"replace", "'name-pending-1234abcd' -replace '-pending-1234abcd$',''", "name\r\n"},
		{"like", "'portwarden-management-pending-1' -like 'portwarden-management*'", "True\r\n"},
		{"error variable", "Get-NetFirewallRule -Group nothing -ErrorAction SilentlyContinue -ErrorVariable e; [string]$e[0].CategoryInfo.Category", "ObjectNotFound\r\n"},
		{"splatting", "$c=@{Group='g';Protocol='TCP'}; (New-NetFirewallRule @c -Name n -DisplayName d -LocalPort 1).Group", "g\r\n"},
		{"hashtable index", "$h=@{}; $h['K']=1; $h['k']", "1\r\n"},
		{"not", "if(!$null -and -not ''){'ok'}", "ok\r\n"},
		{"member enumeration", "@((Get-NetFirewallProfile).Name) -join ','", ""},
		{"address normalisation", "(New-NetFirewallRule -Name a -DisplayName a -Protocol TCP -LocalPort 1 -RemoteAddress '2001:db8::/64','10.0.1.0/24','10.0.0.5/32' | Get-NetFirewallAddressFilter).RemoteAddress", "10.0.1.0/255.255.255.0\r\n10.0.0.5\r\n2001:db8::/64\r\n"},
		{"staging primitives", "$f=Join-Path $env:TEMP 'x.b64'\nSet-Content -LiteralPath $f -Value 'J2hp'\nAdd-Content -LiteralPath $f -Value 'Jw=='\n$b=[Convert]::FromBase64String((Get-Content -LiteralPath $f -Raw))\nRemove-Item -LiteralPath $f -Force\n& ([scriptblock]::Create([Text.Encoding]::UTF8.GetString($b)))\n$b.Length", "hi\r\n4\r\n"},
		{"exit code", "'x'; exit 3", "x\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fw := newFirewall(t)
			out, errOut, code := fw.Run(context.Background(), tt.script)
			if tt.name == "member enumeration" {
				// -join is outside the subset: it must fail, not
				// succeed silently.
				if code == 0 {
					t.Errorf("-join succeeded: %q", out)
				}
				return
			}
			wantCode := 0
			if tt.name == "exit code" {
				wantCode = 3
			}
			if code != wantCode || out != tt.want {
				t.Errorf("exit %d, stdout %q, want %q\nstderr:\n%s", code, out, tt.want, errOut)
			}
		})
	}
}

func TestRuleset(t *testing.T) {
	fw := newFirewall(t)
	apply(t, fw, desired(rule.Enforce))
	rs := Ruleset(ptr(snapshot(t, fw)))
	for _, want := range []string{
		"policy drop;",
		"ct state established,related accept",
		`ip saddr 192.0.2.10 tcp dport 5986 accept comment "portwarden-management"`,
		`ip saddr { 10.0.0.5, 10.0.1.0/24 } tcp dport 2500-3300 accept`,
		`ip6 saddr 2001:db8::/64 tcp dport 2500-3300 accept`,
		`tcp dport { 6160, 6162 } accept`,
		`tcp dport 5986 accept comment "WINRM-HTTPS-In-TCP"`,
	} {
		if !strings.Contains(rs, want) {
			t.Errorf("ruleset lacks %q:\n%s", want, rs)
		}
	}
	// The Public profile's WinRM HTTP rule has a LocalSubnet scope, which
	// the lab cannot evaluate: it matches nothing.
	if strings.Contains(rs, "5985") {
		t.Errorf("ruleset enforces a LocalSubnet rule:\n%s", rs)
	}
	if err := fw.Modify(func(st *State) error {
		st.profile("Public").Enabled = "False"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if rs := Ruleset(ptr(snapshot(t, fw))); !strings.Contains(rs, "policy accept;") || strings.Contains(rs, "dport") {
		t.Errorf("disabled profile still filters:\n%s", rs)
	}
}

func ptr[T any](v T) *T { return &v }

func TestEnforcementInNamespace(t *testing.T) {
	lab.SkipUnlessRoot(t, "a network namespace")
	for _, tool := range []string{"ip", "nft"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s: %v", tool, err)
		}
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	ns := "pwwf-" + hex.EncodeToString(b)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace: %v: %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "delete", ns).Run() })

	fw, err := New(Options{StateDir: t.TempDir(), Namespace: ns, ManagementPort: 5986})
	if err != nil {
		t.Fatal(err)
	}
	list := func() string {
		out, err := exec.Command("ip", "netns", "exec", ns, "nft", "list", "table", "inet", "winfw").CombinedOutput()
		if err != nil {
			t.Fatalf("nft list: %v: %s", err, out)
		}
		return string(out)
	}
	if got := list(); !strings.Contains(got, "policy drop") || !strings.Contains(got, "tcp dport 5986 accept") {
		t.Errorf("fresh host ruleset:\n%s", got)
	}
	apply(t, fw, desired(rule.Enforce))
	got := list()
	for _, want := range []string{"ip saddr 192.0.2.10 tcp dport 5986 accept", "tcp dport 2500-3300 accept", "10.9.1.29", "ip6 saddr 2001:db8::/64"} {
		if !strings.Contains(got, want) {
			t.Errorf("enforced ruleset lacks %q:\n%s", want, got)
		}
	}
	// The root namespace has no such table.
	if out, err := exec.Command("nft", "list", "table", "inet", "winfw").CombinedOutput(); err == nil {
		t.Errorf("table inet winfw exists in the root namespace:\n%s", out)
	}
	apply(t, fw, firewall.Desired{Mode: rule.Additive})
	if got := list(); strings.Contains(got, "2500-3300") {
		t.Errorf("rules left after removing them:\n%s", got)
	}
	if !slices.ContainsFunc(snapshot(t, fw).Rules, func(r Rule) bool { return r.Name == "WINRM-HTTPS-In-TCP" }) {
		t.Error("the WinRM rule is gone")
	}
}

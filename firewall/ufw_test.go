package firewall

import (
	"encoding/hex"
	"maps"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/portwarden/portwarden/rule"
)

func TestUFWOwnedHex(t *testing.T) {
	if got := hex.EncodeToString([]byte(ufwOwnedPrefix)); got != ufwOwnedHex {
		t.Errorf("ufwOwnedHex = %s, want %s", ufwOwnedHex, got)
	}
}

func readUFWFixture(t *testing.T, name string) *ufwFile {
	t.Helper()
	b, err := os.ReadFile("testdata/linux/ufw/" + name)
	if err != nil {
		t.Fatal(err)
	}
	f, err := parseUFWFile(name, string(b))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestUFWRenderMatchesUFW: the tuples and iptables lines portwarden writes
// are byte for byte those ufw itself wrote for the same rules, and the
// files read back as the rules that were asked for.
func TestUFWRenderMatchesUFW(t *testing.T) {
	d := mustPrepare(t, Desired{
		Mode: rule.Enforce,
		Rules: []rule.Rule{
			{Protocol: "tcp", Ports: []rule.PortRange{{Lo: 2500, Hi: 3300}, {Lo: 443, Hi: 443}}, Sources: []netip.Prefix{netip.MustParsePrefix("198.18.0.5/32")}, Comment: "Veeam data movers"},
			{Protocol: "tcp", Ports: []rule.PortRange{{Lo: 9392, Hi: 9392}}, Sources: []netip.Prefix{netip.MustParsePrefix("fd70::/64")}},
			{Protocol: "udp", Ports: []rule.PortRange{{Lo: 111, Hi: 111}}, Sources: []netip.Prefix{netip.MustParsePrefix("198.18.1.0/24")}},
		},
		ManagementPort:    22,
		ManagementSources: []netip.Prefix{netip.MustParsePrefix("fd70::1/128")},
	})
	for _, tc := range []struct {
		file string
		v6   bool
	}{{"user.rules.by-ufw", false}, {"user6.rules.by-ufw", true}} {
		f := readUFWFixture(t, tc.file)
		got := blockTexts(ufwOwnedBlocks(d, tc.v6))
		want := blockTexts(f.ownedBlocks())
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: portwarden renders\n%s\nufw wrote\n%s", tc.file, strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		// The host's tuple (22/tcp from anywhere) is kept, after ours.
		out, err := parseUFWFile(tc.file, f.render(ufwOwnedBlocks(d, tc.v6)))
		if err != nil {
			t.Fatal(err)
		}
		if n := len(out.blocks); n == 0 || out.blocks[n-1].tuple.owned() || out.blocks[n-1].tuple.fields[2] != "22" {
			t.Errorf("%s: the host's rule is not kept last: %+v", tc.file, out.blocks)
		}
	}
	read4, err := readUFWOwned(readUFWFixture(t, "user.rules.by-ufw").ownedBlocks())
	if err != nil {
		t.Fatal(err)
	}
	if got := rulesText(read4.rules); got != "tcp/443,2500-3300 from 198.18.0.5/32 # Veeam data movers\nudp/111 from 198.18.1.0/24 # \n" {
		t.Errorf("rules read back:\n%s", got)
	}
	read6, _ := readUFWOwned(readUFWFixture(t, "user6.rules.by-ufw").ownedBlocks())
	if read6.mgmt == nil || read6.mgmt.Key() != "tcp/22" || read6.mgmt.Sources[0] != netip.MustParsePrefix("fd70::1/128") {
		t.Errorf("management rule read back: %+v", read6.mgmt)
	}
}

func blockTexts(bs []ufwBlock) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.tuple.String()+"\n"+strings.Join(b.lines, "\n"))
	}
	return out
}

func TestUFWParseRejects(t *testing.T) {
	for name, text := range map[string]string{
		"template":  "*filter\n:ufw-user-input - [0:0]\nCOMMIT\n",
		"bad tuple": "*filter\n### RULES ###\n\n### tuple ### allow tcp\n\n### END RULES ###\nCOMMIT\n",
		"bad hex":   "*filter\n### RULES ###\n\n### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in comment=zz\n\n### END RULES ###\nCOMMIT\n",
		"stray":     "*filter\n### RULES ###\n-A ufw-user-input -j ACCEPT\n\n### END RULES ###\nCOMMIT\n",
	} {
		if _, err := parseUFWFile("user.rules", text); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

func TestSetUFWDefault(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"IPV6=yes\nDEFAULT_INPUT_POLICY=\"ACCEPT\"\nX=1\n", "IPV6=yes\nDEFAULT_INPUT_POLICY=\"DROP\"\nX=1\n"},
		{"IPV6=yes", "IPV6=yes\nDEFAULT_INPUT_POLICY=\"DROP\"\n"},
		{"# DEFAULT_INPUT_POLICY=\"ACCEPT\"\n", "# DEFAULT_INPUT_POLICY=\"ACCEPT\"\nDEFAULT_INPUT_POLICY=\"DROP\"\n"},
	} {
		if got := setUFWDefault(tc.in, "DEFAULT_INPUT_POLICY", "DROP"); got != tc.want {
			t.Errorf("setUFWDefault(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// ufwTestHost is a host whose ufw files are the fixtures.
func ufwTestHost(t *testing.T, defaults, record string) *ufwHost {
	t.Helper()
	raw := map[string]string{ufwDefaultPath: defaults, ufwRecordPath: record}
	for path, fx := range map[string]string{ufwRulesPath: "user.rules.by-ufw", ufwRules6Path: "user6.rules.by-ufw"} {
		b, err := os.ReadFile("testdata/linux/ufw/" + fx)
		if err != nil {
			t.Fatal(err)
		}
		raw[path] = string(b)
	}
	h := &ufwHost{raw: raw, defaults: parseUFWDefaults(defaults)}
	h.rules = readUFWFixture(t, "user.rules.by-ufw")
	if h.defaults.ipv6 {
		h.rules6 = readUFWFixture(t, "user6.rules.by-ufw")
	}
	var err error
	if h.record, err = parseUFWRecord(record); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestUFWPlanModes: entering enforce records the host's default, leaving
// it puts the default back and removes the record; IPV6=no refuses IPv6
// sources.
func TestUFWPlanModes(t *testing.T) {
	https := rule.Rule{Protocol: "tcp", Ports: []rule.PortRange{{Lo: 443, Hi: 443}}, Sources: []netip.Prefix{netip.MustParsePrefix("198.18.0.5/32")}}
	enforce := mustPrepare(t, Desired{Mode: rule.Enforce, Rules: []rule.Rule{https}, ManagementPort: 22, ManagementSources: []netip.Prefix{netip.MustParsePrefix("198.18.0.1/32")}})
	additive := mustPrepare(t, Desired{Mode: rule.Additive, Rules: []rule.Rule{https}})
	accept := "IPV6=yes\nDEFAULT_INPUT_POLICY=\"ACCEPT\"\n"
	dropped := "IPV6=yes\nDEFAULT_INPUT_POLICY=\"DROP\"\n"
	rec := ufwRecord{mode: rule.Enforce, previousInput: "ACCEPT"}.render()

	p, err := ufwTestHost(t, accept, "").plan(enforce)
	if err != nil {
		t.Fatal(err)
	}
	if p.write[ufwDefaultPath] != dropped || p.write[ufwRecordPath] != rec {
		t.Errorf("entering enforce writes default %q record %q", p.write[ufwDefaultPath], p.write[ufwRecordPath])
	}
	// Enforce again with the record there: the recorded default stays the
	// host's original, not the DROP enforce set.
	p, _ = ufwTestHost(t, dropped, rec).plan(enforce)
	if _, ok := p.write[ufwRecordPath]; ok || p.write[ufwDefaultPath] != "" {
		t.Errorf("enforce again rewrites %v", slices.Collect(maps.Keys(p.write)))
	}
	p, _ = ufwTestHost(t, dropped, rec).plan(additive)
	if p.write[ufwDefaultPath] != accept || !slices.Equal(p.remove, []string{ufwRecordPath}) {
		t.Errorf("leaving enforce: default %q remove %v", p.write[ufwDefaultPath], p.remove)
	}
	if !strings.Contains(p.sums, ufwRulesPath) || !strings.Contains(p.sums, ufwRecordPath) {
		t.Errorf("checksums do not cover the files read: %q", p.sums)
	}
	v6 := mustPrepare(t, Desired{Mode: rule.Additive, Rules: []rule.Rule{{Protocol: "tcp", Ports: []rule.PortRange{{Lo: 443, Hi: 443}}, Sources: []netip.Prefix{netip.MustParsePrefix("fd70::5/128")}}}})
	if _, err := ufwTestHost(t, "IPV6=no\n", "").plan(v6); err == nil || !strings.Contains(err.Error(), "IPV6=no") {
		t.Errorf("IPv6 source with IPV6=no: %v", err)
	}
}

func TestUFWOrderDrift(t *testing.T) {
	f := readUFWFixture(t, "user.rules.by-ufw")
	if d := ufwOrderDrift(f, false); d != nil {
		t.Errorf("an allow before portwarden's rules is drift: %q", d)
	}
	f.blocks[0].tuple.fields[0] = "deny"
	if d := ufwOrderDrift(f, false); len(d) != 1 || !strings.Contains(d[0], "comes before portwarden's rules") {
		t.Errorf("a deny before portwarden's rules: %q", d)
	}
}

// ufwFacts is the empty host's facts with ufw installed and active and
// the fixture files as its ufw files.
func ufwFacts(t *testing.T, defaults string) Facts {
	t.Helper()
	f := loadFacts(t, "empty")
	f = withSection(f, linuxSecTools, f[linuxSecTools]+"/usr/sbin/ufw\n")
	f = withSection(f, linuxSecServices, "systemd=no\nufw.status=Status: active\n")
	for sec, fx := range map[string]string{ufwSecRules: "user.rules.by-ufw", ufwSecRules6: "user6.rules.by-ufw"} {
		b, err := os.ReadFile("testdata/linux/ufw/" + fx)
		if err != nil {
			t.Fatal(err)
		}
		f = withSection(f, sec, string(b)+"\n")
	}
	f = withSection(f, ufwSecDefault, defaults+"\n")
	return withSection(f, ufwSecRecord, "\n")
}

func TestUFWApplyScript(t *testing.T) {
	d := Desired{Mode: rule.Enforce, ManagementPort: 22, ManagementSources: []netip.Prefix{netip.MustParsePrefix("198.18.0.1/32")},
		Rules: []rule.Rule{{Protocol: "tcp", Ports: []rule.PortRange{{Lo: 443, Hi: 443}}, Sources: []netip.Prefix{netip.MustParsePrefix("198.18.0.5/32")}}}}
	s, err := (&UFW{}).Apply(ufwFacts(t, "IPV6=yes\nDEFAULT_INPUT_POLICY=\"ACCEPT\"\n"), d)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sha256sum /etc/ufw/user.rules", "iptables-restore --test -n", "ip6tables-restore --test -n", "ufw reload", `mv -f /etc/ufw/user.rules.portwarden-new-"$pw_runid" /etc/ufw/user.rules`, "pw_runid=${pw_state##*.}"} {
		if !strings.Contains(s.Body, want) {
			t.Errorf("apply script lacks %q", want)
		}
	}
	if !strings.Contains(string(s.Stdin), ufwFileMarker+ufwRecordPath) || !strings.Contains(string(s.Stdin), `DEFAULT_INPUT_POLICY="DROP"`) {
		t.Errorf("enforce does not send the record and the default:\n%s", s.Stdin)
	}
	// A host file with portwarden's framing lines in it is refused.
	_, err = (&UFW{}).Apply(ufwFacts(t, "IPV6=yes\n"+iptEndMarker+"\nDEFAULT_INPUT_POLICY=\"ACCEPT\"\n"), d)
	if err == nil || !strings.Contains(err.Error(), "frame") {
		t.Errorf("framing line in /etc/default/ufw: %v", err)
	}
	// The state of the fixture host: ufw's own portwarden-tagged tuples.
	st, err := (&UFW{}).State(ufwFacts(t, "IPV6=yes\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !st.Installed || len(st.Rules) != 3 || st.Mode != rule.Additive {
		t.Errorf("state: %+v", st)
	}
}

package firewall

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/portwarden/portwarden/rule"
	"go4.org/netipx"
)

// windowsReadGroup loads the rules of portwarden's group into $VAR.
// Get-NetFirewallRule reports an empty group as an ObjectNotFound error,
// which with ErrorActionPreference=Stop would end the script; the error is
// collected instead and anything else than ObjectNotFound is rethrown, so
// that access denied is never mistaken for "no rules".
const windowsReadGroup = `$VAR=@(Get-NetFirewallRule -Group 'portwarden' -PolicyStore PersistentStore -ErrorAction SilentlyContinue -ErrorVariable e)
if(@($e|Where-Object{$_.CategoryInfo.Category -ne 'ObjectNotFound'}).Count){throw $e[0]}
`

// windowsPrintFacts prints the sections State reads. Port and address
// filters are fetched with one cmdlet call each for all rules of the group
// and joined to the rules by InstanceID (a filter's InstanceID is its
// rule's). Enum values are converted with [string] because Windows
// PowerShell's ConvertTo-Json writes enums as numbers. The rules come from
// the PersistentStore, where portwarden writes them; the profiles come
// from the ActiveStore so that Group Policy overrides show.
var windowsPrintFacts = windowsRuleObjects("r", "o") + `'### portwarden:windows-rules'
ConvertTo-Json -Compress -Depth 3 -InputObject $o
$o=@(foreach($x in Get-NetFirewallProfile -PolicyStore ActiveStore){[pscustomobject]@{Name=[string]$x.Name;Enabled=[string]$x.Enabled;DefaultInboundAction=[string]$x.DefaultInboundAction;AllowInboundRules=[string]$x.AllowInboundRules;AllowLocalFirewallRules=[string]$x.AllowLocalFirewallRules}})
'### portwarden:windows-profiles'
ConvertTo-Json -Compress -InputObject $o
`

// windowsRuleObjects turns the rules in $IN into objects in $OUT with
// their port and address filters, as the facts print them.
func windowsRuleObjects(in, out string) string {
	return strings.NewReplacer("$IN", "$"+in, "$OUT", "$"+out).Replace(`$pf=@{};$af=@{}
if($IN.Count){foreach($x in $IN|Get-NetFirewallPortFilter){$pf[$x.InstanceID]=$x};foreach($x in $IN|Get-NetFirewallAddressFilter){$af[$x.InstanceID]=$x}}
$OUT=@(foreach($x in $IN){$p=$pf[$x.Name];$a=$af[$x.Name];[pscustomobject]@{Name=$x.Name;DisplayName=$x.DisplayName;Description=$x.Description;Enabled=[string]$x.Enabled;Direction=[string]$x.Direction;Action=[string]$x.Action;Profile=[string]$x.Profile;Protocol=[string]$p.Protocol;LocalPort=@($p.LocalPort);RemoteAddress=@($a.RemoteAddress)}})
`)
}

func windowsReadGroupInto(v string) string {
	return strings.ReplaceAll(windowsReadGroup, "$VAR", "$"+v)
}

// WindowsFactsScript gathers the facts Windows.State reads, in one round
// trip: portwarden's rules with their port and address filters, and the
// three firewall profiles.
var WindowsFactsScript = Script{
	Shell: windowsShell,
	Body:  windowsPreamble + windowsReadGroupInto("r") + windowsPrintFacts + windowsSessionFacts,
}

// windowsSessionSection holds the host's own view of the WinRM session
// that ran the facts script: "client=ADDRESS", the ClientIP of the shell
// whose ShellId the transport passes in as $PortwardenShellId (the
// controller knows its shell's id, the host knows who created it). Behind
// NAT or a port forward only the host knows that address.
const windowsSessionSection = "windows-session"

// windowsSessionFacts prints windowsSessionSection. Get-WSManInstance
// enumerates the WinRM shells (an administrator sees every shell); a
// failure is reported, not thrown, so that additive mode still plans
// (enforce mode refuses a host that does not say, see SessionClient).
const windowsSessionFacts = `'### portwarden:` + windowsSessionSection + `'
if($PortwardenShellId){try{$ws=@(Get-WSManInstance -ResourceURI shell -Enumerate -ErrorAction Stop|Where-Object{$_.ShellId -eq $PortwardenShellId});if($ws.Count -eq 1){'client='+$ws[0].ClientIP}else{'shell=unknown'}}catch{'enumerate=failed'}}else{'shell=unknown'}
`

// windowsSessionClient reads windowsSessionSection (see SessionClient).
func windowsSessionClient(f Facts) (netip.Addr, bool) {
	for line := range strings.Lines(f[windowsSessionSection]) {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "client=")
		if !ok {
			continue
		}
		a, err := netip.ParseAddr(v)
		if err != nil || a.Zone() != "" {
			return netip.Addr{}, false
		}
		return a.Unmap(), true
	}
	return netip.Addr{}, false
}

// windowsRule is one rule as the facts script prints it.
type windowsRule struct {
	Name          string
	DisplayName   string
	Description   string
	Enabled       string
	Direction     string
	Action        string
	Profile       string
	Protocol      string
	LocalPort     psStrings
	RemoteAddress psStrings
}

// windowsProfile is one firewall profile as the facts script prints it.
type windowsProfile struct {
	Name                    string
	Enabled                 string
	DefaultInboundAction    string
	AllowInboundRules       string
	AllowLocalFirewallRules string
}

// psStrings reads a string array that Windows PowerShell's ConvertTo-Json
// wrote: an array, a lone string, null, or, when PowerShell's extended
// type data for arrays is loaded, {"value":[...],"Count":n}.
type psStrings []string

func (s *psStrings) UnmarshalJSON(b []byte) error {
	var one *string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = nil
		if one != nil {
			*s = psStrings{*one}
		}
		return nil
	}
	var many []*string
	if err := json.Unmarshal(b, &many); err == nil {
		out := make(psStrings, 0, len(many))
		for _, m := range many {
			if m == nil {
				return errors.New("null in a string list")
			}
			out = append(out, *m)
		}
		*s = out
		return nil
	}
	var wrapped struct {
		Value *psStrings `json:"value"`
	}
	if err := json.Unmarshal(b, &wrapped); err == nil && wrapped.Value != nil {
		*s = *wrapped.Value
		return nil
	}
	return fmt.Errorf("not a string list: %.60s", b)
}

// unmarshalPSList reads a JSON array; a lone object that an older
// PowerShell unrolled from a one-element array; or the array wrapped as
// {"value":[...],"Count":n}, which is how Windows PowerShell 5.1 writes
// an array passed with -InputObject when the extended type data for
// System.Array (Count as a script property) is loaded.
func unmarshalPSList[T any](text string) ([]T, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, errors.New("section is empty")
	}
	if strings.HasPrefix(text, "{") {
		if list, ok, err := unwrapPSArray[T](text); ok {
			return list, err
		}
		var one T
		if err := json.Unmarshal([]byte(text), &one); err != nil {
			return nil, err
		}
		return []T{one}, nil
	}
	var list []T
	if err := json.Unmarshal([]byte(text), &list); err != nil {
		return nil, err
	}
	return list, nil
}

// unwrapPSArray reads {"value":[...],"Count":n}: ok is false when text is
// not that wrapper (exactly the keys value and Count, value an array).
// A Count that differs from the array's length is an error: the output
// was damaged.
func unwrapPSArray[T any](text string) (list []T, ok bool, err error) {
	var keys map[string]json.RawMessage
	if json.Unmarshal([]byte(text), &keys) != nil || len(keys) != 2 {
		return nil, false, nil
	}
	value, hasValue := keys["value"]
	count, hasCount := keys["Count"]
	if !hasValue || !hasCount || !strings.HasPrefix(strings.TrimSpace(string(value)), "[") {
		return nil, false, nil
	}
	var n int
	if err := json.Unmarshal(count, &n); err != nil {
		return nil, true, fmt.Errorf("array wrapper: Count: %w", err)
	}
	if err := json.Unmarshal(value, &list); err != nil {
		return nil, true, err
	}
	if n != len(list) {
		return nil, true, fmt.Errorf("array wrapper says Count %d but holds %d items", n, len(list))
	}
	return list, true, nil
}

// State implements Backend.
func (Windows) State(f Facts) (State, error) {
	st := State{Backend: "windows", Mode: rule.Additive}
	rulesText, ok := f[windowsRulesSection]
	if !ok {
		return State{}, fmt.Errorf("reading Windows firewall facts: no %q section in the output", windowsRulesSection)
	}
	profilesText, ok := f[windowsProfilesSection]
	if !ok {
		return State{}, fmt.Errorf("reading Windows firewall facts: no %q section in the output", windowsProfilesSection)
	}
	raw, err := unmarshalPSList[windowsRule](rulesText)
	if err != nil {
		return State{}, fmt.Errorf("reading Windows firewall rules: %w", err)
	}
	profiles, err := unmarshalPSList[windowsProfile](profilesText)
	if err != nil {
		return State{}, fmt.Errorf("reading Windows firewall profiles: %w", err)
	}
	if len(profiles) == 0 {
		return State{}, errors.New("reading Windows firewall profiles: none listed")
	}
	st.Installed = len(raw) > 0

	// Rules that portwarden split (more sources than fit one Windows
	// rule) share protocol and ports; they are merged back by Key.
	merged := map[string]*rule.Rule{}
	management := false
	for _, wr := range raw {
		if wr.Name == "" {
			return State{}, errors.New("reading Windows firewall rules: a rule without a name")
		}
		// A rule in the group that Apply would not have written is
		// drift: it does not count as present, and the next apply
		// replaces it.
		if why := windowsRuleOddity(wr); why != "" {
			st.Drift = append(st.Drift, fmt.Sprintf("rule %q in group %s %s", wr.Name, rule.Tag, why))
			continue
		}
		if strings.Contains(wr.Name, windowsPendingInfix) {
			st.Drift = append(st.Drift, fmt.Sprintf("rule %q in group %s is left over from an interrupted apply", wr.Name, rule.Tag))
		}
		if isWindowsManagement(wr.Name) {
			management = true
			if m, why, err := windowsRuleToRule(wr); err == nil && why == "" {
				m = m.Normalize()
				m.Comment = ""
				st.Management = &m
			}
			continue
		}
		r, why, err := windowsRuleToRule(wr)
		if err != nil {
			return State{}, fmt.Errorf("reading Windows firewall rule %q: %w", wr.Name, err)
		}
		if why != "" {
			st.Drift = append(st.Drift, fmt.Sprintf("rule %q in group %s %s", wr.Name, rule.Tag, why))
			continue
		}
		if m, ok := merged[r.Key()]; ok {
			m.Sources = append(m.Sources, r.Sources...)
			if m.Comment == "" {
				m.Comment = r.Comment
			}
			continue
		}
		merged[r.Key()] = &r
	}
	for _, r := range merged {
		st.Rules = append(st.Rules, r.Normalize())
	}
	slices.SortFunc(st.Rules, func(a, b rule.Rule) int { return strings.Compare(a.Key(), b.Key()) })

	seen := map[string]bool{}
	for _, p := range profiles {
		if seen[p.Name] {
			return State{}, fmt.Errorf("reading Windows firewall profiles: profile %q listed twice", p.Name)
		}
		seen[p.Name] = true
		switch p.Name {
		case "Domain", "Private", "Public":
		default:
			return State{}, fmt.Errorf("reading Windows firewall profiles: unknown profile %q", p.Name)
		}
		enabled, err := gpoBool(p.Enabled)
		if err != nil {
			return State{}, fmt.Errorf("reading Windows firewall profile %s: Enabled: %w", p.Name, err)
		}
		allowLocal, err := gpoBool(p.AllowLocalFirewallRules)
		if err != nil {
			return State{}, fmt.Errorf("reading Windows firewall profile %s: AllowLocalFirewallRules: %w", p.Name, err)
		}
		allowInbound, err := gpoBool(p.AllowInboundRules)
		if err != nil {
			return State{}, fmt.Errorf("reading Windows firewall profile %s: AllowInboundRules: %w", p.Name, err)
		}
		// Windows blocks unsolicited inbound traffic unless told
		// otherwise, so NotConfigured counts as Block.
		switch p.DefaultInboundAction {
		case "Block", "NotConfigured":
		case "Allow":
			if management {
				st.Drift = append(st.Drift, fmt.Sprintf("Windows Firewall profile %s allows unsolicited inbound traffic (DefaultInboundAction Allow) although portwarden enforces Block: changed by hand, or overridden by Group Policy", p.Name))
			}
		default:
			return State{}, fmt.Errorf("reading Windows firewall profile %s: unknown DefaultInboundAction %q", p.Name, p.DefaultInboundAction)
		}
		if !enabled {
			st.Warnings = append(st.Warnings, fmt.Sprintf("Windows Firewall profile %s is disabled: rules have no effect", p.Name))
		}
		if !allowInbound {
			st.Warnings = append(st.Warnings, fmt.Sprintf("Windows Firewall profile %s ignores every inbound allow rule (AllowInboundRules is False, \"Block all incoming connections\"): portwarden's rules have no effect", p.Name))
		}
		if !allowLocal {
			st.Warnings = append(st.Warnings, fmt.Sprintf("Windows Firewall profile %s does not merge local rules (AllowLocalFirewallRules is False, set by Group Policy): portwarden's rules have no effect", p.Name))
		}
	}
	// The management rule is portwarden's record of enforce mode.
	if management {
		st.Mode = rule.Enforce
	}
	return st, nil
}

// gpoBool reads a GpoBoolean; NotConfigured is Windows' default, true for
// Enabled, AllowInboundRules and AllowLocalFirewallRules.
func gpoBool(s string) (bool, error) {
	switch s {
	case "True", "NotConfigured":
		return true, nil
	case "False":
		return false, nil
	}
	return false, fmt.Errorf("unknown value %q", s)
}

func isWindowsManagement(name string) bool {
	return name == windowsManagementName || strings.HasPrefix(name, windowsManagementName+windowsPendingInfix)
}

// windowsRuleOddity says why a rule in portwarden's group is not one that
// portwarden writes (disabled, outbound, block...), or "" if it is.
func windowsRuleOddity(wr windowsRule) string {
	switch {
	case wr.Enabled != "True":
		return "is not enabled"
	case wr.Direction != "Inbound":
		return "is not an inbound rule"
	case wr.Action != "Allow":
		return "is not an allow rule"
	}
	switch wr.Profile {
	case "Any", "Domain, Private, Public":
	default:
		return fmt.Sprintf("applies only to profiles %q", wr.Profile)
	}
	return ""
}

// windowsRuleToRule converts a rule that portwarden could have written. A
// non-empty why means the rule uses a condition that portwarden does not
// write (a keyword address, a special port, another protocol).
func windowsRuleToRule(wr windowsRule) (rule.Rule, string, error) {
	r := rule.Rule{Comment: windowsCommentFrom(wr.DisplayName)}
	switch strings.ToUpper(wr.Protocol) {
	case "TCP", "6":
		r.Protocol = "tcp"
	case "UDP", "17":
		r.Protocol = "udp"
	default:
		return rule.Rule{}, fmt.Sprintf("has protocol %q", wr.Protocol), nil
	}
	if len(wr.LocalPort) == 0 {
		return rule.Rule{}, "", errors.New("no local port listed")
	}
	for _, s := range wr.LocalPort {
		if strings.EqualFold(s, "Any") {
			r.Ports = append(r.Ports, rule.PortRange{Lo: 1, Hi: 65535})
			continue
		}
		p, err := rule.ParsePortRange(s)
		if err != nil {
			if s != "" && !strings.ContainsAny(s, "0123456789") {
				return rule.Rule{}, fmt.Sprintf("has local port keyword %q", s), nil
			}
			return rule.Rule{}, "", err
		}
		r.Ports = append(r.Ports, p)
	}
	if len(wr.RemoteAddress) == 0 {
		return rule.Rule{}, "", errors.New("no remote address listed")
	}
	for _, s := range wr.RemoteAddress {
		ps, err := parseWindowsAddress(s)
		var kw keywordError
		if errors.As(err, &kw) {
			return rule.Rule{}, fmt.Sprintf("has remote address keyword %q", s), nil
		}
		if err != nil {
			return rule.Rule{}, "", err
		}
		r.Sources = append(r.Sources, ps...)
	}
	return r, "", nil
}

type keywordError string

func (k keywordError) Error() string { return "address keyword " + string(k) }

// parseWindowsAddress reads one RemoteAddress entry in the forms
// Get-NetFirewallAddressFilter prints: "Any", a single address, an IPv4
// subnet with a dotted mask (which is how Windows stores "/24"), a subnet
// with a prefix length, or a range "a-b". Keywords such as LocalSubnet are
// reported as keywordError.
func parseWindowsAddress(s string) ([]netip.Prefix, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.EqualFold(s, "Any") || s == "*":
		return []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}, nil
	case s != "" && !strings.ContainsAny(s, ".:"):
		return nil, keywordError(s)
	}
	if lo, hi, ok := strings.Cut(s, "-"); ok && !strings.Contains(s, "/") {
		a, err1 := netip.ParseAddr(lo)
		b, err2 := netip.ParseAddr(hi)
		if err1 != nil || err2 != nil || a.Is4() != b.Is4() || b.Less(a) || a.Zone() != "" || b.Zone() != "" {
			return nil, fmt.Errorf("bad address range %q", s)
		}
		return netipx.IPRangeFrom(a, b).Prefixes(), nil
	}
	if addr, mask, ok := strings.Cut(s, "/"); ok {
		a, err := netip.ParseAddr(addr)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("bad address %q", s)
		}
		a = a.Unmap()
		bits, err := strconv.Atoi(mask)
		if err != nil {
			m, merr := netip.ParseAddr(mask)
			if merr != nil || !m.Is4() || !a.Is4() {
				return nil, fmt.Errorf("bad subnet %q", s)
			}
			bits, err = maskBits(m)
			if err != nil {
				return nil, fmt.Errorf("bad subnet %q: %w", s, err)
			}
		}
		p, err := a.Prefix(bits)
		if err != nil || bits < 0 {
			return nil, fmt.Errorf("bad subnet %q", s)
		}
		return []netip.Prefix{p}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return nil, fmt.Errorf("bad address %q", s)
	}
	a = a.Unmap()
	return []netip.Prefix{netip.PrefixFrom(a, a.BitLen())}, nil
}

// maskBits turns a contiguous IPv4 netmask into a prefix length.
func maskBits(m netip.Addr) (int, error) {
	b := m.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n := 0
	for v&0x80000000 != 0 {
		n++
		v <<= 1
	}
	if v != 0 {
		return 0, errors.New("mask is not contiguous")
	}
	return n, nil
}

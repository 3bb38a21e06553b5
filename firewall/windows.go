package firewall

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Windows is the Windows Defender Firewall backend. It owns the firewall
// rules in the rule group "portwarden" of the local PersistentStore and,
// in enforce mode, the profiles' DefaultInboundAction. Its scripts use the
// NetSecurity cmdlets (New-NetFirewallRule and friends) of Windows
// PowerShell 5.1 and run through the "powershell" shell of the WinRM
// transport.
//
// Windows has no firewall transaction, so Apply gets as close as it can:
// it creates every new rule under a temporary name first and, if any
// creation fails, removes what it created and stops with the old rules
// untouched. Only when all new rules exist does it remove the old ones and
// rename the new ones to their final names. At no moment is less open
// than either the old or the new rule set. See Apply for the details.
type Windows struct{}

// Name implements Backend.
func (Windows) Name() string { return "windows" }

const (
	windowsShell           = "powershell"
	windowsRulesSection    = "windows-rules"
	windowsProfilesSection = "windows-profiles"
	// windowsManagementName is the rule that keeps the management port
	// open in enforce mode. Its presence is portwarden's record of enforce
	// mode, and its Description keeps the profiles' DefaultInboundAction
	// from before enforce mode, so that going back to additive can
	// restore it.
	windowsManagementName = Tag + "-management"
	// windowsMaxAddresses caps the remote addresses of one Windows rule;
	// a rule with more sources is split into parts that State merges
	// again. Windows accepts more, but long address lists make rules hard
	// to read in the MMC snap-in and the scripts long.
	windowsMaxAddresses = 200
	// windowsPendingInfix marks a rule created by an apply that has not
	// been committed yet: "<final name>-pending-<change id>".
	windowsPendingInfix = "-pending-"
)

// windowsPreamble starts every script: stop at the first error instead of
// carrying on with half a change, and keep progress records (which
// powershell.exe serializes as CLIXML onto stderr) quiet.
const windowsPreamble = "$ErrorActionPreference='Stop'\n$ProgressPreference='SilentlyContinue'\n"

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
const windowsPrintFacts = `$pf=@{};$af=@{}
if($r.Count){foreach($x in $r|Get-NetFirewallPortFilter){$pf[$x.InstanceID]=$x};foreach($x in $r|Get-NetFirewallAddressFilter){$af[$x.InstanceID]=$x}}
$o=@(foreach($x in $r){$p=$pf[$x.Name];$a=$af[$x.Name];[pscustomobject]@{Name=$x.Name;DisplayName=$x.DisplayName;Description=$x.Description;Enabled=[string]$x.Enabled;Direction=[string]$x.Direction;Action=[string]$x.Action;Profile=[string]$x.Profile;Protocol=[string]$p.Protocol;LocalPort=@($p.LocalPort);RemoteAddress=@($a.RemoteAddress)}})
'### portwarden:windows-rules'
ConvertTo-Json -Compress -Depth 3 -InputObject $o
$o=@(foreach($x in Get-NetFirewallProfile -PolicyStore ActiveStore){[pscustomobject]@{Name=[string]$x.Name;Enabled=[string]$x.Enabled;DefaultInboundAction=[string]$x.DefaultInboundAction;AllowLocalFirewallRules=[string]$x.AllowLocalFirewallRules}})
'### portwarden:windows-profiles'
ConvertTo-Json -Compress -InputObject $o
`

func windowsReadGroupInto(v string) string {
	return strings.ReplaceAll(windowsReadGroup, "$VAR", "$"+v)
}

// WindowsFactsScript gathers the facts Windows.State reads, in one round
// trip: portwarden's rules with their port and address filters, and the
// three firewall profiles.
var WindowsFactsScript = Script{
	Shell: windowsShell,
	Body:  windowsPreamble + windowsReadGroupInto("r") + windowsPrintFacts,
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

// unmarshalPSList reads a JSON array, or a lone object that an older
// PowerShell unrolled from a one-element array.
func unmarshalPSList[T any](text string) ([]T, error) {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil, errors.New("section is empty")
	}
	if strings.HasPrefix(text, "{") {
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

// State implements Backend.
func (Windows) State(f Facts) (State, error) {
	st := State{Backend: "windows", Mode: Additive}
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
	merged := map[string]*Rule{}
	management := false
	for _, wr := range raw {
		if wr.Name == "" {
			return State{}, errors.New("reading Windows firewall rules: a rule without a name")
		}
		// A rule in the group that Apply would not have written is
		// drift: it does not count as present, and the next apply
		// replaces it.
		if why := windowsRuleOddity(wr); why != "" {
			st.Drift = append(st.Drift, fmt.Sprintf("rule %q in group %s %s", wr.Name, Tag, why))
			continue
		}
		if strings.Contains(wr.Name, windowsPendingInfix) {
			st.Drift = append(st.Drift, fmt.Sprintf("rule %q in group %s is left over from an interrupted apply", wr.Name, Tag))
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
			st.Drift = append(st.Drift, fmt.Sprintf("rule %q in group %s %s", wr.Name, Tag, why))
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
	slices.SortFunc(st.Rules, func(a, b Rule) int { return strings.Compare(a.Key(), b.Key()) })

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
		if !allowLocal {
			st.Warnings = append(st.Warnings, fmt.Sprintf("Windows Firewall profile %s does not merge local rules (AllowLocalFirewallRules is False, set by Group Policy): portwarden's rules have no effect", p.Name))
		}
	}
	// The management rule is portwarden's record of enforce mode.
	if management {
		st.Mode = Enforce
	}
	return st, nil
}

// gpoBool reads a GpoBoolean; NotConfigured is Windows' default, true for
// both Enabled and AllowLocalFirewallRules.
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
func windowsRuleToRule(wr windowsRule) (Rule, string, error) {
	r := Rule{Comment: windowsCommentFrom(wr.DisplayName)}
	switch strings.ToUpper(wr.Protocol) {
	case "TCP", "6":
		r.Protocol = "tcp"
	case "UDP", "17":
		r.Protocol = "udp"
	default:
		return Rule{}, fmt.Sprintf("has protocol %q", wr.Protocol), nil
	}
	if len(wr.LocalPort) == 0 {
		return Rule{}, "", errors.New("no local port listed")
	}
	for _, s := range wr.LocalPort {
		if strings.EqualFold(s, "Any") {
			r.Ports = append(r.Ports, PortRange{1, 65535})
			continue
		}
		p, err := ParsePortRange(s)
		if err != nil {
			if s != "" && !strings.ContainsAny(s, "0123456789") {
				return Rule{}, fmt.Sprintf("has local port keyword %q", s), nil
			}
			return Rule{}, "", err
		}
		r.Ports = append(r.Ports, p)
	}
	if len(wr.RemoteAddress) == 0 {
		return Rule{}, "", errors.New("no remote address listed")
	}
	for _, s := range wr.RemoteAddress {
		ps, err := parseWindowsAddress(s)
		var kw keywordError
		if errors.As(err, &kw) {
			return Rule{}, fmt.Sprintf("has remote address keyword %q", s), nil
		}
		if err != nil {
			return Rule{}, "", err
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
		return rangePrefixes(a, b), nil
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

// rangePrefixes covers the inclusive range lo-hi with the fewest prefixes.
func rangePrefixes(lo, hi netip.Addr) []netip.Prefix {
	var out []netip.Prefix
	for {
		bits := lo.BitLen()
		// Widen the prefix while it stays aligned on lo and ends at or
		// before hi.
		for bits > 0 {
			p := netip.PrefixFrom(lo, bits-1).Masked()
			if p.Addr() != lo || hi.Less(lastAddr(p)) {
				break
			}
			bits--
		}
		p := netip.PrefixFrom(lo, bits)
		out = append(out, p)
		last := lastAddr(p)
		if !last.Less(hi) {
			return out
		}
		lo = last.Next()
	}
}

// lastAddr is the highest address in p.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As16()
	off := 0
	if p.Addr().Is4() {
		off = 96
	}
	for i := off + p.Bits(); i < 128; i++ {
		a[i/8] |= 1 << (7 - uint(i%8))
	}
	out := netip.AddrFrom16(a)
	if p.Addr().Is4() {
		out = out.Unmap()
	}
	return out
}

// windowsCommentFrom recovers the comment from a DisplayName that
// windowsDisplayName wrote: "portwarden: COMMENT (tcp 2500-3300)".
func windowsCommentFrom(display string) string {
	rest, ok := strings.CutPrefix(display, Tag+": ")
	if !ok {
		return ""
	}
	if i := strings.LastIndex(rest, " ("); i >= 0 && strings.HasSuffix(rest, ")") {
		rest = rest[:i]
	}
	return rest
}

// windowsDisplayName is the readable name shown in the firewall snap-in.
func windowsDisplayName(comment, proto, ports string, part, parts int) string {
	what := proto + " " + ports
	if parts > 1 {
		what += fmt.Sprintf(", part %d of %d", part, parts)
	}
	if comment == "" {
		return Tag + " (" + what + ")"
	}
	return Tag + ": " + comment + " (" + what + ")"
}

// windowsSanitizeComment keeps a comment on one printable line of
// reasonable length. Quoting happens separately (psQuote).
func windowsSanitizeComment(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 120 {
		s = string(r[:120])
	}
	return s
}

// psQuote renders s as a PowerShell single-quoted string. PowerShell
// treats the typographic quotes U+2018-U+201B as single quotes too, so
// they are doubled like the ASCII one.
func psQuote(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for _, r := range s {
		switch r {
		case '\'', '\u2018', '\u2019', '\u201a', '\u201b':
			b.WriteRune(r)
		}
		b.WriteRune(r)
	}
	b.WriteByte('\'')
	return b.String()
}

// windowsSpec is one Windows rule to create.
type windowsSpec struct {
	Name, DisplayName, Protocol string
	Ports, Addresses            []string
	Management                  bool
}

func shortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:4])
}

// windowsRuleName is deterministic and unique per rule key:
// "portwarden-tcp-2500-3300-1a2b3c4d", with a part number for split
// rules. Long port lists are shortened; the hash keeps the name unique.
func windowsRuleName(r Rule, part int) string {
	ports := strings.ReplaceAll(PortsString(r.Ports), ",", "_")
	if len(ports) > 40 {
		ports = r.Ports[0].String() + "_more"
	}
	name := fmt.Sprintf("%s-%s-%s-%s", Tag, r.Protocol, ports, shortHash(r.Key()))
	if part > 1 {
		name += "-" + strconv.Itoa(part)
	}
	return name
}

func validateSources(src []netip.Prefix) ([]string, error) {
	if len(src) == 0 {
		return nil, errors.New("no sources: portwarden never opens a port to any address")
	}
	out := make([]string, 0, len(src))
	for _, p := range src {
		if !p.IsValid() {
			return nil, errors.New("invalid source prefix")
		}
		if p.Addr().Zone() != "" {
			return nil, fmt.Errorf("source %s has a zone", p)
		}
		a := p.Addr()
		bits := p.Bits()
		if a.Is4In6() {
			a = a.Unmap()
			bits -= 96
			if bits < 0 {
				return nil, fmt.Errorf("source %s: IPv4-mapped prefix shorter than /96", p)
			}
		}
		out = append(out, PrefixString(netip.PrefixFrom(a, bits).Masked()))
	}
	return out, nil
}

func validatePorts(ps []PortRange) ([]string, error) {
	if len(ps) == 0 {
		return nil, errors.New("no ports")
	}
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		if p.Lo == 0 || p.Hi < p.Lo {
			return nil, fmt.Errorf("bad port range %d-%d", p.Lo, p.Hi)
		}
		out = append(out, p.String())
	}
	return out, nil
}

// windowsSpecs turns the desired state into the Windows rules to create.
func windowsSpecs(d Desired, mode Mode) ([]windowsSpec, error) {
	var specs []windowsSpec
	if mode == Enforce {
		if d.ManagementPort == 0 {
			return nil, errors.New("enforce mode needs the management port")
		}
		addrs, err := validateSources(d.ManagementSources)
		if err != nil {
			return nil, fmt.Errorf("management sources: %w", err)
		}
		port := strconv.Itoa(int(d.ManagementPort))
		specs = append(specs, windowsSpec{
			Name:        windowsManagementName,
			DisplayName: windowsDisplayName("management", "tcp", port, 1, 1),
			Protocol:    "TCP",
			Ports:       []string{port},
			Addresses:   addrs,
			Management:  true,
		})
	}
	// Rules in Key order, so the script does not depend on input order.
	rules := make([]Rule, len(d.Rules))
	for i, r := range d.Rules {
		rules[i] = r.Normalize()
	}
	slices.SortStableFunc(rules, func(a, b Rule) int { return strings.Compare(a.Key(), b.Key()) })
	seen := map[string]bool{}
	for _, r := range rules {
		if r.Protocol != "tcp" && r.Protocol != "udp" {
			return nil, fmt.Errorf("rule %s: protocol %q is not tcp or udp", r.Key(), r.Protocol)
		}
		if seen[r.Key()] {
			return nil, fmt.Errorf("rule %s is listed twice", r.Key())
		}
		seen[r.Key()] = true
		ports, err := validatePorts(r.Ports)
		if err != nil {
			return nil, fmt.Errorf("rule %s: %w", r.Key(), err)
		}
		addrs, err := validateSources(r.Sources)
		if err != nil {
			return nil, fmt.Errorf("rule %s: %w", r.Key(), err)
		}
		comment := windowsSanitizeComment(r.Comment)
		parts := (len(addrs) + windowsMaxAddresses - 1) / windowsMaxAddresses
		for i := range parts {
			chunk := addrs[i*windowsMaxAddresses : min(len(addrs), (i+1)*windowsMaxAddresses)]
			specs = append(specs, windowsSpec{
				Name:        windowsRuleName(r, i+1),
				DisplayName: windowsDisplayName(comment, r.Protocol, PortsString(r.Ports), i+1, parts),
				Protocol:    strings.ToUpper(r.Protocol),
				Ports:       ports,
				Addresses:   chunk,
			})
		}
	}
	return specs, nil
}

func psList(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = psQuote(v)
	}
	return strings.Join(q, ",")
}

// Apply implements Backend. The script has four phases:
//
//  1. Read portwarden's group. Rules left by an interrupted run of this
//     very change (same pending names) are removed; any other leftover is
//     an old rule like the rest.
//  2. Create every desired rule under "<name>-pending-<change id>". If one
//     fails, remove the ones created and rethrow: the host is unchanged.
//  3. Commit: in enforce mode set DefaultInboundAction Block on all
//     profiles (the management rule exists by now); when leaving enforce
//     mode restore the values recorded in the management rule. Then
//     remove the old rules and rename the new ones to their final names.
//     A failure here leaves old and new rules side by side (never less
//     open than either) and the next apply cleans up.
//  4. Print the facts sections, so the result is verified from the
//     script's own output.
//
// Rules are always removed by -Name, one by one, never by piping a list
// into Remove-NetFirewallRule: called without a selector that cmdlet
// removes every rule on the host.
//
// Renaming instead of creating rules under their final names keeps names
// deterministic while old and new rules overlap; diffing in PowerShell
// instead would miss rules that someone edited by hand.
func (Windows) Apply(d Desired) (Script, error) {
	mode, err := ParseMode(string(d.Mode))
	if err != nil {
		return Script{}, fmt.Errorf("rendering the Windows firewall change: %w", err)
	}
	specs, err := windowsSpecs(d, mode)
	if err != nil {
		return Script{}, fmt.Errorf("rendering the Windows firewall change: %w", err)
	}

	var lines strings.Builder
	for _, s := range specs {
		fmt.Fprintf(&lines, "%s|%s|%s|%s|%s\n", s.Name, s.DisplayName, s.Protocol, strings.Join(s.Ports, ","), strings.Join(s.Addresses, ","))
	}
	id := shortHash(string(mode) + "\n" + lines.String())
	pending := windowsPendingInfix + id

	var b strings.Builder
	b.WriteString(windowsPreamble)
	b.WriteString("$g=" + psQuote(Tag) + "\n")
	b.WriteString(strings.ReplaceAll(windowsReadGroupInto("old"), "-Group 'portwarden'", "-Group $g"))
	fmt.Fprintf(&b, "$stale=@($old|Where-Object{$_.Name -like '*%s'})\n", pending)
	fmt.Fprintf(&b, "$old=@($old|Where-Object{$_.Name -notlike '*%s'})\n", pending)
	b.WriteString("foreach($x in $stale){Remove-NetFirewallRule -Name $x.Name -PolicyStore PersistentStore}\n")
	fmt.Fprintf(&b, "$mg=@($old|Where-Object{$_.Name -like '%s*'})\n", windowsManagementName)
	if mode == Enforce {
		// Record the defaults from before enforce mode, or carry the
		// record over from the management rule being replaced.
		b.WriteString("$mark=$null;if($mg.Count){$mark=$mg[0].Description}\n")
		b.WriteString("if(!$mark){$h=[ordered]@{};foreach($x in Get-NetFirewallProfile -PolicyStore PersistentStore){$h[[string]$x.Name]=[string]$x.DefaultInboundAction};$mark=ConvertTo-Json -Compress -InputObject $h}\n")
	} else {
		// Read the record before changing anything, so a damaged one
		// stops the script while the host is still untouched.
		// A record that is gone (edited by hand) leaves the profiles as
		// they are.
		b.WriteString("$prev=$null;if($mg.Count -and $mg[0].Description){$prev=ConvertFrom-Json $mg[0].Description}\n")
	}
	b.WriteString("$c=@{Group=$g;Enabled='True';Direction='Inbound';Action='Allow';Profile='Any';PolicyStore='PersistentStore'}\n")
	b.WriteString("$new=@()\ntry{\n")
	for _, s := range specs {
		fmt.Fprintf(&b, "$new+=New-NetFirewallRule @c -Name %s -DisplayName %s", psQuote(s.Name+pending), psQuote(s.DisplayName))
		if s.Management {
			b.WriteString(" -Description $mark")
		}
		fmt.Fprintf(&b, " -Protocol %s -LocalPort %s -RemoteAddress %s\n", s.Protocol, psList(s.Ports), psList(s.Addresses))
	}
	b.WriteString("}catch{\nforeach($x in $new){Remove-NetFirewallRule -Name $x.Name -PolicyStore PersistentStore -ErrorAction SilentlyContinue}\nthrow\n}\n")
	if mode == Enforce {
		b.WriteString("Set-NetFirewallProfile -Profile Domain,Private,Public -DefaultInboundAction Block -PolicyStore PersistentStore\n")
	} else {
		b.WriteString("if($prev){foreach($n in 'Domain','Private','Public'){Set-NetFirewallProfile -Profile $n -DefaultInboundAction $prev.$n -PolicyStore PersistentStore}}\n")
	}
	b.WriteString("foreach($x in $old){Remove-NetFirewallRule -Name $x.Name -PolicyStore PersistentStore}\n")
	fmt.Fprintf(&b, "foreach($x in $new){Rename-NetFirewallRule -Name $x.Name -NewName ($x.Name -replace '%s$','') -PolicyStore PersistentStore}\n", pending)
	b.WriteString(strings.ReplaceAll(windowsReadGroupInto("r"), "-Group 'portwarden'", "-Group $g"))
	b.WriteString(windowsPrintFacts)
	return Script{Shell: windowsShell, Body: b.String()}, nil
}

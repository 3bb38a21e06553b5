package firewall

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"go4.org/netipx"

	"github.com/portwarden/portwarden/rule"
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
	windowsManagementName = rule.Tag + "-management"
	// windowsMaxAddresses caps the RemoteAddress entries of one Windows
	// rule. Sources are written as the fewest entries (touching prefixes
	// become one range "a-b"), so a rule is one rule with a single
	// RemoteAddress list for all but the largest fleets; above the cap it
	// is split into parts that State merges again. Windows 10 is reported
	// to take at most 1,000 entries per rule (Windows documents no limit):
	// the cap stays there.
	windowsMaxAddresses = 1000
	// windowsPendingInfix marks a rule created by an apply that has not
	// been committed yet: "<final name>-pending-<change id>".
	windowsPendingInfix = "-pending-"
	// windowsMutex is the host-wide lock every apply holds: a named
	// mutex in the Global namespace, so that runs from different WinRM
	// shells and sessions exclude each other.
	windowsMutex = `Global\portwarden`
	// windowsLockWaitMillis bounds the confirm's and the revert's wait for
	// another run's lock (an apply waits its Guard's LockWait).
	windowsLockWaitMillis = 30000
	// WindowsLockHeld starts the error of a run that could not get the
	// host-wide lock in time; the host name follows.
	WindowsLockHeld = "another portwarden run holds the lock on "
)

// windowsPreamble starts every script: stop at the first error instead of
// carrying on with half a change, and keep progress records (which
// powershell.exe serializes as CLIXML onto stderr) quiet.
//
// The preference is set in the global scope on purpose. The NetSecurity
// cmdlets are CDXML functions of a module, and a module function sees the
// global $ErrorActionPreference, never one set in its caller's local
// scope: a staged script runs in a child scope (& {...}), where a plain
// $ErrorActionPreference='Stop' would leave those cmdlets at Continue.
// Every mutating cmdlet also gets -ErrorAction Stop, which does not
// depend on scopes at all.
const windowsPreamble = "$global:ErrorActionPreference='Stop'\n$ProgressPreference='SilentlyContinue'\n"

// windowsCommentFrom recovers the comment from a DisplayName that
// windowsDisplayName wrote: "portwarden: COMMENT (tcp 2500-3300)".
func windowsCommentFrom(display string) string {
	rest, ok := strings.CutPrefix(display, rule.Tag+": ")
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
		return rule.Tag + " (" + what + ")"
	}
	return rule.Tag + ": " + comment + " (" + what + ")"
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
func windowsRuleName(r rule.Rule, part int) string {
	ports := strings.ReplaceAll(rule.PortsString(r.Ports), ",", "_")
	if len(ports) > 40 {
		ports = r.Ports[0].String() + "_more"
	}
	name := fmt.Sprintf("%s-%s-%s-%s", rule.Tag, r.Protocol, ports, shortHash(r.Key()))
	if part > 1 {
		name += "-" + strconv.Itoa(part)
	}
	return name
}

// validateSources checks sources and renders them as the fewest
// RemoteAddress entries: the aggregated prefixes, with prefixes that touch
// joined into one range "first-last" (Windows reads ranges as well as
// subnets; State turns both back into prefixes).
func validateSources(src []netip.Prefix) ([]string, error) {
	ps, err := windowsPrefixes(src)
	if err != nil {
		return nil, err
	}
	var b netipx.IPSetBuilder
	for _, p := range ps {
		b.AddPrefix(p)
	}
	set, err := b.IPSet()
	if err != nil {
		return nil, fmt.Errorf("sources: %w", err)
	}
	var out []string
	for _, r := range set.Ranges() {
		if p, ok := r.Prefix(); ok {
			out = append(out, rule.PrefixString(p))
		} else {
			out = append(out, r.From().String()+"-"+r.To().String())
		}
	}
	return out, nil
}

// windowsPrefixes checks sources and unmaps IPv4-mapped ones, which
// Windows knows only as IPv4.
func windowsPrefixes(src []netip.Prefix) ([]netip.Prefix, error) {
	if len(src) == 0 {
		return nil, errors.New("no sources: portwarden never opens a port to any address")
	}
	out := make([]netip.Prefix, 0, len(src))
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
		out = append(out, netip.PrefixFrom(a, bits).Masked())
	}
	return out, nil
}

func validatePorts(ps []rule.PortRange) ([]string, error) {
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
func windowsSpecs(d Desired, mode rule.Mode) ([]windowsSpec, error) {
	var specs []windowsSpec
	if mode == rule.Enforce {
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
	rules := make([]rule.Rule, len(d.Rules))
	for i, r := range d.Rules {
		rules[i] = r.Normalize()
	}
	slices.SortStableFunc(rules, func(a, b rule.Rule) int { return strings.Compare(a.Key(), b.Key()) })
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
				DisplayName: windowsDisplayName(comment, r.Protocol, rule.PortsString(r.Ports), i+1, parts),
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

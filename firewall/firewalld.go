package firewall

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"

	"github.com/portwarden/portwarden/rule"
)

// Firewalld manages a host whose firewall firewalld runs, through
// firewalld itself (see docs/firewalld.md). portwarden owns exactly these
// firewalld objects, in the permanent configuration and so in the runtime:
//
//   - the policy "portwarden" (ingress zone ANY, egress zone HOST, priority
//     FirewalldPriority, before every zone), holding one rich rule per
//     rule, port range and family, that accepts the ports from an ipset;
//     its target is CONTINUE (additive) or DROP (enforce);
//   - the ipsets "portwarden-N" (IPv4) and "portwarden-N-6" (IPv6) with
//     rule N's sources, and "portwarden-mgmt"/"portwarden-mgmt-6" with
//     the management sources in enforce mode.
//
// Apply runs firewalld.py with the host's python: it writes these objects
// into the permanent configuration over D-Bus, reloads firewalld, checks
// the runtime, and on any failure restores the objects and reloads again.
//
// Apply does not read the facts it is given: firewalld.py reads
// firewalld's own view when it runs.
type Firewalld struct{}

//go:embed firewalld.py
var firewalldProgram string

// Owned object names and settings.
const (
	firewalldPolicy   = rule.Tag
	firewalldPrefix   = rule.Tag + "-"
	firewalldMgmt     = firewalldPrefix + "mgmt"
	firewalldV6Suffix = "-6"
	firewalldLayerSep = "-l"
	// FirewalldPriority runs the policy before the zones (negative
	// priorities come first), so its accepts are not shadowed by a zone's
	// reject and its enforce-mode drop comes before a zone's accepts.
	FirewalldPriority = -100
)

// Rich rules portwarden writes besides the rules, in enforce mode.
const (
	firewalldRuleICMP   = `rule protocol value="icmp" accept`
	firewalldRuleICMPv6 = `rule protocol value="ipv6-icmp" accept`
	firewalldRuleDHCPv6 = `rule family="ipv6" destination address="fe80::/64" port port="546" protocol="udp" accept`
)

// Name implements Backend.
func (*Firewalld) Name() string { return "firewalld" }

// fwdPolicy is a firewalld policy's settings, as firewalld.py reads and
// writes them.
type fwdPolicy struct {
	Description  string   `json:"description"`
	Short        string   `json:"short"`
	Target       string   `json:"target"`
	Priority     int      `json:"priority"`
	IngressZones []string `json:"ingress_zones"`
	EgressZones  []string `json:"egress_zones"`
	RichRules    []string `json:"rich_rules"`
	Services     []string `json:"services"`
	Ports        []any    `json:"ports"`
	Protocols    []string `json:"protocols"`
	SourcePorts  []any    `json:"source_ports"`
	ICMPBlocks   []string `json:"icmp_blocks"`
	ForwardPorts []any    `json:"forward_ports"`
	Masquerade   bool     `json:"masquerade"`
}

// fwdIPSet is a firewalld ipset's settings.
type fwdIPSet struct {
	Short       string            `json:"short"`
	Description string            `json:"description"`
	Type        string            `json:"type"`
	Options     map[string]string `json:"options"`
	Entries     []string          `json:"entries"`
}

// fwdObjects are portwarden's objects in one configuration.
type fwdObjects struct {
	Policy *fwdPolicy          `json:"policy"`
	IPSets map[string]fwdIPSet `json:"ipsets"`
}

// fwdReadback is what firewalld.py prints.
type fwdReadback struct {
	Permanent *fwdObjects `json:"permanent"`
	Runtime   *fwdObjects `json:"runtime"`
}

// firewalldObjects renders the desired objects.
func firewalldObjects(d linuxDesired) fwdObjects {
	o := fwdObjects{IPSets: map[string]fwdIPSet{}}
	if d.remove {
		return o
	}
	p := &fwdPolicy{
		Description:  "Inbound rules managed by portwarden: do not edit, portwarden replaces this policy and its ipsets portwarden-*.",
		Short:        "portwarden",
		Target:       "CONTINUE",
		Priority:     FirewalldPriority,
		IngressZones: []string{"ANY"},
		EgressZones:  []string{"HOST"},
		RichRules:    []string{},
		Services:     []string{}, Ports: []any{}, Protocols: []string{}, SourcePorts: []any{},
		ICMPBlocks: []string{}, ForwardPorts: []any{},
	}
	add := func(base, short, comment, proto string, ports []rule.PortRange, src []netip.Prefix) {
		v4, v6 := rule.SplitFamilies(src)
		for _, fam := range []struct {
			name, family, rich string
			src                []netip.Prefix
		}{{base, "inet", "ipv4", v4}, {base + firewalldV6Suffix, "inet6", "ipv6", v6}} {
			for li, layer := range firewalldLayers(fam.src) {
				name := fam.name
				if li > 0 {
					name += fmt.Sprintf("%s%d", firewalldLayerSep, li+1)
				}
				entries := make([]string, len(layer))
				for i, s := range layer {
					entries[i] = rule.PrefixString(s)
				}
				slices.Sort(entries)
				o.IPSets[name] = fwdIPSet{Short: short, Description: comment, Type: "hash:net",
					Options: map[string]string{"family": fam.family}, Entries: entries}
				for _, pr := range ports {
					p.RichRules = append(p.RichRules, fmt.Sprintf(`rule family=%q source ipset=%q port port=%q protocol=%q accept`,
						fam.rich, name, pr.String(), proto))
				}
			}
		}
	}
	for i, r := range d.Rules {
		add(firewalldPrefix+strconv.Itoa(i+1), "portwarden "+r.Key(), r.Comment, r.Protocol, r.Ports, r.Sources)
	}
	if d.Mode == rule.Enforce {
		p.Target = "DROP"
		add(firewalldMgmt, "portwarden management", "the controller", "tcp",
			[]rule.PortRange{{Lo: d.ManagementPort, Hi: d.ManagementPort}}, d.ManagementSources)
		p.RichRules = append(p.RichRules, firewalldRuleICMP, firewalldRuleICMPv6, firewalldRuleDHCPv6)
	}
	o.Policy = p
	return o
}

// firewalldLayers splits sources into groups without overlaps: firewalld
// refuses overlapping entries in a hash:net ipset (nft's "conflicting
// intervals"), and a refused reload leaves firewalld in its FAILED state.
// A prefix inside another one goes into a further ipset ("-l2", ...), so
// that every source is kept as it is and reads back unchanged.
func firewalldLayers(src []netip.Prefix) [][]netip.Prefix {
	var layers [][]netip.Prefix
	for _, p := range src {
		placed := false
		for i, l := range layers {
			if !slices.ContainsFunc(l, p.Overlaps) {
				layers[i] = append(l, p)
				placed = true
				break
			}
		}
		if !placed {
			layers = append(layers, []netip.Prefix{p})
		}
	}
	return layers
}

// Apply implements Backend.
func (b *Firewalld) Apply(_ Facts, d Desired) (Script, error) {
	dd, err := prepareLinuxDesired(d)
	if err != nil {
		return Script{}, err
	}
	want, err := json.Marshal(firewalldObjects(dd))
	if err != nil {
		return Script{}, fmt.Errorf("encoding firewalld objects: %w", err)
	}
	body := linuxPrelude("", true) + firewalldGuard.render(d.Guard) + linuxApplyHead + `if [ -z "$pw_tmp" ]; then
	pw_fail "cannot create a temporary directory; nothing was changed"
elif ! pw_has firewall-cmd; then
	pw_fail "firewalld is not installed; nothing was changed"
elif ! pw_fwd_python || ! pw_guard_begin; then
	:
else
	pw_fwd_out=$("$pw_fwpy" -c "$pw_fwprog" apply 2>"$pw_tmp/fwd.err") || pw_status=1
	while IFS= read -r pw_l || [ -n "$pw_l" ]; do printf '%s\n' "$pw_l"; done <"$pw_tmp/fwd.err"
	if [ "$pw_status" -eq 0 ]; then
		pw_committed=1
	else
		echo "portwarden: firewalld apply failed" >&2
		# firewalld.py rolls back itself; only when that failed is the
		# saved state put back by restore.sh.
		pw_contains "$pw_tmp/fwd.err" "ROLLBACK FAILED" && pw_committed=1
	fi
	[ -n "$pw_fwd_out" ] || pw_fwd_out='{}'
fi
pw_guard_end
` + linuxNFTReadback + "exit \"$pw_status\"\n"
	return Script{Shell: "sh", Body: body, Stdin: want}, nil
}

// firewalldGuard gives the Linux apply frame (lock, saved state, armed
// revert) what firewalld needs: the saved state is firewalld.py's view
// before the change, and restore.sh hands it back to firewalld.py restore,
// which writes those permanent objects and reloads. No files are
// persisted besides firewalld's own configuration.
var firewalldGuard = linuxGuard{
	save: `	printf '%s\n' "$pw_fwpy" >"$pw_state/python" || return 1
	printf '%s' "$pw_fwprog" >"$pw_state/firewalld.py" || return 1
	"$pw_fwpy" "$pw_state/firewalld.py" read >"$pw_state/firewalld.json" || return 1
`,
	restore: `IFS= read -r pw_py <"$pw_state/python" || exit 1
"$pw_py" "$pw_state/firewalld.py" restore <"$pw_state/firewalld.json" >/dev/null || exit 1
`,
}

// Confirm implements Confirmer.
func (b *Firewalld) Confirm(id string) (Script, error) { return linuxConfirmer{""}.Confirm(id) }

// RevertNow implements Confirmer.
func (b *Firewalld) RevertNow(id string) (Script, error) { return linuxConfirmer{""}.RevertNow(id) }

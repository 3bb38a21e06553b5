package winfw

// The NetSecurity cmdlets of the simulation. They follow the real ones in
// the parts portwarden relies on: names are unique per store (a duplicate
// fails with Windows error 183), queries that match nothing write an
// ObjectNotFound error, RemoteAddress is stored and printed the way
// Windows prints it (IPv4 subnets with a dotted mask), enums are enum
// values (so ConvertTo-Json writes numbers), and Remove-NetFirewallRule
// without any selector removes every rule.

import (
	"crypto/rand"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

const (
	ruleType    = "Microsoft.Management.Infrastructure.CimInstance#root/standardcimv2/MSFT_NetFirewallRule"
	portType    = "Microsoft.Management.Infrastructure.CimInstance#root/standardcimv2/MSFT_NetProtocolPortFilter"
	addrType    = "Microsoft.Management.Infrastructure.CimInstance#root/standardcimv2/MSFT_NetAddressFilter"
	profileType = "Microsoft.Management.Infrastructure.CimInstance#root/standardcimv2/MSFT_NetFirewallProfile"
	nsEnum      = "Microsoft.PowerShell.Cmdletization.GeneratedTypes.NetSecurity."
)

var (
	enabledValues   = map[string]int64{"True": 1, "False": 2}
	directionValues = map[string]int64{"Inbound": 1, "Outbound": 2}
	actionValues    = map[string]int64{"NotConfigured": 0, "Allow": 2, "Block": 4}
	gpoBoolValues   = map[string]int64{"False": 0, "True": 1, "NotConfigured": 2}
	profileFlags    = map[string]int64{"Domain": 1, "Private": 2, "Public": 4}
)

func enumOf(typ string, values map[string]int64, name string) psEnum {
	return psEnum{typ: nsEnum + typ, name: name, val: values[name]}
}

// canonicalProfile turns "Domain,Private" or "any" into the Profile flags
// enum's string form: "Any", or names joined by ", " in flag order.
func canonicalProfile(s string) (string, error) {
	var flags int64
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		switch {
		case strings.EqualFold(part, "Any"):
			continue
		case strings.EqualFold(part, "NotApplicable"):
			return "", fmt.Errorf("profile NotApplicable is not modelled")
		}
		found := false
		for n, v := range profileFlags {
			if strings.EqualFold(n, part) {
				flags |= v
				found = true
			}
		}
		if !found {
			return "", fmt.Errorf("unknown profile %q", part)
		}
	}
	if flags == 0 {
		return "Any", nil
	}
	var names []string
	for _, n := range profileNames {
		if flags&profileFlags[n] != 0 {
			names = append(names, n)
		}
	}
	return strings.Join(names, ", "), nil
}

func profileEnum(s string) psEnum {
	var v int64
	for _, part := range strings.Split(s, ", ") {
		v |= profileFlags[part]
	}
	return psEnum{typ: nsEnum + "Profile", name: s, val: v}
}

func profileApplies(ruleProfile, active string) bool {
	return ruleProfile == "Any" || slices.Contains(strings.Split(ruleProfile, ", "), active)
}

var protocolNumbers = map[string]string{"6": "TCP", "17": "UDP", "1": "ICMPv4", "58": "ICMPv6"}

func canonicalProtocol(s string) (string, error) {
	for _, n := range []string{"TCP", "UDP", "ICMPv4", "ICMPv6", "Any"} {
		if strings.EqualFold(s, n) {
			return n, nil
		}
	}
	if n, ok := protocolNumbers[s]; ok {
		return n, nil
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 0 && n <= 255 {
		return strconv.Itoa(n), nil
	}
	return "", fmt.Errorf("the protocol %q is invalid", s)
}

var portKeywords = []string{"Any", "RPC", "RPCEPMap", "IPHTTPSIn", "IPHTTPSOut", "PlayToDiscovery", "Teredo"}

const badPortMessage = "The port is invalid. When Protocol is TCP or UDP, individual ports or ranges are allowed. Also, the following port keywords are allowed on this rule: Any, RPC, RPCEPMap, IPHTTPSIn, IPHTTPSOut, PlayToDiscovery, Teredo."

func canonicalPorts(ports []string, proto string) ([]string, string) {
	out := make([]string, 0, len(ports))
	for _, p := range ports {
		p = strings.TrimSpace(p)
		kw := ""
		for _, k := range portKeywords {
			if strings.EqualFold(p, k) {
				kw = k
			}
		}
		if kw != "" {
			if kw == "Any" && len(ports) > 1 {
				return nil, badPortMessage
			}
			if kw != "Any" && proto != "TCP" && proto != "UDP" {
				return nil, badPortMessage
			}
			out = append(out, kw)
			continue
		}
		if proto != "TCP" && proto != "UDP" {
			return nil, "The port filter is invalid: ports can be specified only when the protocol is TCP or UDP."
		}
		lo, hi, isRange := strings.Cut(p, "-")
		l, err1 := strconv.ParseUint(lo, 10, 16)
		h := l
		var err2 error
		if isRange {
			h, err2 = strconv.ParseUint(hi, 10, 16)
		}
		if err1 != nil || err2 != nil || h < l {
			return nil, badPortMessage
		}
		if isRange {
			out = append(out, fmt.Sprintf("%d-%d", l, h))
		} else {
			out = append(out, strconv.FormatUint(l, 10))
		}
	}
	return out, ""
}

var addressKeywords = []string{"LocalSubnet", "DNS", "DHCP", "WINS", "DefaultGateway", "Internet", "Intranet", "IntranetRemoteAccess", "PlayToDevice", "CaptivePortal"}

const badAddressMessage = "The address is invalid. Addresses may be specified as IP addresses, ranges, or subnets. Also, the following address keywords are allowed in certain places: LocalSubnet, DNS, DHCP, WINS, DefaultGateway, Internet, Intranet, IntranetRemoteAccess, PlayToDevice. Keywords can be restricted to IPv4 or IPv6 by appending a 4 or 6."

// canonicalAddress checks one RemoteAddress entry and returns it as
// Windows stores and prints it.
func canonicalAddress(s string) (string, int, bool) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "Any") {
		return "Any", 0, true
	}
	for _, k := range addressKeywords {
		for _, suffix := range []string{"", "4", "6"} {
			if strings.EqualFold(s, k+suffix) {
				return k + suffix, 0, true
			}
		}
	}
	if lo, hi, ok := strings.Cut(s, "-"); ok {
		a, err1 := netip.ParseAddr(lo)
		b, err2 := netip.ParseAddr(hi)
		if err1 != nil || err2 != nil || a.Is4() != b.Is4() || b.Less(a) || a.Zone() != "" || b.Zone() != "" {
			return "", 0, false
		}
		return a.String() + "-" + b.String(), family(a), true
	}
	if addr, mask, ok := strings.Cut(s, "/"); ok {
		a, err := netip.ParseAddr(addr)
		if err != nil || a.Zone() != "" {
			return "", 0, false
		}
		bits, err := strconv.Atoi(mask)
		if err != nil {
			m, merr := netip.ParseAddr(mask)
			if merr != nil || !m.Is4() || !a.Is4() {
				return "", 0, false
			}
			bits = maskLen(m)
			if bits < 0 {
				return "", 0, false
			}
		}
		p, err := a.Prefix(bits)
		if err != nil {
			return "", 0, false
		}
		if bits == a.BitLen() {
			return p.Addr().String(), family(a), true
		}
		if a.Is4() {
			return p.Addr().String() + "/" + dottedMask(bits), 4, true
		}
		return p.String(), 6, true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return "", 0, false
	}
	return a.String(), family(a), true
}

func family(a netip.Addr) int {
	if a.Is4() {
		return 4
	}
	return 6
}

func maskLen(m netip.Addr) int {
	b := m.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	n := 0
	for v&0x80000000 != 0 {
		n++
		v <<= 1
	}
	if v != 0 {
		return -1
	}
	return n
}

func dottedMask(bits int) string {
	v := ^uint32(0) << (32 - bits)
	if bits == 0 {
		v = 0
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}).String()
}

// canonicalAddresses checks RemoteAddress values and orders them as the
// simulation prints them: keywords, then IPv4, then IPv6, each in the
// given order.
func canonicalAddresses(in []string) ([]string, bool) {
	var kw, v4, v6 []string
	for _, s := range in {
		c, fam, ok := canonicalAddress(s)
		if !ok {
			return nil, false
		}
		switch fam {
		case 0:
			kw = append(kw, c)
		case 4:
			v4 = append(v4, c)
		default:
			v6 = append(v6, c)
		}
	}
	if slices.Contains(kw, "Any") && len(in) > 1 {
		return nil, false
	}
	return append(append(kw, v4...), v6...), true
}

func newGUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("{%x-%x-%x-%x-%x}", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func ruleObject(r *Rule) *psObject {
	o := newObject(ruleType)
	o.set("Name", r.Name)
	o.set("ID", r.Name)
	o.set("DisplayName", r.DisplayName)
	o.set("Description", nilIfEmpty(r.Description))
	o.set("DisplayGroup", nilIfEmpty(displayGroup(r.Group)))
	o.set("Group", nilIfEmpty(r.Group))
	o.set("Enabled", enumOf("Enabled", enabledValues, r.Enabled))
	o.set("Profile", profileEnum(r.Profile))
	o.set("Direction", enumOf("Direction", directionValues, r.Direction))
	o.set("Action", enumOf("Action", actionValues, r.Action))
	o.set("PrimaryStatus", psEnum{typ: nsEnum + "PrimaryStatus", name: "OK", val: 1})
	source, sourceType := "PersistentStore", psEnum{typ: nsEnum + "PolicyStoreType", name: "Local", val: 1}
	if r.Store == "GroupPolicy" {
		source, sourceType = "Group Policy", psEnum{typ: nsEnum + "PolicyStoreType", name: "GroupPolicy", val: 2}
	}
	o.set("PolicyStoreSource", source)
	o.set("PolicyStoreSourceType", sourceType)
	o.set("InstanceID", r.Name)
	return o
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func stringList(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func portFilterObject(r *Rule) *psObject {
	o := newObject(portType)
	o.set("Protocol", r.Protocol)
	o.set("LocalPort", stringList(r.LocalPort))
	o.set("RemotePort", []any{"Any"})
	o.set("IcmpType", []any{"Any"})
	o.set("DynamicTarget", psEnum{typ: nsEnum + "DynamicTransport", name: "Any", val: 0})
	o.set("InstanceID", r.Name)
	return o
}

func addressFilterObject(r *Rule) *psObject {
	o := newObject(addrType)
	o.set("LocalAddress", []any{"Any"})
	o.set("RemoteAddress", stringList(r.RemoteAddress))
	o.set("LocalIP", []any{"Any"})
	o.set("RemoteIP", stringList(r.RemoteAddress))
	o.set("InstanceID", r.Name)
	return o
}

func profileObject(p *Profile, active bool) *psObject {
	o := newObject(profileType)
	enabled, inbound, allowLocal := p.Enabled, p.DefaultInboundAction, p.AllowLocalFirewallRules
	allowInbound := effective("NotConfigured", p.AllowInboundRules)
	if active {
		enabled = effective(enabled, p.GroupPolicy.Enabled)
		inbound = effective(inbound, p.GroupPolicy.DefaultInboundAction)
		allowLocal = effective(allowLocal, p.GroupPolicy.AllowLocalFirewallRules)
		allowInbound = effective(allowInbound, p.GroupPolicy.AllowInboundRules)
	}
	o.set("Name", p.Name)
	o.set("Enabled", enumOf("GpoBoolean", gpoBoolValues, enabled))
	o.set("DefaultInboundAction", enumOf("Action", actionValues, inbound))
	o.set("DefaultOutboundAction", enumOf("Action", actionValues, p.DefaultOutboundAction))
	o.set("AllowInboundRules", enumOf("GpoBoolean", gpoBoolValues, allowInbound))
	o.set("AllowLocalFirewallRules", enumOf("GpoBoolean", gpoBoolValues, allowLocal))
	o.set("AllowLocalIPsecRules", enumOf("GpoBoolean", gpoBoolValues, "NotConfigured"))
	o.set("InstanceID", "MSFT|FW|FirewallProfile|"+p.Name)
	return o
}

// store reads -PolicyStore: the simulation has the PersistentStore and
// the ActiveStore (PersistentStore plus Group Policy).
func (c *cmdCall) store(writable bool) (string, error) {
	s := c.str("PolicyStore")
	switch {
	case s == "" || strings.EqualFold(s, "PersistentStore"):
		return "PersistentStore", nil
	case strings.EqualFold(s, "ActiveStore") && !writable:
		return "ActiveStore", nil
	case strings.EqualFold(s, "ActiveStore"):
		return "", c.fail(&errorRecord{message: "The policy store ActiveStore is read-only. Specify a different policy store.", category: "InvalidArgument", reason: "CimException", fqid: "Windows System Error 87," + c.def.name})
	}
	return "", unsupportedAt(c.pos, "-PolicyStore %s", s)
}

func inStore(r *Rule, store string) bool {
	return store == "ActiveStore" || r.Store == store
}

func notFound(class, property, value string) *errorRecord {
	return &errorRecord{message: fmt.Sprintf("No %s objects found with property '%s' equal to '%s'.  Verify the value of the property and retry.", class, property, value),
		category: "ObjectNotFound", reason: "CimJobException", targetName: value, targetType: "String",
		fqid: "CmdletizationQuery_NotFound_" + property}
}

func hasWildcard(s string) bool { return strings.ContainsAny(s, "*?[") }

// selectRules finds the rules -Name, -DisplayName and -Group select,
// writing ObjectNotFound for a literal value that matches nothing. all
// reports that no selector was given.
func (c *cmdCall) selectRules(store string) (sel []*Rule, all bool, err error) {
	byName := c.has("Name")
	byQuery := c.has("DisplayName") || c.has("Group")
	if byName && byQuery {
		return nil, false, c.fail(&errorRecord{message: "Parameter set cannot be resolved using the specified named parameters.", category: "InvalidArgument", reason: "ParameterBindingException", fqid: "AmbiguousParameterSet," + c.def.name})
	}
	st := c.in.st
	match := func(values []string, get func(*Rule) string, property string) ([]*Rule, error) {
		var out []*Rule
		for _, v := range values {
			found := false
			for i := range st.Rules {
				r := &st.Rules[i]
				if inStore(r, store) && wildcardMatch(v, get(r)) {
					found = true
					if !slices.Contains(out, r) {
						out = append(out, r)
					}
				}
			}
			if !found && !hasWildcard(v) {
				if err := c.writeError(notFound("MSFT_NetFirewallRule", property, v)); err != nil {
					return nil, err
				}
			}
		}
		return out, nil
	}
	switch {
	case byName:
		sel, err = match(c.strs("Name"), func(r *Rule) string { return r.Name }, "InstanceID")
		return sel, false, err
	case byQuery:
		var candidates []*Rule
		first := true
		for _, q := range []struct {
			param, property string
			get             func(*Rule) string
		}{
			{"DisplayName", "DisplayName", func(r *Rule) string { return r.DisplayName }},
			{"Group", "Group", func(r *Rule) string { return r.Group }},
		} {
			if !c.has(q.param) {
				continue
			}
			got, err := match(c.strs(q.param), q.get, q.property)
			if err != nil {
				return nil, false, err
			}
			if first {
				candidates, first = got, false
				continue
			}
			candidates = slices.DeleteFunc(candidates, func(r *Rule) bool { return !slices.Contains(got, r) })
		}
		return candidates, false, nil
	}
	for i := range st.Rules {
		if inStore(&st.Rules[i], store) {
			sel = append(sel, &st.Rules[i])
		}
	}
	return sel, true, nil
}

// byObject reports whether the rules come as objects: down the pipeline
// or with -InputObject.
func (c *cmdCall) byObject() bool { return c.piped || c.has("InputObject") }

// pipedRules resolves rule objects that came down the pipeline or with
// -InputObject. A null -InputObject is a binding error, as on Windows,
// never "no selector" (which would select every rule).
func (c *cmdCall) pipedRules() ([]*Rule, error) {
	var out []*Rule
	input := c.input
	if c.has("InputObject") {
		if c.piped {
			return nil, c.fail(&errorRecord{message: "The input object cannot be bound because it did not contain the information required to bind all mandatory parameters.", category: "InvalidArgument", reason: "ParameterBindingException", fqid: "InputObjectNotBound," + c.def.name})
		}
		v := c.bound["InputObject"]
		if v == nil {
			return nil, c.fail(&errorRecord{message: "Cannot validate argument on parameter 'InputObject'. The argument is null. Provide a valid value for the argument, and then try running the command again.", category: "InvalidData", reason: "ParameterBindingValidationException", fqid: "ParameterArgumentValidationErrorNullNotAllowed," + c.def.name})
		}
		input = unroll(v)
	}
	for _, item := range input {
		o, ok := item.(*psObject)
		if !ok || o.typeName != ruleType {
			return nil, c.fail(&errorRecord{message: fmt.Sprintf("Cannot bind argument to parameter 'InputObject' because it is a %s, not a firewall rule.", typeName(item)),
				category: "InvalidArgument", reason: "ParameterBindingException", fqid: "CannotConvertArgument," + c.def.name})
		}
		id, _ := o.get("InstanceID")
		r := c.in.findRule(toString(id))
		if r == nil {
			if err := c.writeError(notFound("MSFT_NetFirewallRule", "InstanceID", toString(id))); err != nil {
				return nil, err
			}
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

func (in *interp) findRule(name string) *Rule {
	for i := range in.st.Rules {
		if strings.EqualFold(in.st.Rules[i].Name, name) {
			return &in.st.Rules[i]
		}
	}
	return nil
}

func (in *interp) removeRule(name string) {
	in.st.Rules = slices.DeleteFunc(in.st.Rules, func(x Rule) bool { return strings.EqualFold(x.Name, name) })
	in.dirty = true
}

func init() {
	store := named("PolicyStore", pString)
	register(&cmdletDef{name: "Get-NetFirewallRule", netSecurity: true,
		params: []paramDef{positional(named("Name", pStrings, "ID"), 0), named("DisplayName", pStrings), named("Group", pStrings), named("All", pSwitch), store},
		run: func(c *cmdCall) error {
			s, err := c.store(false)
			if err != nil {
				return err
			}
			rules, _, err := c.selectRules(s)
			for _, r := range rules {
				c.emit(ruleObject(r))
			}
			return err
		}})
	register(&cmdletDef{name: "New-NetFirewallRule", netSecurity: true,
		params: []paramDef{
			named("Name", pString, "ID"), named("DisplayName", pString), named("Description", pString), named("Group", pString),
			enumParam("Enabled", nsEnum+"Enabled", pEnum, "True", "False"),
			enumParam("Profile", nsEnum+"Profile", pEnums, "Any", "Domain", "Private", "Public", "NotApplicable"),
			enumParam("Direction", nsEnum+"Direction", pEnum, "Inbound", "Outbound"),
			enumParam("Action", nsEnum+"Action", pEnum, "NotConfigured", "Allow", "Block"),
			named("Protocol", pString), named("LocalPort", pStrings), named("RemoteAddress", pStrings), store,
		},
		run: newRule})
	register(&cmdletDef{name: "Remove-NetFirewallRule", netSecurity: true, pipeline: true,
		params: []paramDef{positional(named("Name", pStrings, "ID"), 0), named("DisplayName", pStrings), named("Group", pStrings), named("All", pSwitch), named("InputObject", pAny), store},
		run: func(c *cmdCall) error {
			// Without -Name, -DisplayName or -Group this removes every
			// rule of the store, as the real cmdlet does.
			rules, err := c.targetRules("")
			// Pointers into the rule list do not survive a removal; go by
			// name.
			var names []string
			for _, r := range rules {
				if r.Store != "PersistentStore" {
					if werr := c.writeError(&errorRecord{message: "Access is denied.", category: "PermissionDenied", reason: "CimException", fqid: "Windows System Error 5," + c.def.name, targetName: r.Name}); werr != nil {
						return werr
					}
					continue
				}
				names = append(names, r.Name)
			}
			for _, n := range names {
				c.in.removeRule(n)
			}
			return err
		}})
	register(&cmdletDef{name: "Rename-NetFirewallRule", netSecurity: true, pipeline: true,
		params: []paramDef{positional(named("Name", pStrings, "ID"), 0), named("NewName", pString), named("InputObject", pAny), store},
		run: func(c *cmdCall) error {
			if !c.has("NewName") || c.str("NewName") == "" {
				return c.fail(&errorRecord{message: "Cannot process command because of one or more missing mandatory parameters: NewName.", category: "InvalidArgument", reason: "ParameterBindingException", fqid: "MissingMandatoryParameter," + c.def.name})
			}
			rules, err := c.targetRules("Rename-NetFirewallRule without -Name")
			if err != nil {
				return err
			}
			newName := c.str("NewName")
			for _, r := range rules {
				if other := c.in.findRule(newName); other != nil && other != r {
					if err := c.writeError(exists(c.def.name)); err != nil {
						return err
					}
					continue
				}
				r.Name = newName
				c.in.dirty = true
			}
			return nil
		}})
	filterCmdlet := func(name string, obj func(*Rule) *psObject) {
		register(&cmdletDef{name: name, netSecurity: true, pipeline: true,
			params: []paramDef{named("All", pSwitch), named("AssociatedNetFirewallRule", pAny), store},
			run: func(c *cmdCall) error {
				if c.piped {
					rules, err := c.pipedRules()
					for _, r := range rules {
						c.emit(obj(r))
					}
					return err
				}
				if c.has("AssociatedNetFirewallRule") {
					return unsupportedAt(c.pos, "-AssociatedNetFirewallRule (pipe the rules instead)")
				}
				s, err := c.store(false)
				if err != nil {
					return err
				}
				for i := range c.in.st.Rules {
					if inStore(&c.in.st.Rules[i], s) {
						c.emit(obj(&c.in.st.Rules[i]))
					}
				}
				return nil
			}})
	}
	filterCmdlet("Get-NetFirewallPortFilter", portFilterObject)
	filterCmdlet("Get-NetFirewallAddressFilter", addressFilterObject)
	register(&cmdletDef{name: "Get-NetFirewallProfile", netSecurity: true,
		params: []paramDef{positional(named("Name", pStrings, "Profile"), 0), named("All", pSwitch), store},
		run: func(c *cmdCall) error {
			s, err := c.store(false)
			if err != nil {
				return err
			}
			profiles, err := c.selectProfiles()
			for _, p := range profiles {
				c.emit(profileObject(p, s == "ActiveStore"))
			}
			return err
		}})
	register(&cmdletDef{name: "Set-NetFirewallProfile", netSecurity: true,
		params: []paramDef{
			positional(named("Name", pStrings, "Profile"), 0), named("All", pSwitch),
			enumParam("Enabled", nsEnum+"GpoBoolean", pEnum, "False", "True", "NotConfigured"),
			enumParam("DefaultInboundAction", nsEnum+"Action", pEnum, "NotConfigured", "Allow", "Block"),
			enumParam("DefaultOutboundAction", nsEnum+"Action", pEnum, "NotConfigured", "Allow", "Block"),
			enumParam("AllowInboundRules", nsEnum+"GpoBoolean", pEnum, "False", "True", "NotConfigured"),
			enumParam("AllowLocalFirewallRules", nsEnum+"GpoBoolean", pEnum, "False", "True", "NotConfigured"),
			store,
		},
		run: func(c *cmdCall) error {
			if _, err := c.store(true); err != nil {
				return err
			}
			if !c.has("Name") && !c.has("All") {
				return unsupportedAt(c.pos, "Set-NetFirewallProfile without -Profile or -All")
			}
			// NotConfigured means "not set by this GPO": a GPO store
			// takes it, the local PersistentStore does not. The
			// simulation refuses it for every profile setting it models,
			// before changing anything.
			for _, field := range []string{"Enabled", "DefaultInboundAction", "DefaultOutboundAction", "AllowInboundRules", "AllowLocalFirewallRules"} {
				if c.has(field) && c.str(field) == "NotConfigured" {
					return c.writeError(&errorRecord{message: "The value NotConfigured is valid only in a Group Policy store; the PersistentStore takes " + notConfiguredAlternatives(field) + " for " + field + ".",
						category: "InvalidArgument", reason: "CimException", targetName: "MSFT_NetFirewallProfile", targetType: "root/standardcimv2/MSFT_NetFirewallProfile", fqid: "Windows System Error 87," + c.def.name})
				}
			}
			profiles, err := c.selectProfiles()
			for _, p := range profiles {
				c.strInto("Enabled", &p.Enabled)
				c.strInto("DefaultInboundAction", &p.DefaultInboundAction)
				c.strInto("DefaultOutboundAction", &p.DefaultOutboundAction)
				c.strInto("AllowLocalFirewallRules", &p.AllowLocalFirewallRules)
				c.strInto("AllowInboundRules", &p.AllowInboundRules)
				c.in.dirty = true
			}
			return err
		}})
}

// targetRules resolves the rules a rule-changing cmdlet acts on in a
// writable store: the piped (or -InputObject) rules, else those -Name,
// -DisplayName and -Group select. needName, when set, is the unsupported
// form reported for a call without -Name. The rules found so far come
// back with a selection error.
func (c *cmdCall) targetRules(needName string) ([]*Rule, error) {
	s, err := c.store(true)
	if err != nil {
		return nil, err
	}
	if c.byObject() {
		return c.pipedRules()
	}
	if needName != "" && !c.has("Name") {
		return nil, unsupportedAt(c.pos, "%s", needName)
	}
	rules, _, err := c.selectRules(s)
	return rules, err
}

func notConfiguredAlternatives(field string) string {
	if strings.HasSuffix(field, "Action") {
		return "Allow or Block"
	}
	return "True or False"
}

func (c *cmdCall) selectProfiles() ([]*Profile, error) {
	if !c.has("Name") {
		out := make([]*Profile, 0, 3)
		for _, n := range profileNames {
			out = append(out, c.in.st.profile(n))
		}
		return out, nil
	}
	var out []*Profile
	for _, n := range c.strs("Name") {
		found := false
		for _, pn := range profileNames {
			if wildcardMatch(n, pn) {
				found = true
				if p := c.in.st.profile(pn); !slices.Contains(out, p) {
					out = append(out, p)
				}
			}
		}
		if !found && !hasWildcard(n) {
			if err := c.writeError(notFound("MSFT_NetFirewallProfile", "Name", n)); err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

func exists(activity string) *errorRecord {
	return &errorRecord{message: "Cannot create a file when that file already exists.", category: "ResourceExists",
		reason: "CimException", targetName: "MSFT_NetFirewallRule", targetType: "root/standardcimv2/MSFT_NetFirewallRule",
		fqid: "Windows System Error 183," + activity}
}

func newRule(c *cmdCall) error {
	if _, err := c.store(true); err != nil {
		return err
	}
	if c.str("DisplayName") == "" {
		return c.fail(&errorRecord{message: "Cannot process command because of one or more missing mandatory parameters: DisplayName.", category: "InvalidArgument", reason: "ParameterBindingException", fqid: "MissingMandatoryParameter,New-NetFirewallRule"})
	}
	invalid := func(msg string) error {
		return c.writeError(&errorRecord{message: msg, category: "InvalidArgument", reason: "CimException", targetName: "MSFT_NetFirewallRule", targetType: "root/standardcimv2/MSFT_NetFirewallRule", fqid: "Windows System Error 87,New-NetFirewallRule"})
	}
	r := Rule{
		Name: c.str("Name"), DisplayName: c.str("DisplayName"), Description: c.str("Description"), Group: c.str("Group"),
		Enabled: "True", Direction: "Inbound", Action: "Allow", Profile: "Any", Protocol: "Any",
		LocalPort: []string{"Any"}, RemoteAddress: []string{"Any"}, Store: "PersistentStore",
	}
	if r.Name == "" {
		r.Name = newGUID()
	}
	c.strInto("Enabled", &r.Enabled)
	c.strInto("Direction", &r.Direction)
	if c.has("Action") {
		r.Action = c.str("Action")
		if r.Action == "NotConfigured" {
			return invalid("The Action parameter must be Allow or Block for a firewall rule.")
		}
	}
	if c.has("Profile") {
		p, err := canonicalProfile(strings.Join(c.strs("Profile"), ","))
		if err != nil {
			return unsupportedAt(c.pos, "-Profile: %v", err)
		}
		r.Profile = p
	}
	if c.has("Protocol") {
		p, err := canonicalProtocol(c.str("Protocol"))
		if err != nil {
			return invalid("The protocol is invalid. Protocols may be specified by number (0-255) or by the keywords TCP, UDP, ICMPv4, ICMPv6 or Any.")
		}
		r.Protocol = p
	}
	if c.has("LocalPort") {
		ports, msg := canonicalPorts(c.strs("LocalPort"), r.Protocol)
		if msg != "" {
			return invalid(msg)
		}
		r.LocalPort = ports
	}
	if c.has("RemoteAddress") {
		addrs, ok := canonicalAddresses(c.strs("RemoteAddress"))
		if !ok {
			return invalid(badAddressMessage)
		}
		r.RemoteAddress = addrs
	}
	if c.in.findRule(r.Name) != nil {
		return c.writeError(exists("New-NetFirewallRule"))
	}
	c.in.st.Rules = append(c.in.st.Rules, r)
	c.in.dirty = true
	c.emit(ruleObject(&c.in.st.Rules[len(c.in.st.Rules)-1]))
	return nil
}

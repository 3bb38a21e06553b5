package firewall

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/portwarden/portwarden/rule"
)

// iptRuleLines renders the rules of PORTWARDEN-INPUT for one family.
func iptRuleLines(d linuxDesired, v6 bool) []string {
	var out []string
	add := func(spec, comment, target string) {
		l := "-A " + iptChain
		if spec != "" {
			l += " " + spec
		}
		if comment != "" {
			l += ` -m comment --comment "` + comment + `"`
		}
		out = append(out, l+" -j "+target)
	}
	pick := func(src []netip.Prefix) []netip.Prefix {
		s4, s6 := rule.SplitFamilies(src)
		if v6 {
			return s6
		}
		return s4
	}
	if d.Mode == rule.Enforce {
		add("-m conntrack --ctstate RELATED,ESTABLISHED", commentEstablished, "ACCEPT")
		add("-m conntrack --ctstate INVALID", commentInvalid, "DROP")
		add("-i lo", commentLoopback, "ACCEPT")
		if v6 {
			for _, t := range iptICMPv6Types {
				add("-p ipv6-icmp -m icmp6 --icmpv6-type "+strconv.Itoa(t), commentICMPv6, "ACCEPT")
			}
			add("-s fe80::/10 -p udp -m udp --dport 546", commentDHCPv6, "ACCEPT")
		} else {
			for _, t := range iptICMPTypes {
				add("-p icmp -m icmp --icmp-type "+strconv.Itoa(t), commentICMP, "ACCEPT")
			}
		}
		for _, src := range iptSourceChunks(pick(d.ManagementSources)) {
			add("-s "+src+" -p tcp -m tcp --dport "+strconv.Itoa(int(d.ManagementPort)), commentManagement, "ACCEPT")
		}
	}
	for _, r := range d.Rules {
		srcs := iptSourceChunks(pick(r.Sources))
		if len(srcs) == 0 {
			continue
		}
		for i, chunk := range iptPortChunks(r.Ports) {
			c := r.Comment
			if i > 0 {
				c = strings.TrimSpace(commentContinued + " " + c)
			}
			for _, src := range srcs {
				add("-s "+src+" -p "+r.Protocol+" -m multiport --dports "+iptPorts(chunk), c, "ACCEPT")
			}
		}
	}
	if d.Mode == rule.Enforce {
		add("", commentDrop, "DROP")
	}
	return out
}

// iptMaxParam is the longest parameter iptables-restore reads: longer
// ones fail the whole restore with "Parameter too long!" (its parameter
// buffer holds 1024 bytes).
const iptMaxParam = 1000

// iptSourceChunks renders sources as -s lists that iptables-restore takes:
// comma-separated, each under iptMaxParam. iptables expands each list into
// one rule per source, which iptables-save lists one by one.
func iptSourceChunks(src []netip.Prefix) []string {
	var out []string
	var b strings.Builder
	for _, p := range src {
		s := p.String()
		if b.Len() > 0 && b.Len()+1+len(s) > iptMaxParam {
			out = append(out, b.String())
			b.Reset()
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s)
	}
	if b.Len() > 0 {
		out = append(out, b.String())
	}
	return out
}

func iptPorts(ps []rule.PortRange) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = strconv.Itoa(int(p.Lo))
		if p.Hi != p.Lo {
			s[i] += ":" + strconv.Itoa(int(p.Hi))
		}
	}
	return strings.Join(s, ",")
}

// iptPortChunks splits ports into lists that multiport takes: at most 15
// ports, a range counting as two.
func iptPortChunks(ps []rule.PortRange) [][]rule.PortRange {
	var out [][]rule.PortRange
	var cur []rule.PortRange
	n := 0
	for _, p := range ps {
		w := 1
		if p.Hi != p.Lo {
			w = 2
		}
		if n+w > iptMultiport {
			out = append(out, cur)
			cur, n = nil, 0
		}
		cur = append(cur, p)
		n += w
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// iptRender returns the iptables-restore input for one family, or "" when
// there is nothing to do (removing what is not there).
func iptRender(d linuxDesired, cur *iptFamilyState, v6 bool) string {
	if d.remove && !cur.installed() {
		return ""
	}
	var b strings.Builder
	b.WriteString("*filter\n:" + iptChain + " - [0:0]\n")
	keep := !d.remove && cur.jumpOK()
	if !keep {
		for _, j := range cur.jumps {
			b.WriteString("-D " + iptInput + " " + j.line.text + "\n")
		}
	}
	if d.remove {
		b.WriteString("-X " + iptChain + "\nCOMMIT\n")
		return b.String()
	}
	if !keep {
		b.WriteString("-I " + iptInput + " 1 -m comment --comment " + rule.Tag + " -j " + iptChain + "\n")
	}
	for _, l := range iptRuleLines(d, v6) {
		b.WriteString(l + "\n")
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

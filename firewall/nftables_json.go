package firewall

import (
	"encoding/json"
	"fmt"
	"net/netip"

	"go4.org/netipx"

	"github.com/portwarden/portwarden/rule"
)

// The JSON of nft -j list ruleset, the parts portwarden reads.

type nftRuleset struct {
	tables []*nftTableInfo
	chains map[nftChainID]*nftChain
}

type nftTableInfo struct {
	Family string      `json:"family"`
	Name   string      `json:"name"`
	chains []*nftChain // in listing order
	// iptables is true for tables that iptables-nft manages.
	iptables bool
}

type nftChainID struct{ family, table, chain string }

type nftChain struct {
	Family string `json:"family"`
	Table  string `json:"table"`
	Name   string `json:"name"`
	Handle int    `json:"handle"`
	Type   string `json:"type"`
	Hook   string `json:"hook"`
	Prio   *int   `json:"prio"`
	Policy string `json:"policy"`
	rules  []*nftRule
}

type nftRule struct {
	Family  string                       `json:"family"`
	Table   string                       `json:"table"`
	Chain   string                       `json:"chain"`
	Handle  int                          `json:"handle"`
	Comment string                       `json:"comment"`
	Expr    []map[string]json.RawMessage `json:"expr"`
}

func (c *nftChain) String() string { return c.Family + " " + c.Table + " " + c.Name }

// nftItem is one element of the "nftables" array: an object with one key
// (table, chain, rule, set, ...); the kinds portwarden does not read are
// skipped without being kept.
type nftItem struct {
	Table *nftTableInfo `json:"table"`
	Chain *nftChain     `json:"chain"`
	Rule  *nftRule      `json:"rule"`
}

// parseNFTRuleset parses nft -j list ruleset in one pass over the text.
// Text that does not decode is parsed again item by item
// (nftItemsByKind), which says which item is wrong.
func parseNFTRuleset(text string) (*nftRuleset, error) {
	var doc struct {
		Nftables []nftItem `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		items, err := nftItemsByKind(text)
		if err != nil {
			return nil, err
		}
		doc.Nftables = items
	}
	if doc.Nftables == nil {
		return nil, fmt.Errorf("parsing nft -j list ruleset output: no \"nftables\" array")
	}
	return nftAssemble(doc.Nftables)
}

// nftItemsByKind decodes the "nftables" array one item at a time, for the
// error of the first item that does not decode.
func nftItemsByKind(text string) ([]nftItem, error) {
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(text), &doc); err != nil {
		return nil, fmt.Errorf("parsing nft -j list ruleset output: %w", err)
	}
	items := make([]nftItem, 0, len(doc.Nftables))
	for _, item := range doc.Nftables {
		var it nftItem
		for kind, raw := range item {
			var err error
			switch kind {
			case "table":
				it.Table = &nftTableInfo{}
				if err = json.Unmarshal(raw, it.Table); err != nil {
					return nil, fmt.Errorf("parsing nft table: %w", err)
				}
			case "chain":
				it.Chain = &nftChain{}
				if err = json.Unmarshal(raw, it.Chain); err != nil {
					return nil, fmt.Errorf("parsing nft chain: %w", err)
				}
			case "rule":
				it.Rule = &nftRule{}
				if err = json.Unmarshal(raw, it.Rule); err != nil {
					return nil, fmt.Errorf("parsing nft rule: %w", err)
				}
			}
		}
		items = append(items, it)
	}
	return items, nil
}

// nftAssemble puts the chains in their tables and the rules in their
// chains, in listing order.
func nftAssemble(items []nftItem) (*nftRuleset, error) {
	rs := &nftRuleset{chains: map[nftChainID]*nftChain{}}
	tables := map[[2]string]*nftTableInfo{}
	for _, it := range items {
		if t := it.Table; t != nil {
			tables[[2]string{t.Family, t.Name}] = t
			rs.tables = append(rs.tables, t)
		}
		if c := it.Chain; c != nil {
			t := tables[[2]string{c.Family, c.Table}]
			if t == nil {
				return nil, fmt.Errorf("parsing nft ruleset: chain %s listed before its table", c)
			}
			t.chains = append(t.chains, c)
			rs.chains[nftChainID{c.Family, c.Table, c.Name}] = c
		}
		if r := it.Rule; r != nil {
			c := rs.chains[nftChainID{r.Family, r.Table, r.Chain}]
			if c == nil {
				return nil, fmt.Errorf("parsing nft ruleset: rule handle %d listed before its chain %s %s %s", r.Handle, r.Family, r.Table, r.Chain)
			}
			c.rules = append(c.rules, r)
		}
	}
	for _, t := range rs.tables {
		t.iptables = nftIsIptablesTable(t)
	}
	return rs, nil
}

// nftIsIptablesTable recognizes a table of iptables-nft: one with xtables
// expressions, or an ip/ip6 table with iptables' built-in chain names.
func nftIsIptablesTable(t *nftTableInfo) bool {
	if t.Family != "ip" && t.Family != "ip6" && t.Family != "arp" && t.Family != "bridge" {
		return false
	}
	for _, c := range t.chains {
		switch c.Name {
		case "INPUT", "FORWARD", "OUTPUT", "PREROUTING", "POSTROUTING":
			if c.Hook != "" {
				return true
			}
		}
		for _, r := range c.rules {
			for _, e := range r.Expr {
				if _, ok := e["xt"]; ok {
					return true
				}
			}
		}
	}
	return false
}

// exprKind returns the single key of an expression object.
func nftExprKind(e map[string]json.RawMessage) (string, json.RawMessage) {
	for k, v := range e {
		return k, v
	}
	return "", nil
}

// verdictOnly returns the expressions of r without counters, logs and
// limits, which do not decide whether a rule matches.
func (r *nftRule) verdictOnly() []map[string]json.RawMessage {
	var out []map[string]json.RawMessage
	for _, e := range r.Expr {
		switch k, _ := nftExprKind(e); k {
		case "counter", "log":
			continue
		}
		out = append(out, e)
	}
	return out
}

// nftParsePolicyRule reads `ip[6] saddr S tcp|udp dport P accept`.
func nftParsePolicyRule(r *nftRule) (rule.Rule, error) {
	out := rule.Rule{Comment: r.Comment}
	accepted := false
	for _, e := range r.Expr {
		kind, raw := nftExprKind(e)
		if accepted {
			return rule.Rule{}, fmt.Errorf("unexpected %q after accept", kind)
		}
		switch kind {
		case "counter":
		case "accept":
			accepted = true
		case "match":
			var m struct {
				Op   string `json:"op"`
				Left struct {
					Payload *struct {
						Protocol string `json:"protocol"`
						Field    string `json:"field"`
					} `json:"payload"`
				} `json:"left"`
				Right json.RawMessage `json:"right"`
			}
			if err := json.Unmarshal(raw, &m); err != nil {
				return rule.Rule{}, fmt.Errorf("parsing match: %w", err)
			}
			p := m.Left.Payload
			if m.Op != "==" || p == nil {
				return rule.Rule{}, fmt.Errorf("unexpected match %s", raw)
			}
			switch {
			case p.Field == "saddr" && (p.Protocol == "ip" || p.Protocol == "ip6"):
				if out.Sources != nil {
					return rule.Rule{}, fmt.Errorf("two source matches")
				}
				src, err := nftParseAddrs(m.Right, p.Protocol == "ip6")
				if err != nil {
					return rule.Rule{}, err
				}
				out.Sources = src
			case p.Field == "dport" && (p.Protocol == "tcp" || p.Protocol == "udp"):
				if out.Ports != nil {
					return rule.Rule{}, fmt.Errorf("two port matches")
				}
				ports, err := nftParsePorts(m.Right)
				if err != nil {
					return rule.Rule{}, err
				}
				out.Protocol, out.Ports = p.Protocol, ports
			default:
				return rule.Rule{}, fmt.Errorf("unexpected match on %s %s", p.Protocol, p.Field)
			}
		default:
			return rule.Rule{}, fmt.Errorf("unexpected %q expression", kind)
		}
	}
	if !accepted || out.Sources == nil || out.Ports == nil {
		return rule.Rule{}, fmt.Errorf("not a rule portwarden writes: want source addresses, destination ports and accept")
	}
	return out, nil
}

// nftSetElems returns the elements of a set value, or the value itself.
func nftSetElems(raw json.RawMessage) ([]json.RawMessage, error) {
	var obj map[string]json.RawMessage
	if json.Unmarshal(raw, &obj) == nil {
		if s, ok := obj["set"]; ok {
			var elems []json.RawMessage
			if err := json.Unmarshal(s, &elems); err != nil {
				return nil, fmt.Errorf("parsing set %s: %w", s, err)
			}
			return elems, nil
		}
	}
	return []json.RawMessage{raw}, nil
}

func nftParseAddrs(raw json.RawMessage, v6 bool) ([]netip.Prefix, error) {
	elems, err := nftSetElems(raw)
	if err != nil {
		return nil, err
	}
	var out []netip.Prefix
	for _, e := range elems {
		var p netip.Prefix
		var s string
		var pfx struct {
			Prefix *struct {
				Addr string `json:"addr"`
				Len  int    `json:"len"`
			} `json:"prefix"`
			Range []string `json:"range"`
		}
		if json.Unmarshal(e, &pfx) == nil && pfx.Range != nil {
			// nft merged touching elements of the set into a range.
			ps, err := nftParseRange(pfx.Range, v6)
			if err != nil {
				return nil, err
			}
			out = append(out, ps...)
			continue
		}
		switch {
		case json.Unmarshal(e, &s) == nil:
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("source %q: %w", s, err)
			}
			if a.Zone() != "" {
				return nil, fmt.Errorf("source %q: %w", s, errZone)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		case json.Unmarshal(e, &pfx) == nil && pfx.Prefix != nil:
			a, err := netip.ParseAddr(pfx.Prefix.Addr)
			if err != nil {
				return nil, fmt.Errorf("source %q: %w", pfx.Prefix.Addr, err)
			}
			if a.Zone() != "" {
				return nil, fmt.Errorf("source %q: %w", pfx.Prefix.Addr, errZone)
			}
			if p, err = a.Prefix(pfx.Prefix.Len); err != nil {
				return nil, fmt.Errorf("source %s/%d: %w", a, pfx.Prefix.Len, err)
			}
		default:
			return nil, fmt.Errorf("unexpected source %s", e)
		}
		if p.Addr().Is6() != v6 {
			return nil, fmt.Errorf("source %s in a match of the other address family", p)
		}
		out = append(out, p)
	}
	return out, nil
}

// nftParseRange reads an address range ["first", "last"] of a set as the
// prefixes that cover it exactly.
func nftParseRange(r []string, v6 bool) ([]netip.Prefix, error) {
	if len(r) != 2 {
		return nil, fmt.Errorf("unexpected source range %q", r)
	}
	var ends [2]netip.Addr
	for i, s := range r {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("source range %q: %w", r, err)
		}
		if a.Zone() != "" {
			return nil, fmt.Errorf("source %q: %w", s, errZone)
		}
		if a.Is6() != v6 {
			return nil, fmt.Errorf("source range %q in a match of the other address family", r)
		}
		ends[i] = a
	}
	rg := netipx.IPRangeFrom(ends[0], ends[1])
	if !rg.IsValid() {
		return nil, fmt.Errorf("source range %q: the end is below the start", r)
	}
	return rg.Prefixes(), nil
}

func nftParsePorts(raw json.RawMessage) ([]rule.PortRange, error) {
	elems, err := nftSetElems(raw)
	if err != nil {
		return nil, err
	}
	var out []rule.PortRange
	for _, e := range elems {
		var n int
		var rg struct {
			Range []int `json:"range"`
		}
		switch {
		case json.Unmarshal(e, &n) == nil:
			rg.Range = []int{n, n}
		case json.Unmarshal(e, &rg) == nil && len(rg.Range) == 2:
		default:
			return nil, fmt.Errorf("unexpected port %s", e)
		}
		lo, hi := rg.Range[0], rg.Range[1]
		if lo < 1 || hi > 65535 || hi < lo {
			return nil, fmt.Errorf("bad port range %d-%d", lo, hi)
		}
		out = append(out, rule.PortRange{Lo: uint16(lo), Hi: uint16(hi)})
	}
	return out, nil
}

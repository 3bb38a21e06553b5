package firewall

import (
	"encoding/json"
	"fmt"
)

// isOwnedJump reports a rule that jumps to portwarden_input.
func (r *nftRule) isOwnedJump() bool {
	ex := r.verdictOnly()
	if len(ex) != 1 {
		return false
	}
	k, v := nftExprKind(ex[0])
	if k != "jump" {
		return false
	}
	var j struct {
		Target string `json:"target"`
	}
	return json.Unmarshal(v, &j) == nil && j.Target == nftOwnedChain
}

// drops reports an input chain that drops what no rule accepted: policy
// drop, or a last rule that drops or rejects unconditionally.
func (c *nftChain) drops() bool {
	if c.Hook != "input" {
		return false
	}
	if c.Policy == "drop" {
		return true
	}
	if len(c.rules) == 0 {
		return false
	}
	ex := c.rules[len(c.rules)-1].verdictOnly()
	if len(ex) != 1 {
		return false
	}
	k, _ := nftExprKind(ex[0])
	return k == "drop" || k == "reject"
}

// nftForeign is what portwarden has to do with one foreign table.
type nftForeign struct {
	table *nftTableInfo
	// drops are the table's input chains that drop: each needs a jump.
	drops []*nftChain
	owned *nftChain // portwarden_input, if present
	jumps []nftJump // every rule of the table that jumps to owned
}

type nftJump struct {
	chain  *nftChain
	handle int
	index  int // position in the chain, 0 = first
}

func (f *nftForeign) needed() bool { return len(f.drops) > 0 }

// jumpOK reports whether c has exactly one jump to portwarden_input and it
// is c's first rule.
func (f *nftForeign) jumpOK(c *nftChain) bool {
	n, first := 0, false
	for _, j := range f.jumps {
		if j.chain == c {
			n++
			first = j.index == 0
		}
	}
	return n == 1 && first
}

// nftHost is a host's ruleset as portwarden sees it.
type nftHost struct {
	table   *nftTableInfo // inet portwarden, nil if missing
	chain   *nftChain     // its input chain
	foreign []*nftForeign // tables that drop or hold owned objects
	// iptDrops are input chains of iptables-nft tables that drop.
	iptDrops []*nftChain
}

func nftAnalyze(rs *nftRuleset) *nftHost {
	h := &nftHost{}
	for _, t := range rs.tables {
		if t.Family == nftFamily && t.Name == nftTable {
			h.table = t
			h.chain = rs.chains[nftChainID{nftFamily, nftTable, nftInputChain}]
			continue
		}
		f := &nftForeign{table: t}
		for _, c := range t.chains {
			if c.Name == nftOwnedChain {
				f.owned = c
			}
			if c.drops() && (t.Family == "inet" || t.Family == "ip" || t.Family == "ip6") {
				if t.iptables {
					h.iptDrops = append(h.iptDrops, c)
				} else {
					f.drops = append(f.drops, c)
				}
			}
			for i, r := range c.rules {
				if r.isOwnedJump() {
					f.jumps = append(f.jumps, nftJump{chain: c, handle: r.Handle, index: i})
				}
			}
		}
		if f.needed() || f.owned != nil || len(f.jumps) > 0 {
			h.foreign = append(h.foreign, f)
		}
	}
	return h
}

// nftHostFromFacts parses the nft ruleset in f.
func nftHostFromFacts(lf *linuxFacts) (*nftHost, error) {
	if !lf.has("nft") {
		return nil, fmt.Errorf("nft is not installed on this host")
	}
	text, err := lf.section(linuxSecNFT, "nft -j list ruleset")
	if err != nil {
		return nil, err
	}
	rs, err := parseNFTRuleset(text)
	if err != nil {
		return nil, err
	}
	return nftAnalyze(rs), nil
}

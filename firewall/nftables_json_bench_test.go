package firewall

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkParseNFTRuleset parses the nft ruleset of a host that
// portwarden manages in enforce mode (a captured facts fixture), as the
// facts of each host of a plan are parsed.
func BenchmarkParseNFTRuleset(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("testdata", "linux", "facts", "nft-enforce.txt"))
	if err != nil {
		b.Fatal(err)
	}
	text := ParseFacts(string(raw))[linuxSecNFT]
	if len(text) < 1000 {
		b.Fatalf("the fixture's ruleset is %d bytes", len(text))
	}
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		if _, err := parseNFTRuleset(text); err != nil {
			b.Fatal(err)
		}
	}
}

// TestParseNFTRulesetErrors: text the one-pass decoding refuses is read
// again item by item, so the error still names the item that is wrong.
func TestParseNFTRulesetErrors(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{`{"nftables": [{"table": {"family": "inet", "name": 7}}]}`, "parsing nft table: "},
		{`{"nftables": [{"table": {"family": "inet", "name": "t"}}, {"chain": {"family": "inet", "table": "t", "name": "c", "handle": "x"}}]}`, "parsing nft chain: "},
		{`{"nftables": [{"rule": {"handle": "x"}}]}`, "parsing nft rule: "},
		{`{"nftables": [{"rule": {"family": "inet", "table": "t", "chain": "c", "handle": 3}}]}`, "rule handle 3 listed before its chain inet t c"},
		{`{"nftables": 1}`, "parsing nft -j list ruleset output: "},
		{`{}`, `no "nftables" array`},
	} {
		_, err := parseNFTRuleset(tc.text)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one with %q", tc.text, err, tc.want)
		}
	}
}

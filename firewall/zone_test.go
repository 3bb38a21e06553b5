package firewall

import (
	"encoding/json"
	"errors"
	"testing"
)

// A host answering with a zoned source address is refused, not stripped.
func TestHostZonesRefused(t *testing.T) {
	for _, raw := range []string{`"fe80::1%eth0"`, `{"prefix":{"addr":"fe80::%eth0","len":64}}`, `{"set":["fe80::1%x;y"]}`} {
		if _, err := nftParseAddrs(json.RawMessage(raw), true); !errors.Is(err, errZone) {
			t.Errorf("nft %s: err = %v, want errZone", raw, err)
		}
	}
	args, err := iptSplit("-s fe80::1%eth0 -p tcp -m tcp --dport 22 -m comment --comment \"portwarden tcp/22\" -j ACCEPT")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := iptParsePolicyRule(iptLine{args: args}, true); !errors.Is(err, errZone) {
		t.Errorf("iptables: err = %v, want errZone", err)
	}
}

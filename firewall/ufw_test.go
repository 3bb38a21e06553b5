package firewall

import (
	"encoding/hex"
	"testing"
)

func TestUFWOwnedHex(t *testing.T) {
	if got := hex.EncodeToString([]byte(ufwOwnedPrefix)); got != ufwOwnedHex {
		t.Errorf("ufwOwnedHex = %s, want %s", ufwOwnedHex, got)
	}
}

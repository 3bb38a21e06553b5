package winfw

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestWriteJSON: the file is replaced whole, with owner-only access, and
// no temporary file is left next to it.
func TestWriteJSON(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.json")
	for _, v := range []dirACL{{Owner: sidAdmins, SIDs: []string{sidSystem}}, {Owner: sidSystem, Protected: true}} {
		if err := writeJSON(p, v); err != nil {
			t.Fatal(err)
		}
		var got dirACL
		b, err := os.ReadFile(p)
		if err != nil || json.Unmarshal(b, &got) != nil || got.Owner != v.Owner || got.Protected != v.Protected {
			t.Fatalf("read back %q (%v), want %+v", b, err, v)
		}
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v (%v), want 0600", fi.Mode(), err)
	}
	if es, _ := os.ReadDir(dir); len(es) != 1 {
		t.Errorf("the directory holds %d files, want only x.json", len(es))
	}
}

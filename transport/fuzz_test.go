package transport

import (
	"bytes"
	"testing"
)

// FuzzCLIXML: cleanCLIXML never panics, keeps text without CLIXML as it
// is, and never makes the output longer than the input plus its markers
// (decoding shortens; what does not parse is kept).
func FuzzCLIXML(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		out := cleanCLIXML(in)
		if !bytes.Contains(in, []byte(clixmlMarker)) && !bytes.Equal(out, in) {
			t.Errorf("text without CLIXML changed: %q -> %q", in, out)
		}
		if len(out) > len(in)+2*bytes.Count(in, []byte(clixmlMarker))+16 {
			t.Errorf("output (%d bytes) longer than the input (%d)", len(out), len(in))
		}
	})
}

package main

import (
	"bytes"
	"io"
	"testing"
)

// The streamed document is byte for byte what json.Encoder writes for the
// whole value, for no host, one and several, with and without a tail
// (HTML-escaped text included).
func TestWriteHostsJSONMatchesEncoder(t *testing.T) {
	type host struct {
		Name  string   `json:"name"`
		Notes []string `json:"notes"`
	}
	type doc struct {
		FormatVersion string         `json:"format_version"`
		Hosts         []host         `json:"hosts"`
		Summary       map[string]int `json:"summary,omitempty"`
	}
	for _, tt := range []struct {
		name  string
		hosts []host
		tail  bool
	}{
		{"none", []host{}, false},
		{"none with tail", []host{}, true},
		{"one", []host{{"a", []string{"<b> & c"}}}, false},
		{"several with tail", []host{{"a", nil}, {"b", []string{}}, {"c", []string{"x", "y"}}}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := doc{FormatVersion: formatVersion, Hosts: tt.hosts}
			var tail []jsonField
			if tt.tail {
				d.Summary = map[string]int{"add": 1, "remove": 2}
				tail = []jsonField{{"summary", d.Summary}}
			}
			var want, got bytes.Buffer
			if writeJSON(&want, io.Discard, d) != 0 {
				t.Fatal("writeJSON failed")
			}
			if writeHostsJSON(&got, io.Discard, len(tt.hosts), func(i int) any { return tt.hosts[i] }, tail) != 0 {
				t.Fatal("writeHostsJSON failed")
			}
			if got.String() != want.String() {
				t.Errorf("streamed:\n%s\nencoder:\n%s", got.String(), want.String())
			}
		})
	}
}

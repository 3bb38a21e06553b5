package wsman

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestParseXSDuration(t *testing.T) {
	tests := map[string]time.Duration{
		"PT60S":      60 * time.Second,
		"PT60.000S":  60 * time.Second,
		"PT0.25S":    250 * time.Millisecond,
		"PT1M30S":    90 * time.Second,
		"PT2H":       2 * time.Hour,
		"P0DT0H1M0S": time.Minute,
		"P1D":        24 * time.Hour,
	}
	for in, want := range tests {
		if got, ok := parseXSDuration(in); !ok || got != want {
			t.Errorf("parseXSDuration(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "60", "P", "PT", "PT-1S", "PT1.S", "60s"} {
		if got, ok := parseXSDuration(bad); ok {
			t.Errorf("parseXSDuration(%q) = %v, want an error", bad, got)
		}
	}
	var env envelope
	if got := env.operationTimeout(); got != defaultOperationTimeout {
		t.Errorf("no OperationTimeout: %v", got)
	}
	if got := env.maxEnvelopeSize(); got != defaultMaxEnvelopeSize {
		t.Errorf("no MaxEnvelopeSize: %v", got)
	}
}

func TestNewID(t *testing.T) {
	re := regexp.MustCompile(`^[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$`)
	if id := newID(); !re.MatchString(id) {
		t.Errorf("newID() = %q", id)
	}
}

func TestToCLIXML(t *testing.T) {
	got := toCLIXML("a & b\r\nline_x2\n\tlast")
	want := clixmlHeader + clixmlProgress +
		`<S S="Error">a &amp; b_x000D__x000A_</S>` +
		`<S S="Error">line_x005F_x2_x000A_</S>` +
		`<S S="Error">_x0009_last</S>` + clixmlFooter
	if got != want {
		t.Errorf("toCLIXML:\n got %q\nwant %q", got, want)
	}
	if got := toCLIXML(""); got != clixmlHeader+clixmlProgress+clixmlFooter {
		t.Errorf("empty stderr: %q", got)
	}
	already := clixmlMarker + "\r\n<Objs/>"
	if got := toCLIXML(already); got != already {
		t.Errorf("CLIXML passed in was changed: %q", got)
	}
	if !strings.HasPrefix(toCLIXML("x"), "#< CLIXML\r\n<Objs Version=\"1.1.0.1\"") {
		t.Error("missing the #< CLIXML line")
	}
}

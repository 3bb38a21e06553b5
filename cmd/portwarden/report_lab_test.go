package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portwarden/portwarden/lab"
)

// TestReport: the report of a lab fleet with one host in drift, in all
// three formats, the HTML loaded in headless Chromium.
func TestReport(t *testing.T) {
	l := lab.UpForTest(t, lab.Options{Linux: 3})
	inv := twoReposAndAGateway(t, l)
	if _, _, code := runCLI(t, "apply", "--inventory", inv, "--auto-approve", "--host", "lnx01", "--host", "lnx02"); code != 0 {
		t.Fatalf("apply: exit %d", code)
	}
	dir := t.TempDir()
	out := func(format string) string {
		t.Helper()
		p := filepath.Join(dir, "report."+format)
		if _, errOut, code := runCLI(t, "report", "--inventory", inv, "--format", format, "--out", p, "--probe"); code != 0 {
			t.Fatalf("report --format %s: exit %d\n%s", format, code, errOut)
		}
		return p
	}

	var rep report
	b, _ := os.ReadFile(out("json"))
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	states := map[string]string{}
	for _, h := range rep.Hosts {
		states[h.Name] = h.State
		if h.Managed && len(h.Rules) == 0 {
			t.Errorf("%s: no rules in the report", h.Name)
		}
	}
	want := map[string]string{"lnx01": reportInSync, "lnx02": reportInSync, "lnx03": reportDrift, "vbr": reportUnmanaged}
	for h, s := range want {
		if states[h] != s {
			t.Errorf("%s: state %q, want %q", h, states[h], s)
		}
	}
	var probed bool
	for _, h := range rep.Hosts {
		if h.Name == "lnx01" && len(h.Probes) > 0 {
			probed = true
		}
	}
	if !probed {
		t.Error("no probes to lnx01 in the report")
	}
	// The repositories reach each other on the data mover ports.
	if !hasFlow(rep, "host:lnx02", "host:lnx01", "tcp/2500-3300") {
		t.Errorf("no flow lnx02 → lnx01 tcp/2500-3300 in %+v", rep.Flows)
	}

	md, _ := os.ReadFile(out("markdown"))
	if !regexp.MustCompile(`(?m)^\| lnx03 \| create \| tcp/`).Match(md) || regexp.MustCompile(`(?m)^\| lnx01 \| `).Match(md) {
		t.Errorf("markdown change table should list lnx03's changes and none of lnx01's:\n%s", md)
	}

	html := out("html")
	page, _ := os.ReadFile(html)
	if regexp.MustCompile(`(?i)(src|href)\s*=\s*"(https?:)?//`).Match(page) {
		t.Error("the HTML references external assets")
	}
	checkInChromium(t, html, len(rep.Hosts))

	// A host down: the report is written all the same, with the host
	// unreachable, and the exit code says some hosts failed.
	stopSSHD(t, l, "lnx03")
	p := filepath.Join(dir, "down.json")
	if _, errOut, code := runCLI(t, "report", "--inventory", inv, "--format", "json", "--out", p); code != exitPartial {
		t.Fatalf("report with a host down: exit %d, want %d\n%s", code, exitPartial, errOut)
	}
	var down report
	if b, err := os.ReadFile(p); err != nil || json.Unmarshal(b, &down) != nil {
		t.Fatalf("the report with a host down was not written: %v", err)
	}
	for _, h := range down.Hosts {
		if h.Name == "lnx03" && h.State != reportUnreachable {
			t.Errorf("lnx03 down: state %q, want %q", h.State, reportUnreachable)
		}
	}
}

func hasFlow(rep report, from, to, port string) bool {
	for _, f := range rep.Flows {
		if f.From == from && f.To == to && strings.Contains(strings.Join(f.Ports, " "), port) {
			return true
		}
	}
	return false
}

// checkInChromium loads the page in headless Chromium inside a network
// namespace of its own (so it cannot reach any network), takes a
// screenshot, and checks the rendered DOM: one diagram node per host and
// no resource that failed to load.
func checkInChromium(t *testing.T, page string, hosts int) {
	t.Helper()
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (Debian package chromium)")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare is not installed")
	}
	shot := filepath.Join(t.TempDir(), "report.png")
	run := func(extra ...string) (string, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		args := append([]string{"--net", chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
			"--disable-component-update", "--disable-sync", "--no-first-run", "--enable-logging=stderr", "--v=0",
			"--user-data-dir=" + t.TempDir(), "--window-size=1400,1800"}, extra...)
		cmd := exec.CommandContext(ctx, unshare, append(args, "file://"+page)...)
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("chromium %v: %v\n%s", extra, err, stderr.String())
		}
		return stdout.String(), stderr.String()
	}
	dom, logs := run("--dump-dom")
	if n := strings.Count(dom, `class="node pw-host"`); n != hosts {
		t.Errorf("the rendered diagram has %d host nodes, want %d", n, hosts)
	}
	if !strings.Contains(dom, "<svg") {
		t.Error("no SVG in the rendered page")
	}
	for _, bad := range []string{"Failed to load resource", "ERR_FILE_NOT_FOUND", "net::ERR_", "Uncaught"} {
		if strings.Contains(logs, bad) {
			t.Errorf("chromium reported %q:\n%s", bad, logs)
		}
	}
	run("--screenshot=" + shot)
	if fi, err := os.Stat(shot); err != nil || fi.Size() < 10000 {
		t.Errorf("screenshot: %v (%v bytes)", err, fi)
	}
	if d := os.Getenv("PORTWARDEN_REPORT_SHOT"); d != "" {
		b, _ := os.ReadFile(shot)
		_ = os.WriteFile(d, b, 0o644)
	}
}

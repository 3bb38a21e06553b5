package policies

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// v13Path is the English "Ports" page of Veeam Backup & Replication 13 (a
// markdown copy), relative to this package directory.
const v13Path = "../../shared/reference/veeam-used-ports-v13.en.md"

// pagePort is one port number of a port cell of the v13 page.
type pagePort struct {
	Port  int
	Line  int    // 1-based
	Table string // the table's title (the line before its header row)
	Cell  string
}

var (
	// A port cell: numbers joined by ",", "or", "to", "-", "and", each maybe
	// followed by "+" ("2049+": the next free port), maybe ending in "and
	// other" ("1433, 1434 and other").
	v13PortCell = regexp.MustCompile(`^\d+\+?(\s*(,|or|to|-|and)\s*\d+\+?)*( and other)?$`)
	// The NFS v3 placeholders, written with escaped underscores.
	v13Placeholder = regexp.MustCompile(`^[a-z]+_port$`)
)

// parseV13 extracts every port number of the page's tables. A row of five
// cells is From | To | Protocol | Port | Notes; a shorter row continues the
// row above (a rowspan) and its port cell is whichever cell looks like one
// ("| TCP | 6160 | note |", "| 2805 | note |"). Range ends count, as in
// MentionedPorts; numbers in notes are not ports.
func parseV13(t *testing.T, text string) ([]pagePort, []string) {
	t.Helper()
	var ports []pagePort
	var holders []string
	title := ""
	last := ""
	for i, l := range strings.Split(text, "\n") {
		s := strings.TrimSpace(l)
		if !strings.HasPrefix(s, "|") {
			if s != "" {
				last = s
			}
			continue
		}
		cells := strings.Split(strings.Trim(s, "|"), "|")
		for j := range cells {
			cells[j] = strings.TrimSpace(strings.ReplaceAll(cells[j], `\_`, "_"))
		}
		if len(cells) >= 2 && cells[0] == "From" && cells[1] == "To" {
			title = last
			continue
		}
		if title == "" {
			continue // the note boxes before the first table
		}
		cand := cells
		if len(cells) >= 5 {
			cand = cells[3:4]
		}
		for _, c := range cand {
			switch {
			case v13PortCell.MatchString(c):
				for _, n := range number.FindAllString(c, -1) {
					p, _ := strconv.Atoi(n)
					if p < 1 || p > 65535 {
						t.Errorf("v13 page line %d: %q in port cell %q is not a port", i+1, n, c)
						continue
					}
					ports = append(ports, pagePort{Port: p, Line: i + 1, Table: title, Cell: c})
				}
			case v13Placeholder.MatchString(c):
				holders = append(holders, c)
			}
		}
	}
	return ports, holders
}

func loadV13(t *testing.T) *Policy {
	t.Helper()
	pol, diags := LoadPack(13, nil)
	if diags.HasErrors() {
		t.Fatalf("loading the v13 pack: %s", diags.Error())
	}
	return pol
}

// TestV13PageExtraction checks the extractor on the real page, so that a
// parsing regression cannot make TestV13PortsEncoded pass vacuously.
func TestV13PageExtraction(t *testing.T) {
	ports, holders := parseV13(t, loadReference(t, v13Path))
	got := map[int]bool{}
	tables := map[string]bool{}
	for _, p := range ports {
		got[p.Port] = true
		tables[p.Table] = true
	}
	for _, want := range []int{22, 53, 88, 111, 123, 135, 137, 139, 443, 445, 514, 587, 902, 1058, 1063, 1239, 2179,
		2500, 2741, 2805, 3300, 3389, 4460, 5432, 5696, 6160, 6161, 6162, 6163, 6164, 6165, 6166, 6170, 6173, 6182,
		6190, 6210, 6220, 6514, 8008, 8500, 8732, 9419, 9420, 10443, 11731, 33032, 33033, 33034, 33035, 33036,
		33050, 49152, 65535} {
		if !got[want] {
			t.Errorf("extractor missed port %d", want)
		}
	}
	for _, never := range []int{13, 12, 2008, 929851, 4165} {
		if got[never] {
			t.Errorf("extractor took %d for a port", never)
		}
	}
	for _, want := range []string{"Backup Server", "VMware vSphere Components", "High Availability (HA) Cluster Components", "CDP Proxies", "Veeam Infrastructure Appliances"} {
		if !tables[want] {
			t.Errorf("extractor found no ports in table %q", want)
		}
	}
	if want := []string{"mountd_port", "statd_port", "lockd_port"}; !slices.Equal(holders, want) {
		t.Errorf("placeholders = %v, want %v", holders, want)
	}
}

// TestV13PortsEncoded fails unless every port number of the v13 page is
// used by a flow of the v13 pack (under some setting, every platform on) or
// listed in a not_encoded block with its reason.
func TestV13PortsEncoded(t *testing.T) {
	ports, holders := parseV13(t, loadReference(t, v13Path))
	pol := loadV13(t)
	mentioned := pol.MentionedPorts()
	missing := map[int][]string{}
	for _, p := range ports {
		if len(mentioned[p.Port]) == 0 {
			missing[p.Port] = append(missing[p.Port], fmt.Sprintf("line %d %q (%s)", p.Line, p.Cell, p.Table))
		}
	}
	for _, port := range slices.Sorted(maps.Keys(missing)) {
		t.Errorf("v13 page port %d is neither used by a flow nor listed in a not_encoded block: %s", port, strings.Join(missing[port], ", "))
	}
	for _, h := range holders {
		if pol.Variables["nfs_"+h] == nil {
			t.Errorf("v13 page names %s: the pack has no variable nfs_%s", h, h)
		}
	}
}

package policies

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/portwarden/portwarden/rule"
)

// seedPath is the Japanese "Used Ports" page of Veeam Backup & Replication
// (tables flattened into text), relative to this package directory: the
// repository's shared/ reference tree sits beside the checkout.
const seedPath = "../../shared/reference/veeam-used-ports.ja.txt"

// seedPort is one port number found in a port cell of the seed.
type seedPort struct {
	Port int
	Line int    // 1-based line of the seed
	Cell string // the cell as written
}

// seedPlaceholder is a port cell that names a port instead of giving it
// (the NFS v3 "mountd_port", "statd_port", "lockd_port").
type seedPlaceholder struct {
	Name string
	Line int
}

var (
	// A table starts with its header row "送信元 | 送信先 | プロトコル | ポート"
	// (from, to, protocol, port); its footnotes follow its rows.
	tableHeader = "送信元"
	// A footnote definition: a footnote number, then text ("1この範囲の…",
	// "1 ポート135は…", "3 This range…"). A port cell never has text after
	// its leading digit.
	footnoteLine = regexp.MustCompile(`^([1-9])\s*([^\d\s~、,].*)$`)
	// Parenthesized remarks inside a port cell: "(Microsoft Windows 2008以降用)",
	// "(デフォルト、Amazon S3 Glacierウィザードで調整可能)".
	remark = regexp.MustCompile(`[(（][^)）]*[)）]`)
	// A port cell: numbers, "~" ranges, separated by "、", "," or spaces.
	portCell    = regexp.MustCompile(`^[0-9][0-9~、,\s]*$`)
	placeholder = regexp.MustCompile(`^[a-z]+_port$`)
	// "N~M" anywhere: the seed writes "~" only between port numbers.
	textRange = regexp.MustCompile(`(\d+)~(\d+)`)
	number    = regexp.MustCompile(`\d+`)
)

// parseSeed extracts every port number of the seed's port cells, stripping
// the footnote markers glued onto them, plus the ranges that footnotes and
// notes write in running text ("2500~5000"). Numbers outside port cells
// (Windows 2008, version 10.0, KB numbers) are not ports and are ignored.
func parseSeed(t *testing.T, text string) ([]seedPort, []seedPlaceholder) {
	t.Helper()
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")

	// Split the page into tables: each runs from its header row to the next
	// table's header; the footnotes defined inside a table are the only
	// markers its cells can carry.
	type table struct {
		start, end int               // line indexes [start, end)
		notes      map[string]string // footnote number → its text
	}
	var tables []*table
	for i, l := range lines {
		if strings.TrimSpace(l) == tableHeader {
			if n := len(tables); n > 0 {
				tables[n-1].end = i
			}
			tables = append(tables, &table{start: i, end: len(lines), notes: map[string]string{}})
		}
	}
	tableAt := func(i int) *table {
		for _, tb := range tables {
			if i >= tb.start && i < tb.end {
				return tb
			}
		}
		return &table{notes: map[string]string{}} // text before the first table
	}
	for _, tb := range tables {
		for i := tb.start; i < tb.end; i++ {
			if m := footnoteLine.FindStringSubmatch(strings.TrimSpace(lines[i])); m != nil && !isPortCell(lines[i]) {
				tb.notes[m[1]] = m[2]
			}
		}
	}

	var ports []seedPort
	var holders []seedPlaceholder
	add := func(lo, tok string, i int, cell string, notes map[string]string) {
		p := stripFootnote(lo, tok, notes)
		if p < 1 || p > 65535 {
			t.Errorf("seed line %d: %q in port cell %q is not a port number, even without a footnote marker", i+1, tok, cell)
			return
		}
		ports = append(ports, seedPort{Port: p, Line: i + 1, Cell: cell})
	}
	for i, l := range lines {
		s := strings.TrimSpace(l)
		switch {
		case isPortCell(s):
			notes := tableAt(i).notes
			for _, item := range strings.FieldsFunc(cellText(s), func(r rune) bool {
				return r == '、' || r == ',' || r == ' ' || r == '\t' || r == '\u3000'
			}) {
				lo, hi, isRange := strings.Cut(item, "~")
				if isRange {
					add("", lo, i, s, nil) // a marker is glued onto the end of a cell only
					add(lo, hi, i, s, notes)
				} else {
					add("", lo, i, s, notes)
				}
			}
		case placeholder.MatchString(s):
			holders = append(holders, seedPlaceholder{Name: s, Line: i + 1})
		default:
			// Running text (footnotes, notes): only explicit "N~M" ranges.
			for _, m := range textRange.FindAllStringSubmatch(s, -1) {
				add("", m[1], i, m[0], nil)
				add("", m[2], i, m[0], nil)
			}
		}
	}
	return ports, holders
}

// cellText drops a port cell's remarks and the words "およびその他" ("and
// others", after "1433、1434、").
func cellText(s string) string {
	s = remark.ReplaceAllString(s, "")
	s = strings.ReplaceAll(s, "およびその他", "")
	return strings.TrimSpace(s)
}

func isPortCell(s string) bool {
	return portCell.MatchString(cellText(strings.TrimSpace(s)))
}

// stripFootnote returns the port a cell token stands for; lo is the start of
// the range when tok ends one, else "". A footnote marker is the token's
// last digit when that digit is a footnote of the table and dropping it
// makes the cell what the footnote is about:
//   - the footnote names the port without the digit ("1351" with a note
//     "port 135 is optional" is 135), or
//   - tok ends a range and the footnote gives a range with the same start
//     ("2500~33001" with a note about "2500~5000" is 2500~3300), or
//   - tok is no port at all (above 65535).
//
// Otherwise the digit is part of the number: 65535, 9501, 6161.
func stripFootnote(lo, tok string, notes map[string]string) int {
	n, err := strconv.Atoi(tok)
	if err != nil {
		return -1
	}
	if len(tok) < 2 {
		return n
	}
	mark, base := tok[len(tok)-1:], tok[:len(tok)-1]
	note, ok := notes[mark]
	if !ok {
		return n
	}
	strip := n > 65535 || slices.Contains(number.FindAllString(note, -1), base)
	if lo != "" {
		for _, m := range textRange.FindAllStringSubmatch(note, -1) {
			if m[1] == lo {
				strip = true
			}
		}
	}
	if strip {
		b, _ := strconv.Atoi(base)
		return b
	}
	return n
}

func loadSeed(t *testing.T) string {
	t.Helper()
	return loadReference(t, seedPath)
}

// loadReference reads a page of the shared/ reference tree: at rel from
// the package directory (a checkout with shared/ beside it), or, for a git
// worktree one level deeper, one directory further up.
func loadReference(t *testing.T, rel string) string {
	t.Helper()
	for _, p := range []string{rel, filepath.Join("..", rel)} {
		b, err := os.ReadFile(p)
		if err == nil {
			return string(b)
		}
		if !os.IsNotExist(err) {
			t.Fatalf("reading %s: %v", p, err)
		}
	}
	t.Skipf("%s is absent (it lives in the shared/ reference tree beside the checkout); nothing to check the policy against", rel)
	return ""
}

func loadBuiltin(t *testing.T) *Policy {
	t.Helper()
	pol, diags := LoadBuiltin()
	if diags.HasErrors() {
		t.Fatalf("loading the built-in policy: %s", diags.Error())
	}
	return pol
}

// TestSeedExtraction checks the extractor itself on the real seed, so that a
// silent parsing regression cannot make TestSeedPortsEncoded pass vacuously.
func TestSeedExtraction(t *testing.T) {
	ports, holders := parseSeed(t, loadSeed(t))
	got := map[int]bool{}
	for _, p := range ports {
		got[p.Port] = true
	}
	for _, want := range []int{
		20, 21, 22, 25, 53, 80, 111, 135, 389, 443, 445, 636, 1433, 1434, 2049, 2052, 2500,
		3268, 3269, 3300, 3389, 5000, 6160, 6162, 6163, 6164, 6165, 6166, 6167, 6170, 6172,
		6173, 6190, 6210, 6290, 8100, 8732, 9387, 9388, 9392, 9394, 9396, 9401, 9419, 9501,
		10000, 10003, 11731, 30024, 49152, 65535,
	} {
		if !got[want] {
			t.Errorf("extractor missed port %d", want)
		}
	}
	for _, never := range []int{33001, 33002, 330, 2008, 10} {
		if got[never] {
			t.Errorf("extractor took %d for a port", never)
		}
	}
	var names []string
	for _, h := range holders {
		if !slices.Contains(names, h.Name) {
			names = append(names, h.Name)
		}
	}
	if want := []string{"mountd_port", "statd_port", "lockd_port"}; !slices.Equal(names, want) {
		t.Errorf("placeholders = %v, want %v", names, want)
	}
}

func TestStripFootnote(t *testing.T) {
	rangeNote := map[string]string{"1": "この範囲のポートは…アップグレードする場合、2500~5000のポート範囲が…"}
	optional135 := map[string]string{"1": "ポート135はオプションであり、より迅速な展開を提供します。", "2": "この範囲のポートは…2500~5000のポート範囲が…"}
	for _, c := range []struct {
		lo, tok string
		notes   map[string]string
		want    int
	}{
		{"2500", "33001", rangeNote, 3300},
		{"2500", "33002", optional135, 3300},
		{"2500", "33001", optional135, 33001}, // note 1 is not about this range: left for the caller to report
		{"49152", "65535", rangeNote, 65535},  // no footnote 5
		{"", "9501", optional135, 9501},       // note 1 is about 135, not 950
		{"", "1351", optional135, 135},        // 135 + note 1
		{"", "6161", rangeNote, 6161},
		{"", "445", nil, 445},
		{"", "99991", rangeNote, 9999}, // no port with the digit
	} {
		if got := stripFootnote(c.lo, c.tok, c.notes); got != c.want {
			t.Errorf("stripFootnote(%q, %q) = %d, want %d", c.lo, c.tok, got, c.want)
		}
	}
}

// TestSeedPortsEncoded fails unless every port number of the seed is used by
// some flow of the built-in policy (as a port or a range end, under some
// setting of its variables) or listed in a not_encoded block, and every
// named NFS port has a variable that opens it.
func TestSeedPortsEncoded(t *testing.T) {
	seed := loadSeed(t)
	pol := loadBuiltin(t)
	ports, holders := parseSeed(t, seed)
	mentioned := pol.MentionedPorts()
	missing := map[int][]string{}
	for _, p := range ports {
		if len(mentioned[p.Port]) == 0 {
			missing[p.Port] = append(missing[p.Port], fmt.Sprintf("line %d %q", p.Line, p.Cell))
		}
	}
	for _, port := range slices.Sorted(maps.Keys(missing)) {
		where := missing[port]
		t.Errorf("seed port %d is neither used by a flow nor listed in a not_encoded block (seed %s)", port, strings.Join(where, ", "))
	}

	// "mountd_port" and its kind are set by variables nfs_<name>: setting one
	// must open that port in some flow.
	for i, h := range holders {
		v := "nfs_" + h.Name
		if pol.Variables[v] == nil {
			t.Errorf("seed line %d names %s: the policy has no variable %q", h.Line, h.Name, v)
			continue
		}
		sentinel := 40000 + i
		flows, diags := pol.Evaluate(map[string]cty.Value{v: cty.NumberIntVal(int64(sentinel))})
		if diags.HasErrors() {
			t.Fatalf("evaluating with %s = %d: %s", v, sentinel, diags.Error())
		}
		found := false
		for _, f := range flows {
			if f.Active && covers(f.Ports, sentinel, sentinel) {
				found = true
			}
		}
		if !found {
			t.Errorf("seed line %d names %s: setting %s = %d opens it in no flow", h.Line, h.Name, v, sentinel)
		}
	}
}

func covers(prs []rule.PortRange, lo, hi int) bool {
	for _, pr := range prs {
		if int(pr.Lo) <= lo && hi <= int(pr.Hi) {
			return true
		}
	}
	return false
}

// portsBetween is what the active flows from role `from` to role `to` open
// for proto.
func portsBetween(flows []ConcreteFlow, from, to, proto string) []rule.PortRange {
	var out []rule.PortRange
	for _, f := range flows {
		if f.Active && slices.Contains(f.From, from) && slices.Contains(f.To, to) && slices.Contains(f.Protocols, proto) {
			out = append(out, f.Ports...)
		}
	}
	return rule.NormalizePorts(out)
}

// TestKeyReadings pins the readings of the seed that docs/policy.md
// explains: who is the source, which ports, which conditions.
func TestKeyReadings(t *testing.T) {
	pol := loadBuiltin(t)
	upgraded := map[string]cty.Value{"upgraded_from_pre_v10": cty.True}
	for _, c := range []struct {
		name         string
		settings     map[string]cty.Value
		from, to     string
		proto        string
		lo, hi       int
		want         bool
		exactlyRange bool // the opened range is lo-hi itself, not a wider one
	}{
		{name: "repository gets 2500-3300 from the off-host proxy", from: "offhost_proxy", to: "backup_repository", proto: "tcp", lo: 2500, hi: 3300, want: true, exactlyRange: true},
		{name: "repository gets 2500-3300 from the on-host proxy", from: "hyperv_host", to: "backup_repository", proto: "tcp", lo: 2500, hi: 3300, want: true, exactlyRange: true},
		{name: "upgraded: repository gets 2500-5000 from proxies", settings: upgraded, from: "offhost_proxy", to: "backup_repository", proto: "tcp", lo: 2500, hi: 5000, want: true, exactlyRange: true},
		{name: "upgraded: Windows servers get 2500-5000", settings: upgraded, from: "backup_server", to: "windows_server", proto: "tcp", lo: 2500, hi: 5000, want: true},
		{name: "Windows servers get 445 from the backup server", from: "backup_server", to: "windows_server", proto: "tcp", lo: 445, hi: 445, want: true},
		{name: "135 is optional: closed by default", from: "backup_server", to: "hyperv_host", proto: "tcp", lo: 135, hi: 135, want: false},
		{name: "135 is optional: opened on request", settings: map[string]cty.Value{"optional_port_135": cty.True}, from: "backup_server", to: "hyperv_host", proto: "tcp", lo: 135, hi: 135, want: true},
		{name: "135 to domain controllers is not optional", from: "backup_server", to: "domain_controller", proto: "tcp", lo: 135, hi: 135, want: true},
		{name: "Windows infrastructure servers get the dynamic RPC range", from: "backup_server", to: "windows_infrastructure", proto: "tcp", lo: 49152, hi: 65535, want: true},
		{name: "Hyper-V integration service", from: "backup_server", to: "hyperv_host", proto: "tcp", lo: 6163, hi: 6163, want: true},
		{name: "SMB3 server gets only 6160 and 6162 of the Windows table", from: "backup_server", to: "smb3_server", proto: "tcp", lo: 445, hi: 445, want: false},
		{name: "SMB3 server sends CBT data to the proxy", from: "smb3_server", to: "offhost_proxy", proto: "tcp", lo: 2500, hi: 3300, want: true},
		{name: "not the other way round", from: "offhost_proxy", to: "smb3_server", proto: "tcp", lo: 2500, hi: 3300, want: false},
		{name: "Linux servers send data to the backup server", from: "linux_server", to: "backup_server", proto: "tcp", lo: 2500, hi: 3300, want: true},
		{name: "Linux servers get SSH from the backup server", from: "backup_server", to: "linux_server", proto: "tcp", lo: 22, hi: 22, want: true},
		{name: "Cloud Connect console port is off by default", from: "console", to: "backup_server", proto: "tcp", lo: 10003, hi: 10003, want: false},
		{name: "Cloud Connect console port", settings: map[string]cty.Value{"cloud_connect": cty.True}, from: "console", to: "backup_server", proto: "tcp", lo: 10003, hi: 10003, want: true},
		{name: "console connects on 9392", from: "console", to: "backup_server", proto: "tcp", lo: 9392, hi: 9392, want: true},
		{name: "console reaches a remote mount server", from: "console", to: "mount_server", proto: "tcp", lo: 2500, hi: 3300, want: true},
		{name: "DNS is UDP", from: "backup_server", to: "dns_server", proto: "udp", lo: 53, hi: 53, want: true},
		{name: "NFS repositories: TCP", from: "gateway_server", to: "nfs_share", proto: "tcp", lo: 2049, hi: 2049, want: true},
		{name: "NFS repositories: UDP", from: "gateway_server", to: "nfs_share", proto: "udp", lo: 111, hi: 111, want: true},
		{name: "NFS v3 mountd only when static", settings: map[string]cty.Value{"nfs_mountd_port": cty.NumberIntVal(20048)}, from: "gateway_server", to: "nfs_file_server", proto: "udp", lo: 20048, hi: 20048, want: true},
		{name: "NFS v3 mountd closed by default", from: "gateway_server", to: "nfs_file_server", proto: "tcp", lo: 20048, hi: 20048, want: false},
		{name: "Data Domain from the gateway", from: "gateway_server", to: "data_domain", proto: "tcp", lo: 2052, hi: 2052, want: true},
		{name: "generic dedup appliance gets every vendor's ports", from: "backup_server", to: "dedup_appliance", proto: "tcp", lo: 9388, hi: 9388, want: true},
		{name: "ExaGrid does not get StoreOnce ports", from: "backup_server", to: "exagrid", proto: "tcp", lo: 9387, hi: 9387, want: false},
		{name: "Windows guests: runtime deployment from the guest interaction proxy", from: "guest_interaction_proxy", to: "guest_windows", proto: "tcp", lo: 445, hi: 445, want: true},
		{name: "Windows guests: dynamic RPC by default", from: "guest_interaction_proxy", to: "guest_windows", proto: "tcp", lo: 49152, hi: 65535, want: true},
		{name: "Windows guests: no dynamic RPC when relying on Veeam's own rule", settings: map[string]cty.Value{"guest_dynamic_rpc": cty.False}, from: "mount_server", to: "guest_windows", proto: "tcp", lo: 49152, hi: 65535, want: false},
		{name: "SQL log shipping port off by default", from: "guest_interaction_proxy", to: "guest_windows", proto: "tcp", lo: 6167, hi: 6167, want: false},
		{name: "SQL log shipping port", settings: map[string]cty.Value{"sql_log_shipping": cty.True}, from: "guest_interaction_proxy", to: "guest_windows", proto: "tcp", lo: 6167, hi: 6167, want: true},
		{name: "persistent agent ports off by default", from: "guest_interaction_proxy", to: "guest_windows", proto: "tcp", lo: 11731, hi: 11731, want: false},
		{name: "persistent agent ports", settings: map[string]cty.Value{"persistent_guest_agent": cty.True}, from: "guest_interaction_proxy", to: "guest_windows", proto: "tcp", lo: 6173, hi: 6173, want: true},
		{name: "guests send job data to the guest interaction proxy", from: "guest_windows", to: "guest_interaction_proxy", proto: "tcp", lo: 2500, hi: 3300, want: true},
		{name: "multi-OS FLR FTP control off by default", from: "guest_linux", to: "helper_appliance", proto: "tcp", lo: 21, hi: 21, want: false},
		{name: "multi-OS FLR FTP control to the helper appliance", settings: map[string]cty.Value{"flr_ftp": cty.True}, from: "guest_linux", to: "helper_appliance", proto: "tcp", lo: 21, hi: 21, want: true},
		{name: "multi-OS FLR FTP data to the guest", settings: map[string]cty.Value{"flr_ftp": cty.True}, from: "helper_appliance", to: "guest_linux", proto: "tcp", lo: 20, hi: 20, want: true},
		{name: "mount server reaches the Veeam Backup Service", from: "mount_server", to: "backup_server", proto: "tcp", lo: 9401, hi: 9401, want: true},
		{name: "backup server reaches the mount service", from: "backup_server", to: "mount_server", proto: "tcp", lo: 6170, hi: 6170, want: true},
		{name: "tape server sends data to repositories", from: "tape_server", to: "backup_repository", proto: "tcp", lo: 2500, hi: 3300, want: true},
		{name: "WAN accelerators talk on 6165", from: "wan_accelerator", to: "wan_accelerator", proto: "tcp", lo: 6165, hi: 6165, want: true},
		{name: "vPower NFS (mount server) to the repository gateway", from: "mount_server", to: "gateway_server", proto: "tcp", lo: 2500, hi: 3300, want: true},
		{name: "SCVMM WCF", from: "backup_server", to: "scvmm", proto: "tcp", lo: 8100, hi: 8100, want: true},
		{name: "proxies reach Windows repositories on dynamic RPC", from: "offhost_proxy", to: "windows_repository", proto: "tcp", lo: 49152, hi: 65535, want: true},
		{name: "REST API", from: "rest_client", to: "backup_server", proto: "tcp", lo: 9419, hi: 9419, want: true},
		{name: "Exchange 2010+ has no WebDAV port 80", from: "backup_server", to: "exchange_server", proto: "tcp", lo: 80, hi: 80, want: false},
		{name: "Exchange 2003/2007 WebDAV", from: "backup_server", to: "exchange_legacy_cas", proto: "tcp", lo: 80, hi: 80, want: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			flows, diags := pol.Evaluate(c.settings)
			if diags.HasErrors() {
				t.Fatalf("evaluating: %s", diags.Error())
			}
			got := portsBetween(flows, c.from, c.to, c.proto)
			if covers(got, c.lo, c.hi) != c.want {
				t.Fatalf("%s %s -> %s opens %s; want %d-%d open = %v", c.proto, c.from, c.to, rule.PortsString(got), c.lo, c.hi, c.want)
			}
			if c.exactlyRange && covers(got, c.hi+1, c.hi+1) {
				t.Fatalf("%s %s -> %s opens %s; want the range to end at %d", c.proto, c.from, c.to, rule.PortsString(got), c.hi)
			}
		})
	}
}

// TestRoles checks the role names that are part of the product interface
// and the properties docs/policy.md promises.
func TestRoles(t *testing.T) {
	pol := loadBuiltin(t)
	for _, n := range []string{
		"backup_server", "console", "rest_client", "rdp_client", "hyperv_host", "offhost_proxy",
		"smb3_server", "scvmm", "config_database", "backup_repository", "gateway_server",
		"mount_server", "wan_accelerator", "tape_server", "guest_interaction_proxy",
		"guest_windows", "guest_linux", "enterprise_manager", "domain_controller",
		"exchange_server", "sql_guest", "helper_appliance", "nfs_share", "smb_share",
		"dedup_appliance", "ndmp_server", "smtp_server", "dns_server",
		"windows_server", "linux_server",
	} {
		if pol.Roles[n] == nil {
			t.Errorf("role %q is missing", n)
		}
	}
	for _, n := range []string{"dedup_appliance", "smb_share", "nfs_share", "helper_appliance", "ndmp_server", "data_domain", "exagrid", "hpe_storeonce", "quantum_dxi"} {
		if r := pol.Roles[n]; r != nil && r.Firewall {
			t.Errorf("role %q must have firewall = false", n)
		}
	}
	for _, n := range []string{"console", "rest_client", "rdp_client"} {
		if r := pol.Roles[n]; r != nil && !r.Network {
			t.Errorf("role %q must be playable by a network", n)
		}
	}
	for n, os := range map[string]string{"hyperv_host": "windows", "scvmm": "windows", "smb3_server": "windows", "offhost_proxy": "windows", "backup_server": "windows", "guest_linux": "linux"} {
		if r := pol.Roles[n]; r != nil && !slices.Equal(r.OS, []string{os}) {
			t.Errorf("role %q os = %v, want [%s]", n, r.OS, os)
		}
	}
	ws, ls := pol.Roles["windows_server"], pol.Roles["linux_server"]
	if ws == nil || ls == nil {
		t.FailNow()
	}
	for _, n := range []string{"hyperv_host", "offhost_proxy", "backup_repository", "gateway_server", "mount_server", "wan_accelerator", "tape_server", "guest_windows"} {
		if !slices.Contains(ws.ImpliedBy, n) {
			t.Errorf("windows_server is not implied by %q", n)
		}
	}
	for _, n := range []string{"backup_repository", "gateway_server", "guest_linux"} {
		if !slices.Contains(ls.ImpliedBy, n) {
			t.Errorf("linux_server is not implied by %q", n)
		}
	}
	if !slices.Equal(ws.OS, []string{"windows"}) || !slices.Equal(ls.OS, []string{"linux"}) {
		t.Errorf("windows_server os = %v, linux_server os = %v", ws.OS, ls.OS)
	}
}

// TestFlowShapes checks what the HCL cannot: every flow names its seed
// section and says why, local flows stay on the backup server, and cloud
// endpoints are notes, not rules.
func TestFlowShapes(t *testing.T) {
	pol := loadBuiltin(t)
	for _, f := range pol.Flows {
		if strings.TrimSpace(f.Section) == "" || strings.TrimSpace(f.Description) == "" {
			t.Errorf("flow %q needs a section and a description", f.Name)
		}
		if f.Local && (!slices.Equal(f.From, f.To)) {
			t.Errorf("local flow %q must have the same from and to", f.Name)
		}
	}
	byName := map[string]*Flow{}
	for _, f := range pol.Flows {
		byName[f.Name] = f
	}
	for _, n := range []string{"backup-server-broker", "backup-server-db-rest"} {
		if f := byName[n]; f == nil || !f.Local {
			t.Errorf("flow %q must be local to the backup server", n)
		}
	}
	if f := byName["backup-server-update-notification"]; f == nil || f.Endpoint != "dev.veeam.com" {
		t.Errorf("the update notification server must be an endpoint flow to dev.veeam.com")
	}
}

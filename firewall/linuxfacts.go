package firewall

import (
	"fmt"
	"net/netip"
	"path"
	"strings"
)

// Sections of the Linux facts script. Every one is printed on every host,
// empty when its tool is missing, so that a missing section means a
// truncated or foreign output rather than a missing tool.
const (
	linuxSecSession   = "session"     // ssh_connection=$SSH_CONNECTION, the host's view of the session
	linuxSecOS        = "os"          // ID, ID_LIKE, VERSION_ID from /etc/os-release
	linuxSecTools     = "tools"       // NAME=PATH of each tool found; iptables_variant
	linuxSecServices  = "services"    // systemd unit states, firewall-cmd --state, ufw status
	linuxSecNFT       = "nft_ruleset" // nft -j list ruleset
	linuxSecIPT       = "iptables"    // iptables-save (the default variant)
	linuxSecIP6T      = "ip6tables"   // ip6tables-save
	linuxSecIPTLegacy = "iptables_legacy"
	linuxSecIP6Legacy = "ip6tables_legacy"
	linuxSecPersist   = "persist"   // the persisted files under the persist root
	linuxSecFirewalld = "firewalld" // firewalld.py read: its view of portwarden's objects
	linuxSecErrors    = "errors"    // "SECTION: exit status N: stderr" of failed commands
	linuxSecApply     = "apply"     // what an apply script did
	linuxSecDone      = "done"      // last section: the script ran to the end
	// ufw's files: see ufwFactsSections.
)

// LinuxFactsScript gathers, in one round trip, everything the Linux
// backends and Detect need from a host: the tools present and the iptables
// variant, the states of firewalld, ufw, nftables and netfilter-persistent
// (asked cheaply: no firewall-cmd or ufw process; firewalld's own view of
// portwarden's objects only where firewalld runs), the
// whole nftables ruleset as JSON, iptables-save and ip6tables-save of both
// variants, /etc/os-release, and the persisted files under "/". It is a
// POSIX sh script run as root that always exits 0: a command that is
// missing leaves its section empty, and one that fails is reported in the
// "errors" section, which State turns into an error only when it needs
// that command's output.
//
// Use LinuxFactsScriptAt for a host whose persist root is not "/".
var LinuxFactsScript = Script{Shell: "sh", Body: linuxFactsBody(""), ReadOnly: true}

// LinuxFactsScriptAt is LinuxFactsScript with the persisted files looked
// up under root instead of "/" (see NFTables.Root).
func LinuxFactsScriptAt(root string) (Script, error) {
	r, err := linuxRoot(root)
	if err != nil {
		return Script{}, err
	}
	if r == "" {
		// Most hosts persist under "/": one body for all of them, not
		// 16 KB built again per host and run.
		return LinuxFactsScript, nil
	}
	return Script{Shell: "sh", Body: linuxFactsBody(r), ReadOnly: true}, nil
}

// The whole body is one brace group, and its sections are collected in
// $pw_out and printed in one go at the end (pw_section, pw_say; pw_exec
// prints what is collected before a command's own output): sshd sends a
// few packets instead of one per line (each costs the host and the
// controller a wake-up, decryption and a window adjust: about 0.8 ms of
// controller CPU per host per facts round, docs/benchmarks.md), without
// the fork a command substitution around the body would cost the host.
// The shell reads a brace group whole before it runs any of it, which the
// transport's "sh -s" delivery of read-only scripts needs
// (transport.Script.ReadOnly).
func linuxFactsBody(root string) string {
	return "{\n" + linuxPrelude(root, false) + linuxFactsSections + "exit 0\n}\n"
}

// linuxPrelude starts every Linux script: a PATH that has the sbin
// directories (sudo and non-login shells may lack them), C locale for
// parsable output, the persist root and paths derived from it, helpers,
// and with scratch a scratch directory removed on exit ($pw_tmp, empty if
// it could not be made). The facts sections are collected in $pw_out:
// pw_section starts one, pw_say adds a line, pw_flush prints what is
// collected; pw_head prints a section's head at once (the apply parts,
// which print as they go). pw_run adds a section with a command's
// standard output (pw_exec: the output without the section's head,
// printed after what is collected so far) and records a failure in
// pw_errors instead of stopping: the facts script never fails.
//
// Every process a script starts costs a host several milliseconds, and a
// run pays it on every host: the helpers use shell builtins where a tool
// is not needed (pw_contains instead of grep, stderr kept in a variable
// instead of a file), and only apply scripts make a scratch directory.
func linuxPrelude(root string, scratch bool) string {
	tmp := "pw_tmp=\n"
	if scratch {
		tmp = `pw_tmp=$(mktemp -d 2>/dev/null) || pw_tmp=
if [ -n "$pw_tmp" ]; then
	trap 'rm -rf "$pw_tmp"' EXIT
fi
`
	}
	return `# portwarden: Linux firewall script (POSIX sh, run as root).
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
export PATH
LC_ALL=C
export LC_ALL
PW_ROOT=` + linuxShellQuote(root) + `
pw_nftfile="$PW_ROOT` + nftPersistPath + `"
pw_nftconf="$PW_ROOT/etc/nftables.conf"
if [ ! -e "$pw_nftconf" ] && [ -e "$PW_ROOT/etc/sysconfig/nftables.conf" ]; then
	pw_nftconf="$PW_ROOT/etc/sysconfig/nftables.conf"
fi
pw_rules4="$PW_ROOT` + iptPersistV4 + `"
pw_rules6="$PW_ROOT` + iptPersistV6 + `"
` + tmp + `pw_errors=
pw_has() { command -v "$1" >/dev/null 2>&1; }
# pw_which sets pw_w to the first executable file NAME in $PATH's absolute
# directories, as "command -v" finds a tool, or to "" (test prints nothing,
# so the facts need no command substitution for a path).
pw_which() {
	pw_w=
	pw_ifs=$IFS
	IFS=:
	for pw_d in $PATH; do
		case $pw_d in /*) ;; *) continue ;; esac
		if [ -f "$pw_d/$1" ] && [ -x "$pw_d/$1" ]; then
			pw_w=$pw_d/$1
			break
		fi
	done
	IFS=$pw_ifs
}
pw_out=
pw_section() { pw_out="$pw_out
### portwarden:$1
"; }
pw_say() { pw_out="$pw_out$1
"; }
pw_flush() {
	printf '%s' "$pw_out"
	pw_out=
}
pw_head() { printf '\n### portwarden:%s\n' "$1"; }
pw_run() {
	pw_section "$1"
	pw_exec "$@"
}
pw_exec() {
	pw_flush
	pw_name=$1
	shift
	{ pw_msg=$("$@" 2>&1 >&3 3>&-); pw_rc=$?; } 3>&1
	if [ "$pw_rc" -ne 0 ]; then
		pw_msg=$(printf '%s' "$pw_msg" | tr '\r\n' '  ' | cut -c1-300)
		pw_errors="${pw_errors}${pw_name}: exit status ${pw_rc}: ${pw_msg}
"
	fi
	return 0
}
pw_contains() {
	[ -r "$1" ] || return 1
	while IFS= read -r pw_l || [ -n "$pw_l" ]; do
		case $pw_l in *"$2"*) return 0 ;; esac
	done <"$1"
	return 1
}
pw_fwd_out=
pw_fwprog=` + linuxShellQuote(firewalldProgram) + `
# pw_fwd_python sets pw_fwpy to the python that firewall-cmd runs with,
# which has firewalld's own client library.
pw_fwd_python() {
	pw_fwpy=
	{ read -r pw_fwpy <"$(command -v firewall-cmd)"; } 2>/dev/null
	case $pw_fwpy in
	'#!'*) pw_fwpy=${pw_fwpy#'#!'} ;;
	*) pw_fwpy= ;;
	esac
	set -- $pw_fwpy
	case ${1:-} in */env) shift ;; esac
	pw_fwpy=${1:-python3}
}
pw_yesno() {
	pw_key=$1
	shift
	if "$@" >/dev/null 2>&1; then pw_say "$pw_key=yes"; else pw_say "$pw_key=no"; fi
}
`
}

// linuxFacts are the facts common to the Linux backends, parsed.
type linuxFacts struct {
	raw      Facts
	tools    map[string]string // tool name → path, plus iptables_variant
	services map[string]string
	os       map[string]string
	persist  map[string]string
	errors   map[string]string // section → what failed
}

// parseLinuxFacts checks that f is the complete output of the Linux facts
// script (or of an apply script, which ends with the same sections).
func parseLinuxFacts(f Facts) (*linuxFacts, error) {
	if _, ok := f[linuxSecDone]; !ok {
		return nil, fmt.Errorf("facts output is incomplete: no %q section (the facts script did not run to the end, or this is not a Linux host)", linuxSecDone)
	}
	lf := &linuxFacts{raw: f, errors: map[string]string{}}
	var err error
	for _, s := range []struct {
		name string
		dst  *map[string]string
	}{
		{linuxSecTools, &lf.tools},
		{linuxSecServices, &lf.services},
		{linuxSecOS, &lf.os},
		{linuxSecPersist, &lf.persist},
	} {
		text, ok := f[s.name]
		if !ok {
			return nil, fmt.Errorf("facts output has no %q section", s.name)
		}
		if s.name == linuxSecTools {
			text = linuxToolLines(text)
		}
		if *s.dst, err = linuxParseKV(text); err != nil {
			return nil, fmt.Errorf("facts section %q: %w", s.name, err)
		}
	}
	for line := range strings.Lines(f[linuxSecErrors]) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		name, msg, ok := strings.Cut(line, ": ")
		if !ok {
			return nil, fmt.Errorf("facts section %q: unexpected line %q", linuxSecErrors, line)
		}
		lf.errors[name] = msg
	}
	return lf, nil
}

// linuxToolLines turns the tools section's bare paths (what "command -v"
// prints, without a subshell per tool) into "name=path" lines; key=value
// lines pass as they are.
func linuxToolLines(s string) string {
	var b strings.Builder
	for line := range strings.Lines(s) {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "/") {
			b.WriteString(path.Base(t) + "=" + t + "\n")
			continue
		}
		b.WriteString(line)
	}
	return b.String()
}

// linuxParseKV parses lines "key=value"; values may be double-quoted as in
// /etc/os-release.
func linuxParseKV(s string) (map[string]string, error) {
	m := map[string]string{}
	for line := range strings.Lines(s) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("unexpected line %q: want key=value", line)
		}
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		m[k] = v
	}
	return m, nil
}

func (lf *linuxFacts) has(tool string) bool { return lf.tools[tool] != "" }

// section returns a command's output, or an error if the command failed.
func (lf *linuxFacts) section(name, what string) (string, error) {
	if msg, ok := lf.errors[name]; ok {
		return "", fmt.Errorf("%s failed on the host: %s", what, msg)
	}
	return lf.raw[name], nil
}

// iptablesVariant is "nf_tables" or "legacy" for the default iptables, ""
// when iptables is not installed.
func (lf *linuxFacts) iptablesVariant() string { return lf.tools["iptables_variant"] }

// firewalldActive reports firewalld running: its unit active (systemd),
// or its name owned on the system bus, or its pid file naming a live
// firewalld process.
func (lf *linuxFacts) firewalldActive() bool {
	return lf.services["firewalld"] == "active" || lf.services["firewalld.dbus"] == "running" || lf.services["firewalld.pid"] == "running"
}

// unitEnabled reports a unit that starts at boot.
func (lf *linuxFacts) unitEnabled(unit string) bool {
	switch lf.services[unit+".enabled"] {
	case "enabled", "enabled-runtime", "alias":
		return true
	}
	return false
}

// ufwChains reports ufw's chains in the kernel ruleset (in iptables-save
// of either variant, or as iptables-nft tables in nft's listing).
func (lf *linuxFacts) ufwChains() bool {
	for _, sec := range []string{linuxSecIPT, linuxSecIP6T, linuxSecIPTLegacy, linuxSecIP6Legacy, linuxSecNFT} {
		if strings.Contains(lf.raw[sec], "ufw-user-input") {
			return true
		}
	}
	return false
}

// ufwActive is ufw enabled (ENABLED=yes in /etc/ufw/ufw.conf) with its
// chains loaded. ufw.service alone says nothing: it is a oneshot unit that
// stays active when ufw itself is disabled.
func (lf *linuxFacts) ufwActive() bool {
	return lf.services["ufw.conf_ENABLED"] == "yes" && lf.ufwChains()
}

// ufwPending is ufw enabled in its configuration but not loaded: it loads
// at the next boot, unless its unit is disabled.
func (lf *linuxFacts) ufwPending() bool {
	if lf.services["ufw.conf_ENABLED"] != "yes" || lf.ufwChains() {
		return false
	}
	e := lf.services["ufw.enabled"]
	return e != "disabled" && e != "masked"
}

// firewalldPending is firewalld enabled but not running: it starts at the
// next boot.
func (lf *linuxFacts) firewalldPending() bool {
	return !lf.firewalldActive() && lf.unitEnabled("firewalld")
}

// persistRootMatches reports whether the facts' persist section describes
// the files under root: the plain LinuxFactsScript looks under "/", which
// says nothing about a host whose persist root is elsewhere.
func (lf *linuxFacts) persistRootMatches(root string) bool {
	r := root
	if r == "" {
		r = "/"
	}
	return lf.persist["root"] == r
}

// linuxRoot validates a persist root and returns it as a prefix for
// absolute paths: "" for "/" (or ""), else a clean absolute path. Only
// characters that need no quoting in sh or nft are allowed, because the
// root ends up in an nft include statement.
func linuxRoot(root string) (string, error) {
	if root == "" || root == "/" {
		return "", nil
	}
	if !path.IsAbs(root) || path.Clean(root) != root {
		return "", fmt.Errorf("persist root %q: want a clean absolute path", root)
	}
	for _, r := range root {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+", r)) {
			return "", fmt.Errorf("persist root %q: only letters, digits and /._-+ are allowed", root)
		}
	}
	return root, nil
}

// linuxShellQuote quotes s for POSIX sh.
func linuxShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// SessionClient returns the controller's address as the host saw the SSH
// session that ran the facts script: the first field of $SSH_CONNECTION
// ("client-ip client-port server-ip server-port"). Behind NAT, a port
// forward or a bastion this is the address the next run will come from,
// which no guess on the controller's side can know. ok is false when the
// host did not say (an old facts format, a shell without the variable).
//
// A Windows host says it in its own section instead: the ClientIP of the
// WinRM shell that ran the facts script (windowsSessionClient).
func SessionClient(f Facts) (addr netip.Addr, ok bool) {
	if _, win := f[windowsSessionSection]; win {
		return windowsSessionClient(f)
	}
	kv, err := linuxParseKV(f[linuxSecSession])
	if err != nil {
		return netip.Addr{}, false
	}
	fields := strings.Fields(kv["ssh_connection"])
	if len(fields) != 4 {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(fields[0])
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

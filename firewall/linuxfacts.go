package firewall

import (
	"cmp"
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
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
var LinuxFactsScript = Script{Shell: "sh", Body: linuxFactsBody("")}

// LinuxFactsScriptAt is LinuxFactsScript with the persisted files looked
// up under root instead of "/" (see NFTables.Root).
func LinuxFactsScriptAt(root string) (Script, error) {
	r, err := linuxRoot(root)
	if err != nil {
		return Script{}, err
	}
	return Script{Shell: "sh", Body: linuxFactsBody(r)}, nil
}

func linuxFactsBody(root string) string {
	return linuxPrelude(root, false) + linuxFactsSections + "exit 0\n"
}

// linuxPrelude starts every Linux script: a PATH that has the sbin
// directories (sudo and non-login shells may lack them), C locale for
// parsable output, the persist root and paths derived from it, helpers,
// and with scratch a scratch directory removed on exit ($pw_tmp, empty if
// it could not be made). pw_run prints a section with a command's standard
// output and records a failure in pw_errors instead of stopping: the facts
// script never fails.
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
pw_section() { printf '\n### portwarden:%s\n' "$1"; }
pw_timeout() {
	if pw_has timeout; then timeout 15 "$@"; else "$@"; fi
}
pw_run() {
	pw_name=$1
	shift
	pw_section "$pw_name"
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
	if "$@" >/dev/null 2>&1; then echo "$pw_key=yes"; else echo "$pw_key=no"; fi
}
`
}

// linuxFactsSections prints the facts. The iptables-legacy sections are
// filled only when the default iptables is the nf_tables variant (else
// they would repeat the default sections); iptables-legacy-save lists only
// tables that already exist, so it never loads a kernel module.
const linuxFactsSections = `pw_section session
printf 'ssh_connection=%s\n' "${SSH_CONNECTION-}"

pw_section os
if [ -r /etc/os-release ]; then
	while IFS= read -r pw_l || [ -n "$pw_l" ]; do
		case $pw_l in ID=* | ID_LIKE=* | VERSION_ID=*) printf '%s\n' "$pw_l" ;; esac
	done </etc/os-release
fi

pw_section tools
for pw_t in nft iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore \
	iptables-legacy-save iptables-legacy-restore ip6tables-legacy-save ip6tables-legacy-restore \
	firewall-cmd ufw systemctl netfilter-persistent; do
	command -v "$pw_t" 2>/dev/null || :
done
pw_variant=
if pw_has iptables; then
	case $(iptables -V 2>/dev/null) in
	*nf_tables*) pw_variant=nf_tables ;;
	*) pw_variant=legacy ;;
	esac
	echo "iptables_variant=$pw_variant"
fi

pw_section services
# Cheap questions only: one systemctl for every unit state, firewalld's
# D-Bus name (dbus-send, a small C program) or pid file, and ufw's
# ENABLED= read with the shell. firewall-cmd and ufw, Python programs that
# cost a host a quarter of a second each, never run here.
pw_fwd=
pw_ufw_conf=
if [ -d /run/systemd/system ] && pw_has systemctl; then
	echo "systemd=yes"
	pw_u=
	while IFS='=' read -r pw_k pw_v; do
		case $pw_k in
		Id) pw_u=${pw_v%.service} ;;
		ActiveState)
			[ -n "$pw_u" ] && echo "$pw_u=$pw_v"
			[ "$pw_u" = firewalld ] && [ "$pw_v" = active ] && pw_fwd=running
			;;
		UnitFileState) [ -n "$pw_u" ] && echo "$pw_u.enabled=$pw_v" ;;
		esac
	done <<PW_UNITS
$(systemctl show --property=Id,ActiveState,UnitFileState firewalld.service ufw.service nftables.service netfilter-persistent.service 2>/dev/null)
PW_UNITS
else
	echo "systemd=no"
	for pw_s in firewalld ufw nftables netfilter-persistent; do
		pw_e=disabled
		for pw_w in /etc/systemd/system/*.wants/"$pw_s".service; do
			[ -L "$pw_w" ] && pw_e=enabled
		done
		echo "$pw_s.enabled=$pw_e"
	done
fi
if pw_has firewall-cmd && [ -z "$pw_fwd" ]; then
	if [ -S /run/dbus/system_bus_socket ] && pw_has dbus-send; then
		case $(pw_timeout dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner string:org.fedoraproject.FirewallD1 2>/dev/null) in
		*"boolean true"*) pw_fwd=running ;;
		*) pw_fwd=absent ;;
		esac
		echo "firewalld.dbus=$pw_fwd"
	else
		pw_p=
		{ read -r pw_p </run/firewalld.pid; } 2>/dev/null
		pw_c=
		[ -n "$pw_p" ] && { read -r pw_c </proc/"$pw_p"/comm; } 2>/dev/null
		case $pw_c in firewalld*) pw_fwd=running ;; *) pw_fwd=absent ;; esac
		echo "firewalld.pid=$pw_fwd"
	fi
fi
if [ -r /etc/ufw/ufw.conf ]; then
	while IFS= read -r pw_l || [ -n "$pw_l" ]; do
		case $pw_l in ENABLED=*)
			echo "ufw.conf_$pw_l"
			pw_ufw_conf=${pw_l#ENABLED=}
			;;
		esac
	done </etc/ufw/ufw.conf
fi

if pw_has nft; then pw_run nft_ruleset nft -j list ruleset; else pw_section nft_ruleset; fi
if pw_has iptables-save; then pw_run iptables iptables-save; else pw_section iptables; fi
if pw_has ip6tables-save; then pw_run ip6tables ip6tables-save; else pw_section ip6tables; fi
# Legacy tables exist only where the kernel lists them for this network
# namespace: reading the list is a shell builtin, running the tool is not.
pw_legacy4=
pw_legacy6=
{ read -r pw_legacy4 </proc/net/ip_tables_names; } 2>/dev/null
{ read -r pw_legacy6 </proc/net/ip6_tables_names; } 2>/dev/null
if [ "$pw_variant" = nf_tables ] && [ -n "$pw_legacy4" ] && pw_has iptables-legacy-save; then
	pw_run iptables_legacy iptables-legacy-save
else
	pw_section iptables_legacy
fi
if [ "$pw_variant" = nf_tables ] && [ -n "$pw_legacy6" ] && pw_has ip6tables-legacy-save; then
	pw_run ip6tables_legacy ip6tables-legacy-save
else
	pw_section ip6tables_legacy
fi

pw_section persist
echo "root=${PW_ROOT:-/}"
echo "nft_file=$pw_nftfile"
pw_yesno nft_file_exists test -f "$pw_nftfile"
echo "nft_conf=$pw_nftconf"
pw_yesno nft_conf_exists test -f "$pw_nftconf"
pw_yesno nft_conf_includes pw_contains "$pw_nftconf" "include \"$pw_nftfile\""
pw_yesno rules_v4_owned pw_contains "$pw_rules4" PORTWARDEN-INPUT
pw_yesno rules_v6_owned pw_contains "$pw_rules6" PORTWARDEN-INPUT
pw_yesno rules_v4_exists test -f "$pw_rules4"
pw_yesno rules_v6_exists test -f "$pw_rules6"

# firewalld's own view of portwarden's objects, only where it runs: an
# apply script has it already from the apply ($pw_fwd_out).
if [ -n "$pw_fwd_out" ]; then
	pw_section firewalld
	printf '%s\n' "$pw_fwd_out"
elif [ "$pw_fwd" = running ]; then
	pw_fwd_python
	pw_run firewalld "$pw_fwpy" -c "$pw_fwprog" read
else
	pw_section firewalld
fi

` + ufwFactsSections + `
pw_section errors
printf '%s' "$pw_errors"
pw_section done
echo ok
`

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

// managerWarnings are the Warnings the nftables and iptables backends
// show about another firewall manager on the host: one that runs, or one
// that is enabled and takes over at the next boot.
func (lf *linuxFacts) managerWarnings() []string {
	var w []string
	if lf.firewalldActive() {
		w = append(w, "firewalld is active on this host: it manages the firewall and a reload or restart of firewalld can remove or override portwarden's rules until the next apply")
	}
	if lf.ufwActive() {
		w = append(w, "ufw is active on this host: it manages the firewall and \"ufw reload\" or \"ufw enable\" can remove or override portwarden's rules until the next apply")
	}
	if lf.firewalldPending() {
		w = append(w, firewalldPendingWarning)
	}
	if lf.ufwPending() {
		w = append(w, ufwPendingWarning)
	}
	return w
}

const (
	firewalldPendingWarning = `firewalld is enabled but not running on this host: it starts at the next boot, takes over the firewall and may drop portwarden's rules; run "systemctl disable --now firewalld", or set firewall = "firewalld" for this host and start it`
	ufwPendingWarning       = `ufw is enabled (ENABLED=yes in /etc/ufw/ufw.conf) but not loaded on this host: it loads at the next boot, takes over the firewall and may drop portwarden's rules; run "ufw disable", or set firewall = "ufw" for this host and enable it`
)

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

// Reserved comments mark the rules portwarden writes besides the policy
// rules: the enforce-mode preamble and the final drop. A policy rule's
// comment never starts with linuxReservedPrefix (CleanComment sees to it),
// so a rule carrying one is recognized without parsing its matches.
const (
	linuxReservedPrefix = Tag + ":"
	commentEstablished  = Tag + ":established"
	commentInvalid      = Tag + ":invalid"
	commentLoopback     = Tag + ":loopback"
	commentICMP         = Tag + ":icmp"
	commentICMPv6       = Tag + ":icmpv6"
	commentDHCPv6       = Tag + ":dhcpv6"
	commentManagement   = Tag + ":management"
	commentDrop         = Tag + ":drop"
	// commentContinued starts the comment of an iptables rule that carries
	// more ports of the rule before it (multiport takes 15 ports at most).
	commentContinued = Tag + ":cont"
)

// linuxMaxComment bounds a stored comment in bytes: nftables keeps at most
// 128 bytes of comment, iptables 256, and iptables also needs room for
// commentContinued.
const linuxMaxComment = 100

// CleanComment returns a rule comment the way the Linux backends store it,
// and so the way State reads it back: printable characters only, double
// quotes and backslashes turned into single quotes, runs of white space
// turned into one space, at most 100 bytes, and never starting with
// "portwarden:", which marks the rules portwarden writes for itself.
func CleanComment(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case r == '"' || r == '\\' || r == '`':
			r = '\''
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case !unicode.IsPrint(r) || r == utf8.RuneError:
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	out := b.String()
	if rest, ok := strings.CutPrefix(out, linuxReservedPrefix); ok {
		out = Tag + " " + rest
	}
	for len(out) > linuxMaxComment {
		_, size := utf8.DecodeLastRuneInString(out)
		out = out[:len(out)-size]
	}
	return strings.TrimSpace(out)
}

// linuxDesired is a validated, normalized Desired.
type linuxDesired struct {
	Desired
	// remove is true when the desired state is nothing at all: additive
	// (or no mode) and no rules. Apply then removes everything portwarden
	// owns instead of installing an empty table or chain.
	remove bool
}

// prepareLinuxDesired validates d for the Linux backends: every value that
// reaches a ruleset must be well formed, because the rulesets are built
// from these values by string concatenation.
func prepareLinuxDesired(d Desired) (linuxDesired, error) {
	out := linuxDesired{Desired: d}
	switch d.Mode {
	case "":
		if len(d.Rules) > 0 {
			return out, fmt.Errorf("desired state has rules but no mode")
		}
		out.Mode = Additive
	case Additive, Enforce:
	default:
		return out, fmt.Errorf("unknown mode %q", d.Mode)
	}
	out.remove = out.Mode == Additive && len(d.Rules) == 0
	if out.Mode == Enforce {
		if d.ManagementPort == 0 {
			return out, fmt.Errorf("enforce mode needs the management port: without it the controller would lock itself out")
		}
		if len(d.ManagementSources) == 0 {
			return out, fmt.Errorf("enforce mode needs the controller's addresses (management sources): without them the controller would lock itself out")
		}
	}
	mgmt := (Rule{Sources: d.ManagementSources}).Normalize().Sources
	if err := linuxCheckSources(mgmt); err != nil {
		return out, fmt.Errorf("management sources: %w", err)
	}
	out.ManagementSources = mgmt
	seen := map[string]bool{}
	out.Rules = make([]Rule, 0, len(d.Rules))
	for _, r := range d.Rules {
		r = r.Normalize()
		r.Comment = CleanComment(r.Comment)
		if r.Protocol != "tcp" && r.Protocol != "udp" {
			return out, fmt.Errorf("rule %s: protocol %q: want tcp or udp", r.Key(), r.Protocol)
		}
		if len(r.Ports) == 0 {
			return out, fmt.Errorf("rule %s: no ports", r.Key())
		}
		for _, p := range r.Ports {
			if p.Lo == 0 || p.Hi < p.Lo {
				return out, fmt.Errorf("rule %s: bad port range %d-%d", r.Key(), p.Lo, p.Hi)
			}
		}
		if len(r.Sources) == 0 {
			return out, fmt.Errorf("rule %s: no sources: portwarden never opens a port to any address", r.Key())
		}
		if err := linuxCheckSources(r.Sources); err != nil {
			return out, fmt.Errorf("rule %s: %w", r.Key(), err)
		}
		if seen[r.Key()] {
			return out, fmt.Errorf("rule %s appears twice", r.Key())
		}
		seen[r.Key()] = true
		out.Rules = append(out.Rules, r)
	}
	sortRules(out.Rules)
	return out, nil
}

func linuxCheckSources(src []netip.Prefix) error {
	for _, p := range src {
		if !p.IsValid() {
			return fmt.Errorf("invalid source prefix")
		}
		if p.Addr().Is4In6() {
			return fmt.Errorf("source %s is an IPv4-mapped IPv6 address: write it as IPv4", p)
		}
		if p.Addr().Zone() != "" {
			return fmt.Errorf("source %s has a zone", p)
		}
	}
	return nil
}

// sortRules orders rules by protocol, then numerically by ports, the
// order the orchestrator computes them in.
func sortRules(rs []Rule) {
	slices.SortFunc(rs, func(a, b Rule) int {
		if c := cmp.Compare(a.Protocol, b.Protocol); c != 0 {
			return c
		}
		for i := range min(len(a.Ports), len(b.Ports)) {
			if c := cmp.Or(cmp.Compare(a.Ports[i].Lo, b.Ports[i].Lo), cmp.Compare(a.Ports[i].Hi, b.Ports[i].Hi)); c != 0 {
				return c
			}
		}
		return cmp.Compare(len(a.Ports), len(b.Ports))
	})
}

// linuxPrefixLast returns the last address of p.
func linuxPrefixLast(p netip.Prefix) netip.Addr {
	p = p.Masked()
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// ruleMerger collects rules read back from a host, possibly split into
// several host rules each, and merges them by Key.
type ruleMerger struct {
	byKey map[string]*Rule
}

func (m *ruleMerger) add(r Rule) {
	if m.byKey == nil {
		m.byKey = map[string]*Rule{}
	}
	k := r.Key()
	if have, ok := m.byKey[k]; ok {
		have.Sources = append(have.Sources, r.Sources...)
		if have.Comment == "" {
			have.Comment = r.Comment
		}
		return
	}
	r.Sources = append([]netip.Prefix(nil), r.Sources...)
	m.byKey[k] = &r
}

func (m *ruleMerger) rules() []Rule {
	out := make([]Rule, 0, len(m.byKey))
	for _, r := range m.byKey {
		out = append(out, r.Normalize())
	}
	sortRules(out)
	if len(out) == 0 {
		return nil
	}
	return out
}

// linuxNFTReadback is what an nftables apply prints back: the facts without
// the iptables listings and the iptables variant, which the nftables
// backend's State does not read, and which would cost every host a few
// more processes per apply. The sections stay, empty, so the output still
// parses as facts.
var linuxNFTReadback = func() string {
	s := linuxFactsSections
	cut := func(from, to, with string) {
		i := strings.Index(s, from)
		j := strings.Index(s[i+1:], to)
		if i < 0 || j < 0 {
			panic("linuxNFTReadback: facts script changed: " + from)
		}
		s = s[:i] + with + s[i+1+j:]
	}
	cut("if pw_has iptables; then\n", "\npw_section services", "")
	cut("if pw_has iptables-save;", "\npw_section persist",
		"pw_section "+linuxSecIPT+"\npw_section "+linuxSecIP6T+"\npw_section "+linuxSecIPTLegacy+"\npw_section "+linuxSecIP6Legacy+"\n")
	return s
}()

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

package firewall

import "strings"

// linuxFactsPart is one named part of the Linux facts script. The script
// is its parts joined in order, so each can be read, tested and left out
// on its own (see linuxNFTReadback); every part prints whole sections.
type linuxFactsPart struct {
	name  string
	shell string
	// iptables marks the parts only the iptables backend, ufw and Detect
	// read (the iptables variant, the iptables-save listings): the
	// nftables and firewalld applies print lean in their place, saving a
	// host the processes they start.
	iptables bool
	lean     string
}

// linuxFactsParts print the facts. The iptables-legacy sections are
// filled only when the default iptables is the nf_tables variant (else
// they would repeat the default sections); iptables-legacy-save lists only
// tables that already exist, so it never loads a kernel module.
var linuxFactsParts = []linuxFactsPart{
	{name: linuxSecSession, shell: `pw_section session
pw_say "ssh_connection=${SSH_CONNECTION-}"
`},
	{name: linuxSecOS, shell: `pw_section os
if [ -r /etc/os-release ]; then
	while IFS= read -r pw_l || [ -n "$pw_l" ]; do
		case $pw_l in ID=* | ID_LIKE=* | VERSION_ID=*) pw_say "$pw_l" ;; esac
	done </etc/os-release
fi
`},
	// Each tool's path as "command -v" finds it (pw_which, which prints
	// nothing of its own).
	{name: linuxSecTools, shell: `pw_section tools
for pw_t in nft iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore \
	iptables-legacy-save iptables-legacy-restore ip6tables-legacy-save ip6tables-legacy-restore \
	firewall-cmd ufw systemctl netfilter-persistent; do
	pw_which "$pw_t"
	[ -z "$pw_w" ] || pw_say "$pw_w"
done
`},
	// The iptables variant is a line of the tools section. iptables is a
	// link to one of the two multi-call binaries of iptables 1.8 and later:
	// asking which with the shell's -ef (same file) costs no process;
	// "iptables -V" runs only where neither matches (an older iptables).
	{name: "iptables_variant", iptables: true, shell: `pw_variant=
if pw_has iptables; then
	pw_which iptables
	pw_ipt=$pw_w
	pw_which xtables-nft-multi
	pw_xnft=$pw_w
	pw_which xtables-legacy-multi
	pw_xleg=$pw_w
	if [ -n "$pw_ipt" ] && [ -n "$pw_xnft" ] && [ "$pw_ipt" -ef "$pw_xnft" ]; then
		pw_variant=nf_tables
	elif [ -n "$pw_ipt" ] && [ -n "$pw_xleg" ] && [ "$pw_ipt" -ef "$pw_xleg" ]; then
		pw_variant=legacy
	else
		case $(iptables -V 2>/dev/null) in
		*nf_tables*) pw_variant=nf_tables ;;
		*) pw_variant=legacy ;;
		esac
	fi
	pw_say "iptables_variant=$pw_variant"
fi
`},
	{name: linuxSecServices, shell: `pw_section services
# Cheap questions only: one systemctl for every unit state, firewalld's
# D-Bus name (dbus-send, a small C program) or pid file, and ufw's
# ENABLED= read with the shell. firewall-cmd and ufw, Python programs that
# cost a host a quarter of a second each, never run here.
pw_fwd=
pw_ufw_conf=
if [ -d /run/systemd/system ] && pw_has systemctl; then
	pw_say "systemd=yes"
	pw_u=
	while IFS='=' read -r pw_k pw_v; do
		case $pw_k in
		Id) pw_u=${pw_v%.service} ;;
		ActiveState)
			[ -n "$pw_u" ] && pw_say "$pw_u=$pw_v"
			[ "$pw_u" = firewalld ] && [ "$pw_v" = active ] && pw_fwd=running
			;;
		UnitFileState) [ -n "$pw_u" ] && pw_say "$pw_u.enabled=$pw_v" ;;
		esac
	done <<PW_UNITS
$(systemctl show --property=Id,ActiveState,UnitFileState firewalld.service ufw.service nftables.service netfilter-persistent.service 2>/dev/null)
PW_UNITS
else
	pw_say "systemd=no"
	for pw_s in firewalld ufw nftables netfilter-persistent; do
		pw_e=disabled
		for pw_w in /etc/systemd/system/*.wants/"$pw_s".service; do
			[ -L "$pw_w" ] && pw_e=enabled
		done
		pw_say "$pw_s.enabled=$pw_e"
	done
fi
if pw_has firewall-cmd && [ -z "$pw_fwd" ]; then
	if [ -S /run/dbus/system_bus_socket ] && pw_has dbus-send; then
		case $(dbus-send --system --print-reply --reply-timeout=10000 --dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner string:org.fedoraproject.FirewallD1 2>/dev/null) in
		*"boolean true"*) pw_fwd=running ;;
		*) pw_fwd=absent ;;
		esac
		pw_say "firewalld.dbus=$pw_fwd"
	else
		pw_p=
		{ read -r pw_p </run/firewalld.pid; } 2>/dev/null
		pw_c=
		[ -n "$pw_p" ] && { read -r pw_c </proc/"$pw_p"/comm; } 2>/dev/null
		case $pw_c in firewalld*) pw_fwd=running ;; *) pw_fwd=absent ;; esac
		pw_say "firewalld.pid=$pw_fwd"
	fi
fi
if [ -r /etc/ufw/ufw.conf ]; then
	while IFS= read -r pw_l || [ -n "$pw_l" ]; do
		case $pw_l in ENABLED=*)
			pw_say "ufw.conf_$pw_l"
			pw_ufw_conf=${pw_l#ENABLED=}
			;;
		esac
	done </etc/ufw/ufw.conf
fi
`},
	// The ruleset is kept in $pw_nft for the iptables part (same cost: the
	// command substitution is the fork pw_run makes anyway); only a
	// listing that failed runs nft again, to report why.
	{name: linuxSecNFT, shell: `pw_nft=
pw_section nft_ruleset
if ! pw_has nft; then
	:
elif pw_nft=$(nft -j list ruleset 2>/dev/null); then
	pw_say "$pw_nft"
	# Each later line copies what is collected: a large ruleset goes out
	# now.
	[ ${#pw_nft} -le 65536 ] || pw_flush
else
	pw_nft=
	pw_exec nft_ruleset nft -j list ruleset
fi
`},
	// The iptables-nft listings are empty where nft's ruleset has no
	// table of that family (iptables-nft keeps its tables as nftables
	// tables of family ip and ip6): they run only where it has one, or
	// where the ruleset is not the JSON this script knows.
	{name: linuxSecIPT, iptables: true, shell: `pw_ipt4=1
pw_ipt6=1
if [ "$pw_variant" = nf_tables ]; then
	case $pw_nft in
	'{"nftables": [{"metainfo": {'*)
		case $pw_nft in *'"family": "ip", '*) ;; *) pw_ipt4= ;; esac
		case $pw_nft in *'"family": "ip6", '*) ;; *) pw_ipt6= ;; esac
		;;
	esac
fi
if [ -z "$pw_ipt4" ]; then
	pw_section iptables
elif pw_has iptables-save; then pw_run iptables iptables-save; else pw_section iptables; fi
if [ -z "$pw_ipt6" ]; then
	pw_section ip6tables
elif pw_has ip6tables-save; then pw_run ip6tables ip6tables-save; else pw_section ip6tables; fi
` + linuxLegacySaves(`[ "$pw_variant" = nf_tables ] && `),
		// The read-back of the nftables and firewalld backends still lists
		// iptables-legacy where the kernel has legacy tables (their State
		// warns of legacy drops): without the variant, whatever the default
		// iptables is, the legacy tool's listing fills the legacy sections.
		lean: emptySections(linuxSecIPT, linuxSecIP6T) + linuxLegacySaves("")},
	{name: linuxSecPersist, shell: `pw_section persist
pw_say "root=${PW_ROOT:-/}"
pw_say "nft_file=$pw_nftfile"
pw_yesno nft_file_exists test -f "$pw_nftfile"
pw_say "nft_conf=$pw_nftconf"
pw_yesno nft_conf_exists test -f "$pw_nftconf"
pw_yesno nft_conf_includes pw_contains "$pw_nftconf" "include \"$pw_nftfile\""
pw_yesno rules_v4_owned pw_contains "$pw_rules4" PORTWARDEN-INPUT
pw_yesno rules_v6_owned pw_contains "$pw_rules6" PORTWARDEN-INPUT
pw_yesno rules_v4_exists test -f "$pw_rules4"
pw_yesno rules_v6_exists test -f "$pw_rules6"
`},
	{name: linuxSecFirewalld, shell: `# firewalld's own view of portwarden's objects, only where it runs: an
# apply script has it already from the apply ($pw_fwd_out).
if [ -n "$pw_fwd_out" ]; then
	pw_section firewalld
	pw_say "$pw_fwd_out"
elif [ "$pw_fwd" = running ]; then
	pw_fwd_python
	pw_run firewalld "$pw_fwpy" -c "$pw_fwprog" read
else
	pw_section firewalld
fi
`},
	{name: "ufw", shell: ufwFactsSections},
	{name: linuxSecErrors, shell: `pw_section errors
pw_out=$pw_out$pw_errors
`},
	// The last section: the script ran to the end. Everything collected
	// is printed here.
	{name: linuxSecDone, shell: `pw_section done
pw_say ok
pw_flush
`},
}

// linuxLegacyListings sets $pw_legacy4 and $pw_legacy6 to the first
// iptables-legacy table the kernel lists for this network namespace (empty:
// none). Reading the list is a shell builtin, running the tool is not.
const linuxLegacyListings = `pw_legacy4=
pw_legacy6=
{ read -r pw_legacy4 </proc/net/ip_tables_names; } 2>/dev/null
{ read -r pw_legacy6 </proc/net/ip6_tables_names; } 2>/dev/null
`

// linuxLegacySaves reads the kernel's list of legacy tables and prints the
// iptables-legacy sections: filled where legacy tables exist and guard (a
// shell condition ending in "&& ", or "") holds, empty otherwise.
func linuxLegacySaves(guard string) string {
	return linuxLegacyListings + `if ` + guard + `[ -n "$pw_legacy4" ] && pw_has iptables-legacy-save; then
	pw_run iptables_legacy iptables-legacy-save
else
	pw_section iptables_legacy
fi
if ` + guard + `[ -n "$pw_legacy6" ] && pw_has ip6tables-legacy-save; then
	pw_run ip6tables_legacy ip6tables-legacy-save
else
	pw_section ip6tables_legacy
fi
`
}

// emptySections prints the named sections with nothing in them.
func emptySections(names ...string) string {
	var b strings.Builder
	for _, n := range names {
		b.WriteString("pw_section " + n + "\n")
	}
	return b.String()
}

// joinLinuxFactsParts joins the parts, a blank line between two; with
// lean, the iptables parts print their lean form (or nothing).
func joinLinuxFactsParts(parts []linuxFactsPart, lean bool) string {
	var out []string
	for _, p := range parts {
		s := p.shell
		if lean && p.iptables {
			s = p.lean
		}
		if s != "" {
			out = append(out, s)
		}
	}
	return strings.Join(out, "\n")
}

// linuxFactsSections is the body of the facts script, and what the
// iptables and ufw apply scripts print after their change.
var linuxFactsSections = joinLinuxFactsParts(linuxFactsParts, false)

// linuxNFTReadback is what an nftables (or firewalld) apply prints back:
// the facts without the iptables variant and the default iptables'
// listings, which those backends' State does not read, and which would
// cost every host a few more processes per apply (their sections stay,
// empty, so the output still parses as facts). The iptables-legacy
// listings stay where the kernel has legacy tables: State warns of their
// drops.
var linuxNFTReadback = joinLinuxFactsParts(linuxFactsParts, true)

# portwarden: Linux firewall script (POSIX sh, run as root).
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
export PATH
LC_ALL=C
export LC_ALL
PW_ROOT='/srv/pwfw'
pw_nftfile="$PW_ROOT/etc/portwarden/portwarden.nft"
pw_nftconf="$PW_ROOT/etc/nftables.conf"
if [ ! -e "$pw_nftconf" ] && [ -e "$PW_ROOT/etc/sysconfig/nftables.conf" ]; then
	pw_nftconf="$PW_ROOT/etc/sysconfig/nftables.conf"
fi
pw_rules4="$PW_ROOT/etc/iptables/rules.v4"
pw_rules6="$PW_ROOT/etc/iptables/rules.v6"
pw_tmp=$(mktemp -d 2>/dev/null) || pw_tmp=
if [ -n "$pw_tmp" ]; then
	trap 'rm -rf "$pw_tmp"' EXIT
fi
pw_errors=
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
pw_yesno() {
	pw_key=$1
	shift
	if "$@" >/dev/null 2>&1; then echo "$pw_key=yes"; else echo "$pw_key=no"; fi
}
pw_status=0
pw_include="include \"$pw_nftfile\" # portwarden"
pw_section apply
pw_fail() {
	echo "$1"
	echo "portwarden: $1" >&2
	pw_status=1
}
if [ -z "$pw_tmp" ]; then
	pw_fail "cannot create a temporary directory; nothing was changed"
elif ! pw_has nft; then
	pw_fail "nft is not installed; nothing was changed"
else
	# Split standard input at the persist marker: the live transaction
	# before it, the boot file after it (a read loop: no process per step).
	pw_part=live
	pw_end=
	while IFS= read -r pw_l || [ -n "$pw_l" ]; do
		if [ "$pw_part" = live ]; then
			if [ "$pw_l" = '# portwarden:persist' ]; then
				pw_part=boot
			else
				printf '%s\n' "$pw_l" >&4
			fi
		else
			[ "$pw_l" = '# portwarden:end' ] && pw_end=1
			printf '%s\n' "$pw_l" >&5
		fi
	done 4>"$pw_tmp/live" 5>"$pw_tmp/boot"
	if [ -z "$pw_end" ]; then
		pw_fail "the ruleset on standard input is incomplete; nothing was changed"
	elif nft -f "$pw_tmp/live" >"$pw_tmp/nft.out" 2>&1; then
		echo "nft: transaction committed"
		pw_persist() {
			{ [ -d "${pw_nftfile%/*}" ] || mkdir -p "${pw_nftfile%/*}"; } &&
				cp "$pw_tmp/boot" "$pw_nftfile.tmp" &&
				mv -f "$pw_nftfile.tmp" "$pw_nftfile" || return 1
			if [ ! -e "$pw_nftconf" ]; then
				mkdir -p "${pw_nftconf%/*}" &&
					printf '#!/usr/sbin/nft -f\n\n%s\n' "$pw_include" >"$pw_nftconf" || return 1
			elif ! pw_contains "$pw_nftconf" "include \"$pw_nftfile\""; then
				printf '\n%s\n' "$pw_include" >>"$pw_nftconf" || return 1
			fi
		}
		if ! pw_persist 2>"$pw_tmp/persist.err"; then
			pw_fail "the rules are live but persisting them under ${PW_ROOT:-/} failed: $(tr '\n' ' ' <"$pw_tmp/persist.err")"
		fi
	else
		pw_fail "nft refused the transaction; nothing was changed: $(tr '\n' ' ' <"$pw_tmp/nft.out")"
	fi
fi
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

pw_section services
if [ -d /run/systemd/system ] && pw_has systemctl; then
	echo "systemd=yes"
	for pw_s in firewalld ufw nftables netfilter-persistent; do
		echo "$pw_s=$(systemctl is-active "$pw_s" 2>/dev/null | head -n 1)"
		echo "$pw_s.enabled=$(systemctl is-enabled "$pw_s" 2>/dev/null | head -n 1)"
	done
else
	echo "systemd=no"
fi
if pw_has firewall-cmd; then
	echo "firewalld.state=$(pw_timeout firewall-cmd --state 2>&1 | head -n 1)"
fi
if pw_has ufw; then
	echo "ufw.status=$(pw_timeout ufw status 2>/dev/null | head -n 1)"
fi

if pw_has nft; then pw_run nft_ruleset nft -j list ruleset; else pw_section nft_ruleset; fi
pw_section iptables
pw_section ip6tables
pw_section iptables_legacy
pw_section ip6tables_legacy

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
pw_ufw=
if pw_has ufw && { pw_contains /etc/ufw/ufw.conf ENABLED=yes || [ -f /etc/ufw/portwarden.conf ] ||
	pw_contains /etc/ufw/user.rules 706f727477617264656e3a; }; then
	pw_ufw=yes
fi
pw_ufwcat() {
	if [ -n "$pw_ufw" ] && [ -f "$2" ]; then pw_run "$1" cat "$2"; else pw_section "$1"; fi
}
pw_ufwcat ufw_user_rules /etc/ufw/user.rules
pw_ufwcat ufw_user6_rules /etc/ufw/user6.rules
pw_ufwcat ufw_default /etc/default/ufw
pw_ufwcat ufw_portwarden /etc/ufw/portwarden.conf

pw_section errors
printf '%s' "$pw_errors"
pw_section done
echo ok
exit "$pw_status"

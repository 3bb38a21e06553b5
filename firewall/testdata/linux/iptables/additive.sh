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
# The frame every Linux apply runs in: lock, saved state, armed revert,
# rollback when persisting fails (firewall.Guard).
trap '' HUP PIPE
pw_committed=0
pw_state=
pw_watcher=
pw_confirm=0
pw_save_live() {
	iptables-save -t filter >"$pw_state/ipt.v4" || return 1
	ip6tables-save -t filter >"$pw_state/ipt.v6" || return 1
}
pw_guard_begin() {
	if ! pw_has flock; then
		pw_fail "flock is not installed: portwarden cannot take the host's lock; nothing was changed"
		return 1
	fi
	if [ "$pw_confirm" -gt 0 ] && ! pw_has setsid; then
		pw_fail "setsid is not installed: portwarden cannot arm the automatic rollback (use --no-confirm); nothing was changed"
		return 1
	fi
	if ! { mkdir -p "$PW_ROOT/run/portwarden" && exec 9>>"$PW_ROOT/run/portwarden.lock"; } 2>"$pw_tmp/lock.err"; then
		pw_fail "cannot open the lock file $PW_ROOT/run/portwarden.lock; nothing was changed: $(tr '\n' ' ' <"$pw_tmp/lock.err")"
		return 1
	fi
	if ! flock -w 10 9; then
		echo "lock=busy"
		pw_fail "another portwarden run holds the lock on this host (waited 10s); nothing was changed"
		return 1
	fi
	# Under the lock no revert is pending (an armed revert holds the lock
	# until it is confirmed or has run): state directories left are stale.
	# The log of the last revert that ran is kept.
	for pw_d in "$PW_ROOT/run/portwarden"/apply.*; do
		[ -d "$pw_d" ] || continue
		if [ -f "$pw_d/revert.log" ]; then cp "$pw_d/revert.log" "$PW_ROOT/run/portwarden/last-revert.log"; fi
		rm -rf "$pw_d"
	done
	if ! pw_state=$(mktemp -d "$PW_ROOT/run/portwarden/apply.XXXXXXXX"); then
		pw_state=
		pw_fail "cannot create a state directory under $PW_ROOT/run/portwarden; nothing was changed"
		return 1
	fi
	if ! { pw_save_live && pw_save_files; } 2>"$pw_tmp/save.err"; then
		pw_fail "cannot save the current rules before changing them; nothing was changed: $(tr '\n' ' ' <"$pw_tmp/save.err")"
		return 1
	fi
	if ! cat >"$pw_state/restore.sh" <<'PW_RESTORE'
# portwarden: restore the owned state saved before an apply (POSIX sh, root).
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
export PATH
LC_ALL=C
export LC_ALL
pw_state=$1
pw_rc=0
{
	echo "*filter"
	echo ":PORTWARDEN-INPUT - [0:0]"
	iptables-save -t filter | grep -e '^-A INPUT .*-j PORTWARDEN-INPUT\( \|$\)' | sed 's/^-A /-D /'
	if grep -q '^:PORTWARDEN-INPUT ' "$pw_state/ipt.v4"; then
		grep '^-A PORTWARDEN-INPUT ' "$pw_state/ipt.v4"
		grep -e '^-A INPUT .*-j PORTWARDEN-INPUT\( \|$\)' "$pw_state/ipt.v4" | sed 's/^-A INPUT /-I INPUT 1 /'
	else
		echo "-X PORTWARDEN-INPUT"
	fi
	echo COMMIT
} >"$pw_state/restore.v4" && iptables-restore --noflush <"$pw_state/restore.v4" || pw_rc=1
{
	echo "*filter"
	echo ":PORTWARDEN-INPUT - [0:0]"
	ip6tables-save -t filter | grep -e '^-A INPUT .*-j PORTWARDEN-INPUT\( \|$\)' | sed 's/^-A /-D /'
	if grep -q '^:PORTWARDEN-INPUT ' "$pw_state/ipt.v6"; then
		grep '^-A PORTWARDEN-INPUT ' "$pw_state/ipt.v6"
		grep -e '^-A INPUT .*-j PORTWARDEN-INPUT\( \|$\)' "$pw_state/ipt.v6" | sed 's/^-A INPUT /-I INPUT 1 /'
	else
		echo "-X PORTWARDEN-INPUT"
	fi
	echo COMMIT
} >"$pw_state/restore.v6" && ip6tables-restore --noflush <"$pw_state/restore.v6" || pw_rc=1
[ "$pw_rc" = 0 ] || exit 1
for pw_p in "$pw_state"/path.*; do
	[ -f "$pw_p" ] || continue
	pw_n=${pw_p##*/path.}
	IFS= read -r pw_f <"$pw_p" || continue
	if [ -f "$pw_state/file.$pw_n" ]; then
		if ! cmp -s "$pw_state/file.$pw_n" "$pw_f" 2>/dev/null; then
			pw_t=$(mktemp "$pw_f.XXXXXX") && cat "$pw_state/file.$pw_n" >"$pw_t" && mv -f "$pw_t" "$pw_f" || { rm -f "$pw_t"; pw_rc=1; }
		fi
	elif [ -f "$pw_f" ] || [ -L "$pw_f" ]; then
		rm -f "$pw_f" || pw_rc=1
	fi
done
exit "$pw_rc"
PW_RESTORE
	then
		pw_fail "cannot write the rollback script; nothing was changed"
		return 1
	fi
	if [ "$pw_confirm" -gt 0 ]; then
		: >"$pw_state/armed" || return 1
		# The revert writes its own pid: setsid forks when it starts as a
		# process group leader, and then $! would name the wrong process.
		setsid sh -c 'echo "$$" >"$2/pid.new" && mv "$2/pid.new" "$2/pid"; sleep "$1" && mv "$2/armed" "$2/firing" 2>/dev/null && { sh "$2/restore.sh" "$2" >"$2/revert.log" 2>&1; echo "exit $?" >>"$2/revert.log"; }' portwarden-revert "$pw_confirm" "$pw_state" </dev/null >/dev/null 2>&1 &
		pw_i=0
		while [ ! -s "$pw_state/pid" ] && [ "$pw_i" -lt 500 ]; do
			sleep 0.01
			pw_i=$((pw_i + 1))
		done
		if ! IFS= read -r pw_watcher <"$pw_state/pid"; then
			pw_fail "the automatic rollback did not start; nothing was changed"
			return 1
		fi
	fi
	return 0
}
pw_save_files() {
	printf '%s\n' "$pw_rules4" >"$pw_state/path.0" || return 1
	if [ -f "$pw_rules4" ]; then cp "$pw_rules4" "$pw_state/file.0" || return 1; fi
	printf '%s\n' "$pw_rules6" >"$pw_state/path.1" || return 1
	if [ -f "$pw_rules6" ]; then cp "$pw_rules6" "$pw_state/file.1" || return 1; fi
}
# pw_disarm stops this run's revert (if armed and not yet firing).
pw_disarm() {
	[ -n "$pw_watcher" ] || return 0
	if mv "$pw_state/armed" "$pw_state/disarmed" 2>/dev/null; then
		kill -TERM "-$pw_watcher" 2>/dev/null || kill -TERM "$pw_watcher" 2>/dev/null
		return 0
	fi
	return 1
}
pw_guard_end() {
	if [ -z "$pw_state" ]; then
		echo "outcome=unchanged"
	elif [ "$pw_committed" != 1 ]; then
		pw_disarm
		rm -rf "$pw_state"
		echo "outcome=unchanged"
	elif [ "$pw_status" != 0 ]; then
		pw_disarm
		if sh "$pw_state/restore.sh" "$pw_state" >"$pw_tmp/restore.out" 2>&1; then
			rm -rf "$pw_state"
			echo "outcome=rolled-back"
			echo "portwarden: rolled back: the host keeps the rules it had before this run" >&2
		else
			echo "outcome=rollback-failed"
			echo "portwarden: rolling back failed too, the host holds rules nobody planned: $(tr '\n' ' ' <"$pw_tmp/restore.out")" >&2
		fi
	elif [ -n "$pw_watcher" ] && [ ! -e "$pw_state/armed" ]; then
		# The revert fired while this script still ran (a host slower than
		# the confirm timeout): put the saved state back again, since the
		# change may have committed after the revert restored.
		pw_status=1
		if sh "$pw_state/restore.sh" "$pw_state" >"$pw_tmp/restore.out" 2>&1; then
			echo "outcome=rolled-back"
			echo "portwarden: the confirm timeout ended before the apply finished: rolled back (raise --confirm-timeout)" >&2
		else
			echo "outcome=rollback-failed"
			echo "portwarden: the confirm timeout ended before the apply finished, and rolling back failed: $(tr '\n' ' ' <"$pw_tmp/restore.out")" >&2
		fi
	elif [ -n "$pw_watcher" ]; then
		echo "outcome=applied"
		echo "confirm=${pw_state##*/}"
	else
		rm -rf "$pw_state"
		echo "outcome=applied"
	fi
}
pw_status=0
pw_section apply
pw_fail() {
	echo "$1"
	echo "portwarden: $1" >&2
	pw_status=1
}
if [ -z "$pw_tmp" ]; then
	pw_fail "cannot create a temporary directory; nothing was changed"
else
	cat >"$pw_tmp/in"
	awk -v dir="$pw_tmp" '$0 == "# portwarden:ipv4" { out = dir "/v4"; next }
		$0 == "# portwarden:ipv6" { out = dir "/v6"; next }
		$0 == "# portwarden:end" { print "ok" > (dir "/end"); out = ""; next }
		out != "" { print > out }' "$pw_tmp/in"
	if [ ! -f "$pw_tmp/end" ]; then
		pw_fail "the rules on standard input are incomplete; nothing was changed"
	fi
fi
pw_go=$((1 - pw_status))
if [ "$pw_go" = 1 ] && ! pw_guard_begin; then pw_go=0; fi
if [ "$pw_go" = 1 ] && ! iptables-restore --noflush --test <"$pw_tmp/v4" >"$pw_tmp/v4.out" 2>&1; then
	pw_fail "iptables-restore refused the change; nothing was changed: $(tr '\n' ' ' <"$pw_tmp/v4.out")"
	pw_go=0
fi
if [ "$pw_go" = 1 ] && ! ip6tables-restore --noflush --test <"$pw_tmp/v6" >"$pw_tmp/v6.out" 2>&1; then
	pw_fail "ip6tables-restore refused the change; nothing was changed: $(tr '\n' ' ' <"$pw_tmp/v6.out")"
	pw_go=0
fi
if [ "$pw_go" = 1 ]; then
	if iptables-restore --noflush <"$pw_tmp/v4" >"$pw_tmp/v4.out" 2>&1; then
		echo "iptables-restore: committed"
		pw_committed=1
		if ! { mkdir -p "${pw_rules4%/*}" && pw_t=$(mktemp "$PW_ROOT/etc/iptables/rules.v4.XXXXXX") && { iptables-save >"$pw_t" && mv -f "$pw_t" "$PW_ROOT/etc/iptables/rules.v4" || { rm -f "$pw_t"; false; }; }; } 2>"$pw_tmp/persist.err"; then
			pw_fail "persisting the IPv4 rules to $PW_ROOT/etc/iptables/rules.v4 failed: $(tr '\n' ' ' <"$pw_tmp/persist.err")"
		fi
	else
		pw_fail "iptables-restore refused the change; nothing was changed: $(tr '\n' ' ' <"$pw_tmp/v4.out")"
		pw_go=0
	fi
fi
if [ "$pw_go" = 1 ]; then
	if ip6tables-restore --noflush <"$pw_tmp/v6" >"$pw_tmp/v6.out" 2>&1; then
		echo "ip6tables-restore: committed"
		pw_committed=1
		if ! { mkdir -p "${pw_rules4%/*}" && pw_t=$(mktemp "$PW_ROOT/etc/iptables/rules.v6.XXXXXX") && { ip6tables-save >"$pw_t" && mv -f "$pw_t" "$PW_ROOT/etc/iptables/rules.v6" || { rm -f "$pw_t"; false; }; }; } 2>"$pw_tmp/persist.err"; then
			pw_fail "persisting the IPv6 rules to $PW_ROOT/etc/iptables/rules.v6 failed: $(tr '\n' ' ' <"$pw_tmp/persist.err")"
		fi
	else
		pw_fail "ip6tables-restore refused the change; the IPv4 rules are rolled back: $(tr '\n' ' ' <"$pw_tmp/v6.out")"
		pw_go=0
	fi
fi
pw_guard_end
pw_section session
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

pw_section errors
printf '%s' "$pw_errors"
pw_section done
echo ok
exit "$pw_status"

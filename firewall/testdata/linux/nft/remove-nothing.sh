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
pw_fwprog='# portwarden: firewalld helper, run by the host'\''s own python (the one
# firewall-cmd uses), through firewalld'\''s own D-Bus client.
#
#   read   print portwarden'\''s objects, permanent and runtime, as JSON
#   restore  as apply, with what "read" printed earlier (its permanent part)
#   apply  make the permanent objects those on standard input (JSON:
#          {"policy": settings or null, "ipsets": {name: settings}}),
#          reload firewalld, check the runtime, then print as "read";
#          on any failure put the permanent objects back as they were,
#          reload again and exit 1.
#
# Only the policy "portwarden" and ipsets named "portwarden-*" are ever
# read, written or removed. Messages go to standard error, the JSON to
# standard output.
import json
import sys

POLICY = "portwarden"
PREFIX = "portwarden-"
POLICY_KEYS = ("description", "short", "target", "priority", "ingress_zones",
               "egress_zones", "rich_rules", "services", "ports", "protocols",
               "source_ports", "icmp_blocks", "forward_ports", "masquerade")


def say(msg):
    sys.stderr.write(msg + "\n")


def policy_dict(settings):
    d = settings.getSettingsDict()
    return {k: d.get(k) for k in POLICY_KEYS}


def ipset_list(settings):
    s = list(settings.settings)
    # version, short, description, type, options, entries
    return {"short": s[1], "description": s[2], "type": s[3],
            "options": dict(s[4]), "entries": sorted(str(e) for e in s[5])}


def permanent(cfg):
    pol = None
    if POLICY in cfg.getPolicyNames():
        pol = policy_dict(cfg.getPolicyByName(POLICY).getSettings())
    sets = {}
    for n in cfg.getIPSetNames():
        if n.startswith(PREFIX):
            sets[n] = ipset_list(cfg.getIPSetByName(n).getSettings())
    return {"policy": pol, "ipsets": sets}


def runtime(fw):
    pol = None
    if POLICY in fw.getPolicies():
        pol = policy_dict(fw.getPolicySettings(POLICY))
    sets = {}
    for n in fw.getIPSets():
        if n.startswith(PREFIX):
            sets[n] = ipset_list(fw.getIPSetSettings(n))
    return {"policy": pol, "ipsets": sets}


def write(cfg, want):
    """Makes the permanent objects equal to want, in an order that never
    leaves the policy naming a missing ipset."""
    from firewall.client import FirewallClientIPSetSettings, FirewallClientPolicySettings
    have = permanent(cfg)
    for n, s in sorted(want["ipsets"].items()):
        settings = FirewallClientIPSetSettings(
            ["", s["short"], s["description"], s["type"], s["options"], s["entries"]])
        if n not in have["ipsets"]:
            cfg.addIPSet(n, settings)
            say("ipset %s: added" % n)
        elif have["ipsets"][n] != s:
            cfg.getIPSetByName(n).update(settings)
            say("ipset %s: updated" % n)
    pol = want["policy"]
    if pol is None:
        if have["policy"] is not None:
            cfg.getPolicyByName(POLICY).remove()
            say("policy %s: removed" % POLICY)
    else:
        settings = FirewallClientPolicySettings()
        settings.setSettingsDict(pol)
        if have["policy"] is None:
            cfg.addPolicy(POLICY, settings)
            say("policy %s: added" % POLICY)
        elif have["policy"] != pol:
            cfg.getPolicyByName(POLICY).update(settings)
            say("policy %s: updated" % POLICY)
    for n in sorted(have["ipsets"]):
        if n not in want["ipsets"]:
            cfg.getIPSetByName(n).remove()
            say("ipset %s: removed" % n)


def in_place(have, have_rt, want):
    """Reports whether want differs from what is there only in ipset
    entries and rich rules, which firewalld changes at runtime without a
    reload (a reload would drop every runtime-only change other tools
    made, such as fail2ban'\''s bans)."""
    if have != have_rt or have["policy"] is None or want["policy"] is None:
        return False
    if sorted(have["ipsets"]) != sorted(want["ipsets"]):
        return False
    for n, s in want["ipsets"].items():
        h = have["ipsets"][n]
        if any(h[k] != s[k] for k in ("short", "description", "type", "options")):
            return False
    hp, wp = have["policy"], want["policy"]
    return all(hp[k] == wp[k] for k in POLICY_KEYS if k != "rich_rules")


def write_runtime(fw, want):
    """Sets the runtime ipset entries and rich rules to want'\''s."""
    from firewall.client import FirewallClientPolicySettings
    have = runtime(fw)
    for n, s in sorted(want["ipsets"].items()):
        if have["ipsets"][n]["entries"] != s["entries"]:
            fw.setEntries(n, s["entries"])
            say("ipset %s: entries set (runtime, no reload)" % n)
    if have["policy"] != want["policy"]:
        settings = FirewallClientPolicySettings()
        settings.setSettingsDict(want["policy"])
        fw.setPolicySettings(POLICY, settings)
        say("policy %s: rich rules set (runtime, no reload)" % POLICY)


def one_line(e):
    return str(e).strip().replace("\n", " ")


def apply(fw, want):
    """Writes want, reloads and checks; on failure restores. Returns the
    exit status."""
    try:
        # Checks firewalld makes only at its reload, which leaves it FAILED
        # (refusing every further change, the rollback too) when they
        # fail: made here first, before anything is written.
        from firewall.core.ipset import check_for_overlapping_entries
        from firewall.core.rich import Rich_Rule
        for s in want["ipsets"].values():
            check_for_overlapping_entries(s["entries"])
        for rr in (want["policy"] or {}).get("rich_rules", []):
            src = Rich_Rule(rule_str=rr).source
            if src is not None and src.ipset and src.ipset not in want["ipsets"]:
                raise Exception("rich rule %r names ipset %s, which is not written" % (rr, src.ipset))
    except Exception as e:
        say("refused before any change: %s" % one_line(e))
        return 1
    cfg = fw.config()
    before = permanent(cfg)
    if in_place(before, runtime(fw), want):
        return apply_in_place(fw, cfg, before, want)
    try:
        write(cfg, want)
        # firewalld'\''s own check of the whole permanent configuration,
        # before it becomes the runtime.
        fw.checkPermanentConfig()
        fw.reload()
        if runtime(fw) != want:
            raise Exception("after the reload the runtime differs from what was written")
        say("firewalld: permanent configuration written and reloaded")
        return 0
    except Exception as e:
        say("firewalld refused the change: %s" % one_line(e))
    try:
        write(cfg, before)
        fw.reload()
        say("rolled back: portwarden'\''s permanent objects are as before, and firewalld reloaded them")
    except Exception as e:
        say("ROLLBACK FAILED: %s" % one_line(e))
    return 1


def apply_in_place(fw, cfg, before, want):
    """Changes entries and rich rules in the permanent configuration and
    at runtime; on failure puts both back."""
    try:
        write(cfg, want)
        write_runtime(fw, want)
        if runtime(fw) != want or permanent(cfg) != want:
            raise Exception("after the change the runtime or permanent objects differ from what was written")
        say("firewalld: permanent and runtime configuration changed in place, without a reload")
        return 0
    except Exception as e:
        say("firewalld refused the change: %s" % one_line(e))
    try:
        write(cfg, before)
        write_runtime(fw, before)
        say("rolled back: portwarden'\''s permanent and runtime objects are as before")
    except Exception as e:
        say("ROLLBACK FAILED: %s" % one_line(e))
    return 1


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "read"
    if mode not in ("read", "apply", "restore"):
        say("unknown mode %r" % mode)
        return 2
    try:
        from firewall.client import FirewallClient
        fw = FirewallClient()
    except Exception as e:
        say("cannot reach firewalld on D-Bus: %s" % one_line(e))
        return 1
    if not fw.connected:
        say("firewalld is not running (no answer on D-Bus)")
        return 1
    status = 0
    if mode == "apply":
        status = apply(fw, json.load(sys.stdin))
    elif mode == "restore":
        # Standard input is what "read" printed before an apply: put its
        # permanent objects back (the automatic rollback, restore.sh).
        status = apply(fw, json.load(sys.stdin)["permanent"])
    try:
        out = {"permanent": permanent(fw.config()), "runtime": runtime(fw)}
    except Exception as e:
        say("reading firewalld'\''s configuration: %s" % one_line(e))
        return 1
    sys.stdout.write(json.dumps(out, sort_keys=True) + "\n")
    return status


sys.exit(main())
'
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
# The frame every Linux apply runs in: lock, saved state, armed revert,
# rollback when persisting fails (firewall.Guard).
trap '' HUP PIPE
pw_committed=0
pw_state=
pw_watcher=
pw_confirm=0
pw_save_live() {
	pw_nft_jumps() {
		nft -a list chain "$1" "$2" "$3" 2>/dev/null | while IFS= read -r pw_l; do
			case $pw_l in *"jump portwarden_input"*"# handle "*) echo "${pw_l##*# handle }" ;; esac
		done
	}
	nft list table inet portwarden >"$pw_state/table.nft" 2>/dev/null || : >"$pw_state/table.nft"
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
	if ! { { [ -d "$PW_ROOT/run/portwarden" ] || mkdir -p "$PW_ROOT/run/portwarden"; } && exec 9>>"$PW_ROOT/run/portwarden.lock"; } 2>"$pw_tmp/lock.err"; then
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
	# printf is a builtin: writing restore.sh starts no process.
	if ! printf '%s' '# portwarden: restore the owned state saved before an apply (POSIX sh, root).
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
export PATH
LC_ALL=C
export LC_ALL
pw_state=$1
pw_rc=0
pw_nft_jumps() {
	nft -a list chain "$1" "$2" "$3" 2>/dev/null | while IFS= read -r pw_l; do
		case $pw_l in *"jump portwarden_input"*"# handle "*) echo "${pw_l##*# handle }" ;; esac
	done
}
{
	echo "table inet portwarden {}"
	echo "delete table inet portwarden"
	if [ -s "$pw_state/table.nft" ]; then cat "$pw_state/table.nft"; fi
} >"$pw_state/restore.nft" && nft -f "$pw_state/restore.nft" || exit 1
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
' >"$pw_state/restore.sh"; then
		pw_fail "cannot write the rollback script; nothing was changed"
		return 1
	fi
	if [ "$pw_confirm" -gt 0 ]; then
		: >"$pw_state/armed" || return 1
		# The revert prints its own pid (setsid forks when it starts as a
		# process group leader, and then $! would name the wrong process)
		# and closes its standard output: the command substitution ends
		# there, with no polling, while the revert sleeps on, detached.
		pw_watcher=$(setsid sh -c 'echo "$$"; exec >/dev/null; sleep "$1" && mv "$2/armed" "$2/firing" 2>/dev/null && { sh "$2/restore.sh" "$2" >"$2/revert.log" 2>&1; echo "exit $?" >>"$2/revert.log"; }' portwarden-revert "$pw_confirm" "$pw_state" </dev/null 2>/dev/null &)
		case $pw_watcher in
		'' | *[!0-9]*)
			pw_watcher=
			pw_fail "the automatic rollback did not start; nothing was changed"
			return 1
			;;
		esac
		if ! echo "$pw_watcher" >"$pw_state/pid"; then
			kill -TERM "-$pw_watcher" 2>/dev/null || kill -TERM "$pw_watcher" 2>/dev/null
			pw_watcher=
			pw_fail "cannot record the automatic rollback's process; nothing was changed"
			return 1
		fi
	fi
	return 0
}
pw_save_files() {
	:
	printf '%s\n' "$pw_nftfile" >"$pw_state/path.0" || return 1
	if [ -f "$pw_nftfile" ]; then cp "$pw_nftfile" "$pw_state/file.0" || return 1; fi
	printf '%s\n' "$pw_nftconf" >"$pw_state/path.1" || return 1
	if [ -f "$pw_nftconf" ]; then cp "$pw_nftconf" "$pw_state/file.1" || return 1; fi
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
pw_head apply
pw_fail() {
	echo "$1"
	echo "portwarden: $1" >&2
	pw_status=1
}
pw_include="include \"$pw_nftfile\" # portwarden"
if [ -z "$pw_tmp" ]; then
	pw_fail "cannot create a temporary directory; nothing was changed"
elif ! pw_has nft; then
	pw_fail "nft is not installed; nothing was changed"
elif ! pw_has awk; then
	pw_fail "awk is not installed; nothing was changed"
else
	# Split standard input at the persist marker: the live transaction
	# before it, the boot file after it. One awk: the shell's read builtin
	# takes a byte per system call (an 8 KB ruleset cost a host 4 ms).
	pw_end=
	if awk -v live="$pw_tmp/live" -v boot="$pw_tmp/boot" '
		BEGIN { printf "" >live; printf "" >boot; part = 0; complete = 0 }
		part == 0 && $0 == "# portwarden:persist" { part = 1; next }
		part == 0 { print >live; next }
		{ print >boot; if ($0 == "# portwarden:end") complete = 1 }
		END { if (close(live) || close(boot)) exit 2; exit complete ? 0 : 3 }'; then
		pw_end=1
	fi
	if [ -z "$pw_end" ]; then
		pw_fail "the ruleset on standard input is incomplete, or could not be split in the scratch directory; nothing was changed"
	elif ! pw_guard_begin; then
		:
	elif nft -f "$pw_tmp/live" >"$pw_tmp/nft.out" 2>&1; then
		echo "nft: transaction committed"
		pw_committed=1
		pw_persist() {
			if [ -e "$pw_nftfile" ]; then
				pw_t=$(mktemp "$pw_nftfile.XXXXXX") &&
					{ cat "$pw_tmp/boot" >"$pw_t" && mv -f "$pw_t" "$pw_nftfile" || { rm -f "$pw_t"; false; }; } || return 1
			fi
			if [ -f "$pw_nftconf" ] && grep -qxF "$pw_include" "$pw_nftconf"; then
				grep -vxF "$pw_include" "$pw_nftconf" >"$pw_tmp/conf"
				pw_t=$(mktemp "$pw_nftconf.XXXXXX") &&
					{ cat "$pw_tmp/conf" >"$pw_t" && mv -f "$pw_t" "$pw_nftconf" || { rm -f "$pw_t"; false; }; } || return 1
			fi
		}
		if ! pw_persist 2>"$pw_tmp/persist.err"; then
			pw_fail "persisting the rules under ${PW_ROOT:-/} failed: $(tr '\n' ' ' <"$pw_tmp/persist.err")"
		fi
	else
		pw_fail "nft refused the transaction; nothing was changed: $(tr '\n' ' ' <"$pw_tmp/nft.out")"
	fi
fi
pw_guard_end
pw_section session
pw_say "ssh_connection=${SSH_CONNECTION-}"

pw_section os
if [ -r /etc/os-release ]; then
	while IFS= read -r pw_l || [ -n "$pw_l" ]; do
		case $pw_l in ID=* | ID_LIKE=* | VERSION_ID=*) pw_say "$pw_l" ;; esac
	done </etc/os-release
fi

pw_section tools
for pw_t in nft iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore \
	iptables-legacy-save iptables-legacy-restore ip6tables-legacy-save ip6tables-legacy-restore \
	firewall-cmd ufw systemctl netfilter-persistent; do
	pw_which "$pw_t"
	[ -z "$pw_w" ] || pw_say "$pw_w"
done

pw_section services
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

pw_nft=
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

pw_section iptables
pw_section ip6tables
pw_legacy4=
pw_legacy6=
{ read -r pw_legacy4 </proc/net/ip_tables_names; } 2>/dev/null
{ read -r pw_legacy6 </proc/net/ip6_tables_names; } 2>/dev/null
if [ -n "$pw_legacy4" ] && pw_has iptables-legacy-save; then
	pw_run iptables_legacy iptables-legacy-save
else
	pw_section iptables_legacy
fi
if [ -n "$pw_legacy6" ] && pw_has ip6tables-legacy-save; then
	pw_run ip6tables_legacy ip6tables-legacy-save
else
	pw_section ip6tables_legacy
fi

pw_section persist
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

# firewalld's own view of portwarden's objects, only where it runs: an
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

pw_ufw=
if pw_has ufw && { [ "$pw_ufw_conf" = yes ] || [ -f /etc/ufw/portwarden.conf ] ||
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
pw_out=$pw_out$pw_errors

pw_section done
pw_say ok
pw_flush
exit "$pw_status"

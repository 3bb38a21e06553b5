#!/bin/sh
# deps.sh PACKAGE... installs what the lab and the tests need on a Debian
# machine without starting or enabling any service here:
#
#   - /usr/sbin/policy-rc.d refuses every start (exit 101) during the
#     install; it is removed afterwards if it was not there before;
#   - debconf is preseeded so that iptables-persistent neither asks nor
#     saves this machine's rules;
#   - the units of the packages this run installed are disabled and
#     stopped (policy-rc.d should already have kept them from starting);
#   - afterwards it checks that no firewalld or ufw process runs in the
#     root namespace, no dbus-daemon that was not running before, and that
#     the root namespace's ruleset is unchanged.
#
# It never runs "ufw enable" or firewall-cmd: the lab does that inside its
# hosts' namespaces only.
set -eu

missing=
for p in "$@"; do
	dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -z "$missing" ]; then
	exit 0
fi
echo "installing:$missing"

ruleset() { nft list ruleset 2>/dev/null || :; iptables-save 2>/dev/null | grep -v '^#' || :; }
before=$(mktemp)
after=$(mktemp)
trap 'rm -f "$before" "$after"' EXIT
ruleset >"$before"
# rootns_pids PATTERN: processes whose command line matches PATTERN and
# that run in this machine's network namespace (lab hosts run their own
# firewalld and dbus-daemon in theirs).
rootns_pids() {
	self=$(readlink /proc/self/ns/net)
	for pid in $(pgrep -f "$1" || :); do
		[ "$(readlink "/proc/$pid/ns/net" 2>/dev/null)" = "$self" ] && echo "$pid"
	done
	return 0
}
dbus_before=$(rootns_pids '^[^ ]*dbus-daemon --system')

policy=/usr/sbin/policy-rc.d
ours=
if [ ! -e "$policy" ]; then
	printf '#!/bin/sh\n# portwarden deps: refuse to start services during the install\nexit 101\n' >"$policy"
	chmod 0755 "$policy"
	ours=1
fi
cleanup_policy() { [ -z "$ours" ] || rm -f "$policy"; }
trap 'cleanup_policy; rm -f "$before" "$after"' EXIT

# iptables-persistent would otherwise save this machine's rules.
if command -v debconf-set-selections >/dev/null 2>&1; then
	printf '%s\n' \
		'iptables-persistent iptables-persistent/autosave_v4 boolean false' \
		'iptables-persistent iptables-persistent/autosave_v6 boolean false' |
		debconf-set-selections
fi

apt-get update -qq
# shellcheck disable=SC2086
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing

# Units of what this run installed must not be enabled here: they would
# take over this machine's firewall at its next boot.
for p in $missing; do
	for unit in $(dpkg -L "$p" 2>/dev/null | grep -E '^/(usr/)?lib/systemd/system/[^/]+\.service$' | sed 's|.*/||'); do
		case $unit in
		dbus.service) continue ;; # the machine's own bus, if it has systemd
		esac
		if command -v systemctl >/dev/null 2>&1; then
			if [ -d /run/systemd/system ]; then
				systemctl stop "$unit" >/dev/null 2>&1 || :
			fi
			systemctl disable "$unit" >/dev/null 2>&1 || :
		fi
		rm -f /etc/systemd/system/*.wants/"$unit"
	done
	if [ -x "/etc/init.d/$p" ] && command -v update-rc.d >/dev/null 2>&1; then
		update-rc.d "$p" disable >/dev/null 2>&1 || :
	fi
done

status=0
for pat in '^[^ ]*python[^ ]* [^ ]*/usr/sbin/firewalld' '^[^ ]*firewalld' '^/lib/ufw/ufw-init'; do
	for pid in $(rootns_pids "$pat"); do
		echo "deps: $(tr '\0' ' ' <"/proc/$pid/cmdline") (pid $pid) runs in the root namespace" >&2
		status=1
	done
done
for pid in $(rootns_pids '^[^ ]*dbus-daemon --system'); do
	case " $dbus_before " in
	*" $pid "*) ;;
	*)
		echo "deps: the install started dbus-daemon (pid $pid) here" >&2
		status=1
		;;
	esac
done
ruleset >"$after"
if ! cmp -s "$before" "$after"; then
	echo "deps: the root namespace's ruleset changed during the install:" >&2
	diff "$before" "$after" >&2 || :
	status=1
fi
if grep -qs '^ENABLED=yes' /etc/ufw/ufw.conf; then
	echo "deps: ufw is enabled on this machine (/etc/ufw/ufw.conf)" >&2
	status=1
fi
exit "$status"

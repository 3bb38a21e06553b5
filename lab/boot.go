package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Firewall managers a Linux lab host can run (Host.Manager).
const (
	// ManagerNone is a host without a firewall manager: the nftables and
	// iptables backends' host. Its boot enables nftables.service (which
	// loads /etc/nftables.conf) and netfilter-persistent.service (which
	// loads /etc/iptables/rules.v4 and rules.v6).
	ManagerNone = ""
	// ManagerFirewalld is a host that runs a D-Bus system bus and
	// firewalld (default zone public, nftables backend, ssh allowed).
	ManagerFirewalld = "firewalld"
	// ManagerUFW is a host with ufw enabled (ENABLED=yes, default
	// incoming deny, a host-own rule allowing 22/tcp).
	ManagerUFW = "ufw"
)

// The boot units the lab's boot knows, as Debian's packages name them.
const (
	unitNFTables            = "nftables.service"
	unitNetfilterPersistent = "netfilter-persistent.service"
	unitFirewalld           = "firewalld.service"
	unitUFW                 = "ufw.service"
)

// bootTimeout bounds how long firewalld may take to answer on D-Bus.
const bootTimeout = 60 * time.Second

// configureScript sets which firewall units the host's own /etc enables,
// as Debian's packages and an administrator's "systemctl enable" would
// (symlinks in /etc/systemd/system/*.wants), and the manager's own
// configuration. $1 is the manager; standard input is the host's
// /etc/nftables.conf (used by hosts without a manager).
const configureScript = `set -eu
manager=$1
sd=/etc/systemd/system
mkdir -p "$sd/multi-user.target.wants" "$sd/sysinit.target.wants"
disable() { rm -f "$sd"/*.wants/"$1"; }
enable() { ln -sfn "/lib/systemd/system/$1" "$sd/$2.wants/$1"; }
for u in ` + unitNFTables + ` ` + unitNetfilterPersistent + ` ` + unitFirewalld + ` ` + unitUFW + `; do
	disable "$u"
done
rm -f "$sd/dbus-org.fedoraproject.FirewallD1.service"
if [ -f /etc/ufw/ufw.conf ]; then
	sed -i 's/^ENABLED=.*/ENABLED=no/' /etc/ufw/ufw.conf
fi
case $manager in
"")
	cat >/etc/nftables.conf
	enable ` + unitNFTables + ` sysinit.target
	enable ` + unitNetfilterPersistent + ` multi-user.target
	;;
firewalld)
	enable ` + unitFirewalld + ` multi-user.target
	ln -sfn /lib/systemd/system/` + unitFirewalld + ` "$sd/dbus-org.fedoraproject.FirewallD1.service"
	sed -i -e 's/^DefaultZone=.*/DefaultZone=public/' -e 's/^FirewallBackend=.*/FirewallBackend=nftables/' /etc/firewalld/firewalld.conf
	;;
ufw)
	enable ` + unitUFW + ` multi-user.target
	sed -i 's/^DEFAULT_INPUT_POLICY=.*/DEFAULT_INPUT_POLICY="DROP"/' /etc/default/ufw
	ufw allow 22/tcp comment 'portwarden lab: ssh' >/dev/null
	sed -i 's/^ENABLED=.*/ENABLED=yes/' /etc/ufw/ufw.conf
	;;
*)
	echo "unknown manager $manager" >&2
	exit 2
	;;
esac
`

// emptyNFTablesConf is a manager-less host's /etc/nftables.conf: the
// service is enabled and holds no rules of its own.
const emptyNFTablesConf = "#!/usr/sbin/nft -f\n\nflush ruleset\n"

// configureHost writes the host's boot configuration into its own /etc.
func (l *Lab) configureHost(ctx context.Context, h Host) error {
	conf := emptyNFTablesConf
	if l.BaselineDrop && h.Manager == ManagerNone {
		conf += "\n" + BaselineRuleset
	}
	a := l.hostArgv(h, "/bin/sh", "-c", configureScript, "sh", h.Manager)
	if _, err := run(ctx, []byte(conf), a[0], a[1:]...); err != nil {
		return fmt.Errorf("configuring the boot of %s: %w", h.Name, err)
	}
	return nil
}

// flushScript empties the host's kernel ruleset, as a fresh network
// namespace has it: nftables (which holds iptables-nft's tables too) and,
// where the kernel has them, the legacy iptables tables.
const flushScript = `nft flush ruleset
for fam in 4 6; do
	if [ $fam = 4 ]; then names=/proc/net/ip_tables_names tool=iptables-legacy-restore; else names=/proc/net/ip6_tables_names tool=ip6tables-legacy-restore; fi
	[ -s $names ] && command -v $tool >/dev/null 2>&1 || continue
	while read -r t; do
		case $t in
		filter | security) c="INPUT FORWARD OUTPUT" ;;
		nat) c="PREROUTING INPUT OUTPUT POSTROUTING" ;;
		mangle) c="PREROUTING INPUT FORWARD OUTPUT POSTROUTING" ;;
		raw) c="PREROUTING OUTPUT" ;;
		*) continue ;;
		esac
		{ echo "*$t"; for x in $c; do echo ":$x ACCEPT [0:0]"; done; echo COMMIT; } | $tool
	done <$names
done
`

// earlyBootScript is what the host's boot runs before its daemons, from
// its own /etc: Debian's nftables.service and netfilter-persistent.service
// (the rules.v4/v6 plugins), if enabled. It prints what it does; a failed
// unit makes it exit 1 after the others ran, as a boot goes on.
const earlyBootScript = `status=0
enabled() {
	for w in /etc/systemd/system/*.wants/"$1"; do
		[ -L "$w" ] && return 0
	done
	return 1
}
if enabled ` + unitNFTables + `; then
	echo "boot: ` + unitNFTables + `: nft -f /etc/nftables.conf"
	nft -f /etc/nftables.conf || { echo "boot: ` + unitNFTables + ` failed"; status=1; }
fi
if enabled ` + unitNetfilterPersistent + `; then
	if [ -x /usr/sbin/netfilter-persistent ]; then
		echo "boot: ` + unitNetfilterPersistent + `: netfilter-persistent start"
		/usr/sbin/netfilter-persistent start || status=1
	else
		for f in 4 6; do
			rules=/etc/iptables/rules.v$f
			tool=iptables-restore
			[ $f = 6 ] && tool=ip6tables-restore
			if [ -f $rules ]; then
				echo "boot: ` + unitNetfilterPersistent + `: $tool <$rules"
				$tool <$rules || { echo "boot: loading $rules failed"; status=1; }
			fi
		done
	fi
fi
exit $status
`

// enabledScript exits 0 if unit $1 is enabled in the host's /etc.
const enabledScript = `for w in /etc/systemd/system/*.wants/"$1"; do [ -L "$w" ] && exit 0; done; exit 1`

// boot starts what the host's own boot would start, from its own /etc,
// then sshd, and records the servers' PIDs. The host's ruleset must be
// empty and its /run fresh.
func (l *Lab) boot(ctx context.Context, i int) error {
	h := l.Hosts[i]
	logPath := filepath.Join(h.Dir, "boot.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("booting %s: %w", h.Name, err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "boot: %s at %s\n", h.Name, time.Now().UTC().Format(time.RFC3339))
	var errs []error
	out, err := l.hostSh(ctx, h, earlyBootScript)
	logf.Write(out)
	if err != nil {
		errs = append(errs, fmt.Errorf("booting %s: %w: %s", h.Name, err, strings.TrimSpace(string(out))))
	}
	enabled := func(unit string) bool {
		_, err := l.hostSh(ctx, h, enabledScript, unit)
		return err == nil
	}
	if enabled(unitFirewalld) {
		fmt.Fprintln(logf, "boot: dbus.service: dbus-daemon --system")
		fmt.Fprintln(logf, "boot: "+unitFirewalld+": firewalld --nofork --nopid")
		if err := l.startFirewalld(ctx, h); err != nil {
			errs = append(errs, fmt.Errorf("booting %s: %w", h.Name, err))
		}
	}
	if enabled(unitUFW) {
		fmt.Fprintln(logf, "boot: "+unitUFW+": /lib/ufw/ufw-init start quiet")
		if out, err := l.hostRun(ctx, h, nil, "/lib/ufw/ufw-init", "start", "quiet"); err != nil {
			errs = append(errs, fmt.Errorf("booting %s: ufw: %w: %s", h.Name, err, out))
		}
	}
	fmt.Fprintln(logf, "boot: ssh.service: sshd")
	pid, err := l.startSSHD(h)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	l.mu.Lock()
	l.Hosts[i].PID = pid
	l.mu.Unlock()
	return errors.Join(errs...)
}

// startFirewalld starts the host's system bus and firewalld, and waits
// until firewalld answers on the bus.
func (l *Lab) startFirewalld(ctx context.Context, h Host) error {
	if _, err := l.startProcess(h, filepath.Join(h.Dir, "dbus.log"), "dbus-daemon", "--system", "--nofork", "--nopidfile"); err != nil {
		return fmt.Errorf("starting dbus: %w", err)
	}
	if err := l.waitFor(ctx, h, bootTimeout, "test", "-S", "/run/dbus/system_bus_socket"); err != nil {
		return fmt.Errorf("waiting for the system bus: %w", err)
	}
	if _, err := l.startProcess(h, filepath.Join(h.Dir, "firewalld.out"), "/usr/sbin/firewalld", "--nofork", "--nopid"); err != nil {
		return fmt.Errorf("starting firewalld: %w", err)
	}
	if err := l.waitFor(ctx, h, bootTimeout, "firewall-cmd", "--state"); err != nil {
		return fmt.Errorf("waiting for firewalld: %w; %s", err, tail(filepath.Join(h.Dir, "firewalld.out")))
	}
	return nil
}

// waitFor runs argv in the host until it succeeds or the timeout passes.
func (l *Lab) waitFor(ctx context.Context, h Host, timeout time.Duration, argv ...string) error {
	deadline := time.Now().Add(timeout)
	for {
		_, err := l.hostRun(ctx, h, nil, argv...)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil || len(b) == 0 {
		return "no output in " + filepath.Base(path)
	}
	if len(b) > 600 {
		b = b[len(b)-600:]
	}
	return filepath.Base(path) + ": " + strings.TrimSpace(string(b))
}

// Reboot reboots a Linux host: every process of the host is stopped, its
// kernel ruleset flushed and its /run emptied; then what the host's own
// boot starts is started from its own /etc (see boot), then sshd. Files
// in its /etc, /var/lib and /var/log stay, as on a disk. It is an
// emulated boot: no init runs (docs/lab.md says why and what it starts).
// Reboot returns once sshd listens again.
func (l *Lab) Reboot(ctx context.Context, name string) error {
	i := l.hostIndex(name)
	if i < 0 {
		return fmt.Errorf("rebooting %s: no such lab host", name)
	}
	h := l.Hosts[i]
	if h.OS != Linux {
		return fmt.Errorf("rebooting %s: only Linux lab hosts have a boot", name)
	}
	if l.mountNSID(h) == "" {
		return fmt.Errorf("rebooting %s: the host has no mount namespace (is the lab up?)", name)
	}
	if err := l.kill(l.hostPIDs(ctx, h)); err != nil {
		return fmt.Errorf("rebooting %s: stopping its processes: %w", name, err)
	}
	if _, err := l.hostSh(ctx, h, flushScript); err != nil {
		return fmt.Errorf("rebooting %s: flushing its ruleset: %w", name, err)
	}
	if _, err := l.hostSh(ctx, h, freshRunScript); err != nil {
		return fmt.Errorf("rebooting %s: emptying /run: %w", name, err)
	}
	berr := l.boot(ctx, i)
	if err := l.save(); err != nil {
		return errors.Join(berr, err)
	}
	if err := l.waitListening(ctx, l.Hosts[i], startTimeout); err != nil {
		return errors.Join(berr, fmt.Errorf("rebooting %s: %w", name, err))
	}
	if berr != nil {
		return fmt.Errorf("rebooting %s: %w", name, berr)
	}
	return nil
}

func (l *Lab) hostIndex(name string) int {
	for i, h := range l.Hosts {
		if h.Name == name {
			return i
		}
	}
	return -1
}

// HostsWith returns the Linux hosts that run manager (ManagerNone,
// ManagerFirewalld or ManagerUFW).
func (l *Lab) HostsWith(manager string) []Host {
	var hosts []Host
	for _, h := range l.Hosts {
		if h.OS == Linux && h.Manager == manager {
			hosts = append(hosts, h)
		}
	}
	return hosts
}

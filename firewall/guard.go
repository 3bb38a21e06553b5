package firewall

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Guard says how an apply script protects the host it changes. Every
// Linux apply script, whatever the backend, runs its change inside the
// same host-side frame (see linuxGuard):
//
//  1. It takes the host-wide lock: flock -w LockWait on
//     ROOT/run/portwarden.lock, so two runs (a timer and a person) never
//     work on one host at once; a run that cannot get it in time changes
//     nothing and says "lock=busy".
//  2. It saves the state portwarden owns there (the backend's save
//     snippet) and the persisted files into a state directory unique to
//     the run, ROOT/run/portwarden/apply.XXXXXXXX (mktemp), next to a
//     restore.sh that puts all of it back.
//  3. With ConfirmTimeout > 0 it arms the revert before changing anything:
//     a detached process (setsid, outside the SSH session and the script's
//     process group) that sleeps ConfirmTimeout and then runs restore.sh,
//     unless the controller confirmed first over a new connection. The
//     process holds the lock while it waits.
//  4. It makes the live change and persists it. If persisting (or the
//     second address family of iptables) fails after the live change
//     committed, it runs restore.sh at once: the host is all-or-nothing,
//     persisted files included.
//
// The apply section says what the host is left with: "outcome=applied",
// "unchanged", "rolled-back" or "rollback-failed", and "confirm=ID" when a
// revert is armed (ParseApplyReport reads it).
type Guard struct {
	// ConfirmTimeout arms the revert when positive; zero applies without
	// commit-confirmed (--no-confirm). Whole seconds.
	ConfirmTimeout time.Duration
	// LockWait bounds the wait for the host-side lock; zero means
	// DefaultLockWait.
	LockWait time.Duration
}

// lockWait is LockWait, or DefaultLockWait when it is zero.
func (g Guard) lockWait() time.Duration {
	if g.LockWait <= 0 {
		return DefaultLockWait
	}
	return g.LockWait
}

// confirmSeconds is ConfirmTimeout in whole seconds, at least 1 when a
// confirm timeout is set (0: nothing is armed).
func (g Guard) confirmSeconds() int {
	s := int(g.ConfirmTimeout.Round(time.Second) / time.Second)
	if g.ConfirmTimeout > 0 && s < 1 {
		s = 1
	}
	return s
}

// DefaultConfirmTimeout and DefaultLockWait are the CLI's defaults.
const (
	DefaultConfirmTimeout = 60 * time.Second
	DefaultLockWait       = 10 * time.Second
)

// Outcome is what an apply script left the host with.
type Outcome string

const (
	// OutcomeApplied: the new state is live and persisted.
	OutcomeApplied Outcome = "applied"
	// OutcomeUnchanged: nothing was changed (refused, lock busy, bad input).
	OutcomeUnchanged Outcome = "unchanged"
	// OutcomeRolledBack: the change committed, a later step failed, and
	// the previous owned state was restored, persisted files included.
	OutcomeRolledBack Outcome = "rolled-back"
	// OutcomeRollbackFailed: restoring the previous state failed too; the
	// host holds rules nobody planned.
	OutcomeRollbackFailed Outcome = "rollback-failed"
)

// ApplyReport is what an apply (or confirm, or revert) script said about
// the host, from its "apply" section.
type ApplyReport struct {
	Outcome Outcome // "" when the script did not get that far
	// ConfirmID names the armed revert; "" when none is armed.
	ConfirmID string
	// LockBusy: another run held the host's lock for the whole wait.
	LockBusy bool
	// Confirm is the confirm or revert script's verdict: "confirmed",
	// "reverted", "reverting" (the host's own revert is running or ran)
	// or "unknown" (no such armed revert).
	Confirm string
}

var confirmIDRe = regexp.MustCompile(`^apply\.[A-Za-z0-9]{6,32}$`)

// ParseApplyReport reads the key=value lines of the "apply" section.
// Values it does not know are ignored, so that a host cannot make the
// controller act on a confirm id it did not issue the right way.
func ParseApplyReport(f Facts) ApplyReport {
	var r ApplyReport
	for _, sec := range []string{linuxSecApply, guardSecConfirm} {
		for line := range strings.Lines(f[sec]) {
			k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
			if !ok {
				continue
			}
			switch k {
			case "outcome":
				switch o := Outcome(v); o {
				case OutcomeApplied, OutcomeUnchanged, OutcomeRolledBack, OutcomeRollbackFailed:
					r.Outcome = o
				}
			case "confirm":
				if confirmIDRe.MatchString(v) {
					r.ConfirmID = v
				}
			case "lock":
				r.LockBusy = v == "busy"
			case "result":
				switch v {
				case "confirmed", "reverted", "reverting", "unknown":
					r.Confirm = v
				}
			}
		}
	}
	return r
}

// Confirmer is a Backend whose apply scripts arm a revert that the
// controller must confirm (commit-confirmed).
type Confirmer interface {
	// Confirm returns the script that cancels the armed revert id and
	// removes its saved state. It prints "result=confirmed" when it did,
	// "result=reverting" when the host's own revert already started.
	Confirm(id string) (Script, error)
	// RevertNow returns the script that runs the armed revert id at once
	// (over a connection still open when a new one failed) and prints the
	// facts sections of the state it leaves, for read-back.
	RevertNow(id string) (Script, error)
}

// guardSecConfirm is the section confirm and revert scripts print.
const guardSecConfirm = "confirm"

// guardDir is where state directories live (a revert that ran leaves
// its directory, with revert.log, until the next run takes the lock), under the persist root; on a
// real host a tmpfs (/run), which a reboot empties (see docs/reliability.md).
const (
	guardDir      = "/run/portwarden"
	guardLock     = "/run/portwarden.lock"
	guardRevertTg = "portwarden-revert" // $0 of the detached revert
)

// linuxGuard is what a Linux backend hands the generic frame: shell that
// saves the live state it owns into "$pw_state" (run under the lock,
// before any change), shell for restore.sh that puts that state back
// live ("$pw_state" is set; it must exit non-zero on failure), and the
// shell variables naming the files it persists. Any backend (firewalld,
// ufw) can reuse the frame by giving these three.
type linuxGuard struct {
	save    string
	restore string
	files   []string // e.g. "$pw_nftfile": saved, and put back by restore.sh
}

// linuxRestoreHead starts restore.sh: it runs on its own (from the
// detached revert or inline after a failed persist), so it sets up what
// it needs itself.
const linuxRestoreHead = `# portwarden: restore the owned state saved before an apply (POSIX sh, root).
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH
export PATH
LC_ALL=C
export LC_ALL
pw_state=$1
pw_rc=0
`

// linuxRestoreFiles puts back the persisted files: the saved copy, or no
// file where there was none.
const linuxRestoreFiles = `for pw_p in "$pw_state"/path.*; do
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
`

// render returns the shell functions of the frame. Apply bodies call
// pw_guard_begin before their change (it returns non-zero, having called
// pw_fail, when the run must not change anything), set pw_committed=1 as
// soon as any live change committed, and call pw_guard_end after
// persisting, before the read-back.
func (g linuxGuard) render(guard Guard) string {
	wait := guard.lockWait()
	confirm := guard.confirmSeconds()
	var saveFiles strings.Builder
	saveFiles.WriteString("\t:\n") // a function body must not be empty (a backend with no files of its own)
	for i, f := range g.files {
		fmt.Fprintf(&saveFiles, "\tprintf '%%s\\n' %[2]s >\"$pw_state/path.%[1]d\" || return 1\n"+
			"\tif [ -f %[2]s ]; then cp %[2]s \"$pw_state/file.%[1]d\" || return 1; fi\n", i, f)
	}
	restore := linuxRestoreHead + g.restore + linuxRestoreFiles
	return `# The frame every Linux apply runs in: lock, saved state, armed revert,
# rollback when persisting fails (firewall.Guard).
trap '' HUP PIPE
pw_committed=0
pw_state=
pw_watcher=
pw_confirm=` + strconv.Itoa(confirm) + `
pw_save_live() {
` + g.save + `}
pw_guard_begin() {
	if ! pw_has flock; then
		pw_fail "flock is not installed: portwarden cannot take the host's lock; nothing was changed"
		return 1
	fi
	if [ "$pw_confirm" -gt 0 ] && ! pw_has setsid; then
		pw_fail "setsid is not installed: portwarden cannot arm the automatic rollback (use --no-confirm); nothing was changed"
		return 1
	fi
	if ! { { [ -d "$PW_ROOT` + guardDir + `" ] || mkdir -p "$PW_ROOT` + guardDir + `"; } && exec 9>>"$PW_ROOT` + guardLock + `"; } 2>"$pw_tmp/lock.err"; then
		pw_fail "cannot open the lock file $PW_ROOT` + guardLock + `; nothing was changed: $(tr '\n' ' ' <"$pw_tmp/lock.err")"
		return 1
	fi
	if ! flock -w ` + strconv.Itoa(int(wait/time.Second)) + ` 9; then
		echo "lock=busy"
		pw_fail "another portwarden run holds the lock on this host (waited ` + strconv.Itoa(int(wait/time.Second)) + `s); nothing was changed"
		return 1
	fi
	# Under the lock no revert is pending (an armed revert holds the lock
	# until it is confirmed or has run): state directories left are stale.
	# The log of the last revert that ran is kept.
	for pw_d in "$PW_ROOT` + guardDir + `"/apply.*; do
		[ -d "$pw_d" ] || continue
		if [ -f "$pw_d/revert.log" ]; then cp "$pw_d/revert.log" "$PW_ROOT` + guardDir + `/last-revert.log"; fi
		rm -rf "$pw_d"
	done
	if ! pw_state=$(mktemp -d "$PW_ROOT` + guardDir + `/apply.XXXXXXXX"); then
		pw_state=
		pw_fail "cannot create a state directory under $PW_ROOT` + guardDir + `; nothing was changed"
		return 1
	fi
	if ! { pw_save_live && pw_save_files; } 2>"$pw_tmp/save.err"; then
		pw_fail "cannot save the current rules before changing them; nothing was changed: $(tr '\n' ' ' <"$pw_tmp/save.err")"
		return 1
	fi
	# printf is a builtin: writing restore.sh starts no process.
	if ! printf '%s' ` + linuxShellQuote(restore) + ` >"$pw_state/restore.sh"; then
		pw_fail "cannot write the rollback script; nothing was changed"
		return 1
	fi
	if [ "$pw_confirm" -gt 0 ]; then
		: >"$pw_state/armed" || return 1
		# The revert prints its own pid (setsid forks when it starts as a
		# process group leader, and then $! would name the wrong process)
		# and closes its standard output: the command substitution ends
		# there, with no polling, while the revert sleeps on, detached.
		pw_watcher=$(setsid sh -c 'echo "$$"; exec >/dev/null; sleep "$1" && mv "$2/armed" "$2/firing" 2>/dev/null && { sh "$2/restore.sh" "$2" >"$2/revert.log" 2>&1; echo "exit $?" >>"$2/revert.log"; }' ` + guardRevertTg + ` "$pw_confirm" "$pw_state" </dev/null 2>/dev/null &)
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
` + saveFiles.String() + `}
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
`
}

// linuxConfirmBody cancels the armed revert id (see Confirmer). The id
// was checked against confirmIDRe, so it needs no quoting.
func linuxConfirmBody(root, id string, revertNow bool) (string, error) {
	r, err := linuxRoot(root)
	if err != nil {
		return "", err
	}
	if !confirmIDRe.MatchString(id) {
		return "", fmt.Errorf("confirm id %q is not one portwarden issues", id)
	}
	head := linuxPrelude(r, false) + `pw_state="$PW_ROOT` + guardDir + `/` + id + `"
pw_kill_watcher() {
	IFS= read -r pw_pid <"$pw_state/pid" 2>/dev/null || return 0
	# read drops the NULs between the arguments (the revert's have no
	# newline): the shell reads the command line, no tr.
	pw_cmd=
	{ IFS= read -r pw_cmd <"/proc/$pw_pid/cmdline"; } 2>/dev/null
	case $pw_cmd in
	*` + guardRevertTg + `*) kill -TERM "-$pw_pid" 2>/dev/null || kill -TERM "$pw_pid" 2>/dev/null ;;
	esac
	return 0
}
pw_head ` + guardSecConfirm + `
`
	if !revertNow {
		// The last confirmed id stays in one file (a builtin write, never
		// more than one): a repeated confirm, whose first answer was lost
		// on the way back, is told "confirmed" again, not "unknown".
		last := `"$PW_ROOT` + guardDir + `/last-confirmed"`
		return head + `if mv "$pw_state/armed" "$pw_state/confirmed" 2>/dev/null; then
	pw_kill_watcher
	rm -rf "$pw_state"
	printf '%s\n' ` + id + ` >` + last + ` 2>/dev/null || :
	echo "result=confirmed"
elif [ -e "$pw_state/firing" ]; then
	echo "result=reverting"
else
	pw_last=
	{ IFS= read -r pw_last <` + last + `; } 2>/dev/null
	if [ "$pw_last" = ` + id + ` ]; then echo "result=confirmed"; else echo "result=unknown"; fi
fi
exit 0
`, nil
	}
	return head + `if mv "$pw_state/armed" "$pw_state/firing" 2>/dev/null; then
	if sh "$pw_state/restore.sh" "$pw_state" >"$pw_state/revert.log" 2>&1; then
		echo "result=reverted"
	else
		echo "result=unknown"
		tr '\n' ' ' <"$pw_state/revert.log" >&2
	fi
	pw_kill_watcher
elif [ -e "$pw_state/firing" ]; then
	echo "result=reverting"
else
	echo "result=unknown"
fi
` + linuxFactsSections + "exit 0\n", nil
}

// linuxConfirmer implements Confirmer for the Linux backends.
type linuxConfirmer struct{ root string }

func (c linuxConfirmer) Confirm(id string) (Script, error) {
	b, err := linuxConfirmBody(c.root, id, false)
	return Script{Shell: "sh", Body: b, Bounded: true}, err
}

func (c linuxConfirmer) RevertNow(id string) (Script, error) {
	b, err := linuxConfirmBody(c.root, id, true)
	return Script{Shell: "sh", Body: b, Bounded: true}, err
}

// linuxApplyHead begins every Linux backend's apply section: the status the
// script ends with and pw_fail, which says why in the apply section and on
// stderr and marks the apply failed.
const linuxApplyHead = `pw_status=0
pw_head apply
pw_fail() {
	echo "$1"
	echo "portwarden: $1" >&2
	pw_status=1
}
`

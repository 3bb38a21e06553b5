package transport

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/portwarden/portwarden/lab"
)

// keepShell is what ConnPool asks of the connections it keeps.
type keepShell interface{ KeepShell() }

// runRO runs a read-only script and returns its stdout, trimmed.
func runRO(t *testing.T, c Conn, body string) (string, Result) {
	t.Helper()
	res, err := c.Run(context.Background(), Script{Body: body, ReadOnly: true})
	if err != nil {
		t.Fatalf("Run %q: %v", body, err)
	}
	return strings.TrimSpace(string(res.Stdout)), res
}

// TestSSHResidentShell: after KeepShell, read-only scripts run in one
// shell that outlives them ($$ of a subshell is its shell's pid), each in
// a subshell of its own; their output, stderr and exit status are theirs
// exactly; a script that changes the host still gets its own session.
func TestSSHResidentShell(t *testing.T) {
	t.Parallel()
	l := lab.UpForTest(t, lab.Options{Linux: 1})
	c := dialSSHTest(t, labSSH(l, "lnx01"))

	// Without KeepShell every script has a shell of its own.
	a, _ := runRO(t, c, "echo $$")
	b, _ := runRO(t, c, "echo $$")
	if a == b {
		t.Fatalf("two read-only scripts without KeepShell ran in one shell (pid %s)", a)
	}

	c.(keepShell).KeepShell()
	first, _ := runRO(t, c, "echo $$")
	for i := 0; i < 3; i++ {
		if got, _ := runRO(t, c, "echo $$"); got != first {
			t.Fatalf("round %d ran in shell %s, the first in %s: no resident shell", i+2, got, first)
		}
	}
	// The shell runs sh -s (the wrapper's exec), as a read-only script.
	if got, _ := runRO(t, c, "tr '\\0' ' ' </proc/$$/cmdline"); got != "sh -s "+sshScriptTag {
		t.Errorf("the resident shell's command line is %q", got)
	}

	// Rounds are apart: a variable, a directory change or a trap of one
	// is not seen by the next, and nothing reads the next round's script.
	runRO(t, c, "pw_leak=1; cd /tmp; trap 'echo trapped' EXIT; cat; read -r x || :")
	if got, _ := runRO(t, c, "echo \"${pw_leak-unset} $(pwd)\""); got != "unset "+mustHome(t, c) {
		t.Errorf("the next round saw %q", got)
	}

	// Output exactly as printed: no trailing newline kept or added, stderr
	// apart, the exit status of the script, a body that ends with exit.
	res, err := c.Run(context.Background(), Script{Body: "printf 'a\\nb'; printf 'e1\\ne2' >&2; exit 7", ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Stdout) != "a\nb" || string(res.Stderr) != "e1\ne2" || res.ExitCode != 7 {
		t.Errorf("got stdout %q stderr %q exit %d, want %q %q 7", res.Stdout, res.Stderr, res.ExitCode, "a\nb", "e1\ne2")
	}
	big := strings.Repeat("0123456789abcdef", 1<<14) // 256 KiB, more than a channel window
	if got, _ := runRO(t, c, "i=0; while [ $i -lt 16384 ]; do printf 0123456789abcdef; i=$((i+1)); done"); got != big {
		t.Errorf("a 256 KiB output came back as %d bytes", len(got))
	}
	if got, _ := runRO(t, c, "echo $$"); got != first {
		t.Errorf("after the rounds above the shell is %s, was %s", got, first)
	}

	// A script that changes the host, or has data, runs in its own session.
	if got := strings.TrimSpace(string(runSSHTest(t, c, "echo $$", nil).Stdout)); got == first {
		t.Errorf("a changing script ran in the resident shell")
	}
	if got := strings.TrimSpace(string(runSSHTest(t, c, "read -r x; echo $$", []byte("in\n")).Stdout)); got == first {
		t.Errorf("a script with data ran in the resident shell")
	}
}

func mustHome(t *testing.T, c Conn) string {
	t.Helper()
	return strings.TrimSpace(string(runSSHTest(t, c, "pwd", nil).Stdout))
}

// TestSSHResidentShellEnds: a round that times out or is canceled kills
// the resident shell and its script, and the next round gets a new one; a
// shell killed on the host between rounds is replaced without an error;
// Close ends the shell.
func TestSSHResidentShellEnds(t *testing.T) {
	t.Parallel()
	l := lab.UpForTest(t, lab.Options{Linux: 1})
	cfg := labSSH(l, "lnx01")
	c := dialSSHTest(t, cfg)
	check := dialSSHTest(t, cfg)
	c.(keepShell).KeepShell()
	first, _ := runRO(t, c, "echo $$")

	res, err := c.Run(context.Background(), Script{Body: "echo started; sleep 34.25", ReadOnly: true, Timeout: time.Second})
	if !errors.Is(err, ErrCommandTimeout) {
		t.Fatalf("got %v, want ErrCommandTimeout", err)
	}
	if string(res.Stdout) != "started\n" {
		t.Errorf("partial stdout %q, want %q", res.Stdout, "started\n")
	}
	waitProcessesGone(t, check, `^sleep 34\.25 $`, 5*time.Second, "the timed-out script still runs")
	waitProcessesGone(t, check, `^sh -s `+sshScriptTag+` $`, 5*time.Second, "the timed-out resident shell still runs")
	second, _ := runRO(t, c, "echo $$")
	if second == first {
		t.Errorf("the shell that timed out still serves rounds")
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	if _, err := c.Run(ctx, Script{Body: "sleep 35.25", ReadOnly: true}); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled: got %v, want context.Canceled", err)
	}
	waitProcessesGone(t, check, `^sleep 35\.25 $`, 5*time.Second, "the canceled script still runs")
	third, _ := runRO(t, c, "echo $$")

	// Killed on the host between rounds: the next round still answers.
	runSSHTest(t, check, "kill -9 "+third, nil)
	waitProcessesGone(t, check, `^sh -s `+sshScriptTag+` $`, 5*time.Second, "the killed shell")
	if got, _ := runRO(t, c, "echo ok"); got != "ok" {
		t.Errorf("after the shell was killed: %q", got)
	}
	if fourth, _ := runRO(t, c, "echo $$"); fourth == third {
		t.Errorf("the killed shell still serves rounds")
	}
	// A body the shell cannot parse ends it (sh exits on a syntax error):
	// the round runs again in a session of its own, which reports it.
	res, err = c.Run(context.Background(), Script{Body: "if then", ReadOnly: true})
	if err != nil || res.ExitCode == 0 || !strings.Contains(strings.ToLower(string(res.Stderr)), "syntax error") {
		t.Errorf("a syntax error: exit %d, stderr %q, err %v", res.ExitCode, res.Stderr, err)
	}

	runRO(t, c, "true")
	// Close in the middle of a round: the round ends with an error at
	// once (its output ends with the session), not at its timeout; the
	// shell ends once its script does.
	errc := make(chan error, 1)
	go func() {
		_, err := c.Run(context.Background(), Script{Body: "sleep 36.25", ReadOnly: true, Timeout: time.Minute})
		errc <- err
	}()
	time.Sleep(300 * time.Millisecond)
	start := time.Now()
	c.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Error("a round cut by Close reported success")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a round in the resident shell outlived Close by 10s")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Close and the cut round took %s", d)
	}
	runSSHTest(t, check, "pkill -f '^sleep 36.25$' || :", nil)
	waitProcessesGone(t, check, `^sh -s `+sshScriptTag+` $`, 5*time.Second, "the resident shell after Close")
}

// Package benchlab is what the fleet benchmarks (bench/fleet,
// bench/ansible) share: a lab for one run, the floor (one SSH connection
// and one trivial command per host), and timed runs of real programs (the
// portwarden binary, ansible-playbook) with their peak memory.
package benchlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/portwarden/portwarden/lab"
)

// Main is a fleet benchmark program's main: it enters a private mount
// namespace, runs run with the arguments until it returns or the program
// is interrupted, and exits 1 with "name: error" on failure.
func Main(name string, run func(ctx context.Context, args []string, stdout io.Writer) error) {
	if err := PrivateMountNamespace(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		stop()
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}

// Binary returns the absolute path of the portwarden binary at path, or
// an error when there is none there.
func Binary(path string) (string, error) {
	exe, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(exe); err != nil {
		return "", fmt.Errorf("the portwarden binary: %w (make build)", err)
	}
	return exe, nil
}

// Prepare checks what a lab benchmark needs before it starts: the
// portwarden binary at bin (returned as an absolute path), a machine that
// can run the lab, and the parallelism: parallel, or portwarden's default
// when it is 0.
func Prepare(ctx context.Context, bin string, parallel int) (exe string, p int, err error) {
	if exe, err = Binary(bin); err != nil {
		return "", 0, err
	}
	if err := lab.Available(); err != nil {
		return "", 0, err
	}
	if parallel != 0 {
		return exe, parallel, nil
	}
	p, err = DefaultParallel(ctx, exe)
	return exe, p, err
}

// Up builds a lab of n Linux hosts (no firewall manager) in dir and says
// how long it took.
func Up(ctx context.Context, dir string, n int) (*lab.Lab, time.Duration, error) {
	start := time.Now()
	l, err := lab.Up(ctx, lab.Options{Dir: dir, Linux: n})
	return l, time.Since(start), err
}

// Down takes l down and says how long it took.
func Down(l *lab.Lab) (time.Duration, error) {
	start := time.Now()
	err := l.Down()
	return time.Since(start), err
}

// Run is one finished run of a program.
type Run struct {
	Wall time.Duration
	// MaxRSS is the program's peak resident set size in bytes: its own
	// VmHWM (see WatchPeakRSS), not wait4's ru_maxrss, which starts at
	// the benchmark process's own peak.
	MaxRSS   int64
	ExitCode int
	// CPU is the program's user and system time (its children's too).
	CPU    time.Duration
	Stdout []byte
	Stderr []byte
}

// Exec runs argv with env added to this process's environment and
// measures it. A non-zero exit is not an error (Run.ExitCode says it);
// err is for a program that could not run.
func Exec(ctx context.Context, env []string, argv ...string) (Run, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Run{}, fmt.Errorf("running %s: %w", argv[0], err)
	}
	peak := WatchPeakRSS(cmd.Process.Pid)
	err := cmd.Wait()
	r := Run{Wall: time.Since(start), Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), MaxRSS: <-peak * 1024}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return r, fmt.Errorf("running %s: %w", argv[0], err)
	}
	r.ExitCode = cmd.ProcessState.ExitCode()
	r.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok && r.MaxRSS == 0 {
		// Gone before its first sample: ru_maxrss, an upper bound.
		r.MaxRSS = ru.Maxrss * 1024
	}
	return r, nil
}

// WatchPeakRSS follows a child's VmHWM (its peak resident set, in KiB)
// until the child is gone and sends the last value seen. The child's
// rusage cannot tell: a child of a large process starts with its parent's
// high-water mark (Go forks with CLONE_VM, and exec records the old mm's
// peak). VmHWM only grows, so reading it every few milliseconds misses at
// most the last ones.
func WatchPeakRSS(pid int) <-chan int64 {
	ch := make(chan int64, 1)
	go func() {
		var peak int64
		for {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			if err != nil {
				break
			}
			_, rest, found := strings.Cut(string(b), "VmHWM:")
			if !found { // exiting: the memory is gone
				break
			}
			var kb int64
			fmt.Sscan(rest, &kb)
			peak = max(peak, kb)
			time.Sleep(2 * time.Millisecond)
		}
		ch <- peak
	}()
	return ch
}

// Tail is the end of a program's output, for errors.
func Tail(b []byte, n int) string {
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	return s
}

// Floor connects to every Linux host of l over SSH (golang.org/x/crypto/ssh,
// the lab's key, host keys checked against its known_hosts), runs "true"
// and disconnects, parallel hosts at once: the least any tool that talks
// to each host over SSH can cost. It returns the wall time and how many
// hosts failed (with the first error).
func Floor(ctx context.Context, l *lab.Lab, parallel int) (time.Duration, int, error) {
	cfg, err := SSHConfig(l)
	if err != nil {
		return 0, 0, fmt.Errorf("floor: %w", err)
	}
	return EachHost(ctx, l, parallel, func(ctx context.Context, addr string) error {
		return trueOver(ctx, cfg, addr)
	})
}

// SSHConfig is the client configuration of the floor: root with the lab's
// key, host keys checked against the lab's known_hosts.
func SSHConfig(l *lab.Lab) (*ssh.ClientConfig, error) {
	key, err := os.ReadFile(l.KeyPath())
	if err != nil {
		return nil, err
	}
	signer, err := ssh.ParsePrivateKey(key)
	if err != nil {
		return nil, err
	}
	hostKeys, err := knownhosts.New(l.KnownHostsPath())
	if err != nil {
		return nil, err
	}
	return &ssh.ClientConfig{
		User:            "root",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: hostKeys,
		Timeout:         time.Minute,
	}, nil
}

// EachHost calls fn with the SSH address of every Linux host of l,
// parallel hosts at once, and returns the wall time and how many hosts
// failed (with the first error).
func EachHost(ctx context.Context, l *lab.Lab, parallel int, fn func(ctx context.Context, addr string) error) (time.Duration, int, error) {
	if parallel < 1 {
		return 0, 0, fmt.Errorf("parallelism %d", parallel)
	}
	var hosts []lab.Host
	for _, h := range l.Hosts {
		if h.OS == lab.Linux {
			hosts = append(hosts, h)
		}
	}
	var (
		mu     sync.Mutex
		failed int
		first  error
		wg     sync.WaitGroup
	)
	sem := make(chan struct{}, parallel)
	start := time.Now()
	for _, h := range hosts {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(ctx, net.JoinHostPort(h.Address.String(), strconv.Itoa(h.Port))); err != nil {
				mu.Lock()
				failed++
				if first == nil {
					first = fmt.Errorf("%s: %w", h.Name, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return time.Since(start), failed, first
}

func trueOver(ctx context.Context, cfg *ssh.ClientConfig, addr string) error {
	return RunOver(ctx, cfg, addr, "true")
}

// RunOver logs in to addr and runs each command in a session of its own
// on that one connection.
func RunOver(ctx context.Context, cfg *ssh.ClientConfig, addr string, cmds ...string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	sc, chans, reqs, err := ssh.NewClientConn(c, addr, cfg)
	if err != nil {
		c.Close()
		return err
	}
	client := ssh.NewClient(sc, chans, reqs)
	defer client.Close()
	for _, cmd := range cmds {
		s, err := client.NewSession()
		if err != nil {
			return err
		}
		err = s.Run(cmd)
		s.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
	}
	return nil
}

// Ratio is a/b as "1.8×".
func Ratio(a, b time.Duration) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f×", float64(a)/float64(b))
}

// Seconds is d as "12.3 s".
func Seconds(d time.Duration) string { return fmt.Sprintf("%.1f s", d.Seconds()) }

// MB is n bytes as "123 MB" (10^6 bytes).
func MB(n int64) string { return fmt.Sprintf("%d MB", (n+500_000)/1_000_000) }

// mountNSEnv marks a benchmark process that runs in a mount namespace of
// its own.
const mountNSEnv = "PORTWARDEN_BENCH_MOUNTNS"

// PrivateMountNamespace re-executes this program in a mount namespace of
// its own (unshare --mount --propagation private), unless it already
// runs in one, and never returns then. A lab's network namespaces are bind
// mounts in /run/netns: those of a large lab stay in the benchmark's mount
// namespace, so other labs on the machine (whose hosts unmount everything
// under /run when they start) neither see nor pay for a thousand of them.
// The lab must be taken down by this process: when it dies, its
// namespaces' names go with it (portwarden-lab down --dir still stops the
// servers it recorded in lab.json, and with them the namespaces).
func PrivateMountNamespace() error {
	if os.Getenv(mountNSEnv) == "1" {
		return nil
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		return fmt.Errorf("running in a mount namespace of its own: %w", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("running in a mount namespace of its own: %w", err)
	}
	argv := append([]string{unshare, "--mount", "--propagation", "private", "--", exe}, os.Args[1:]...)
	env := append(os.Environ(), mountNSEnv+"=1")
	return fmt.Errorf("running in a mount namespace of its own: %w", syscall.Exec(unshare, argv, env))
}

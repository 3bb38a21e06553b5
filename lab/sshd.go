package lab

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

func sshdPath() (string, error) {
	if _, err := os.Stat("/usr/sbin/sshd"); err == nil {
		return "/usr/sbin/sshd", nil
	}
	p, err := exec.LookPath("sshd")
	if err != nil {
		return "", fmt.Errorf("the lab needs an OpenSSH server (sshd): %w", err)
	}
	return filepath.Abs(p)
}

// writeKeyPair writes an ed25519 key in OpenSSH format to path (0600) and
// its public half to path.pub, and returns the public key.
func writeKeyPair(path, comment string) (ssh.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating key %s: %w", path, err)
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, fmt.Errorf("encoding key %s: %w", path, err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, fmt.Errorf("writing key: %w", err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encoding key %s: %w", path, err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sshPub))) + " " + comment + "\n"
	if err := os.WriteFile(path+".pub", []byte(line), 0o644); err != nil {
		return nil, fmt.Errorf("writing key: %w", err)
	}
	return sshPub, nil
}

func (l *Lab) sshdConfigPath(h Host) string { return filepath.Join(h.Dir, "sshd_config") }

// writeSSHD writes the host's sshd_config and host key and returns the
// public host key.
func (l *Lab) writeSSHD(h Host) (ssh.PublicKey, error) {
	key := filepath.Join(h.Dir, "ssh_host_ed25519_key")
	pub, err := writeKeyPair(key, "root@"+h.Name)
	if err != nil {
		return nil, err
	}
	pw := "no"
	if l.PasswordAuth {
		pw = "yes"
	}
	// Everything that sshd would otherwise take from /etc/ssh is set here,
	// and every file it writes is under the host's directory.
	cfg := fmt.Sprintf(`# portwarden lab host %s (namespace %s)
Port %d
ListenAddress %s
%sAddressFamily any
HostKey %s
PidFile %s
AuthorizedKeysFile %s
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication %s
KbdInteractiveAuthentication no
PermitEmptyPasswords no
UsePAM no
StrictModes no
AllowTcpForwarding yes
AllowAgentForwarding no
X11Forwarding no
PermitTunnel no
PrintMotd no
PrintLastLog no
UseDNS no
MaxStartups 100:30:200
MaxSessions 64
ClientAliveInterval 0
LogLevel VERBOSE
Subsystem sftp internal-sftp
`, h.Name, h.Namespace, h.Port, h.Address, listen6(h), key, filepath.Join(h.Dir, "sshd.pid"), l.AuthorizedKeysPath(), pw)
	if err := os.WriteFile(l.sshdConfigPath(h), []byte(cfg), 0o644); err != nil {
		return nil, fmt.Errorf("writing sshd_config of %s: %w", h.Name, err)
	}
	return pub, nil
}

// startProcess starts argv inside the host's namespaces, in its own
// session so that it outlives a portwarden-lab process, and records it.
func (l *Lab) startProcess(h Host, logPath string, argv ...string) (int, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, fmt.Errorf("starting server of %s: %w", h.Name, err)
	}
	defer logf.Close()
	// nsenter and "ip netns exec" exec the command in place, so the PID is
	// the server's.
	a := l.hostArgv(h, argv...)
	cmd := exec.Command(a[0], a[1:]...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("starting server of %s: %w", h.Name, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	l.mu.Lock()
	if l.procs == nil {
		l.procs = map[int]*proc{}
	}
	l.procs[cmd.Process.Pid] = p
	l.mu.Unlock()
	return cmd.Process.Pid, nil
}

func (l *Lab) startSSHD(h Host) (int, error) {
	sshd, err := sshdPath()
	if err != nil {
		return 0, err
	}
	// The host's mount namespace has its own /run (where sshd's privilege
	// separation directory /run/sshd is) and root's home
	// DIR/hosts/NAME/home on /root, so that sessions neither read the
	// controller's /root/.bashrc nor write into /root.
	return l.startProcess(h, filepath.Join(h.Dir, "sshd.out"),
		sshd, "-D", "-f", l.sshdConfigPath(h), "-E", filepath.Join(h.Dir, "sshd.log"))
}

// waitListening waits until addr accepts TCP connections, the process
// exits, or the timeout passes.
func (l *Lab) waitListening(ctx context.Context, h Host, timeout time.Duration) error {
	addr := net.JoinHostPort(h.Address.String(), fmt.Sprint(h.Port))
	deadline := time.Now().Add(timeout)
	var d net.Dialer
	for {
		// Generous: on a loaded machine a connected socket may wait for
		// this process to be scheduled.
		dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		c, err := d.DialContext(dctx, "tcp", addr)
		cancel()
		if err == nil {
			c.Close()
			return nil
		}
		if l.exited(h.PID) {
			return fmt.Errorf("server of %s exited at start: %s", h.Name, l.logTail(h))
		}
		if ctx.Err() != nil {
			return fmt.Errorf("waiting for %s on %s: %w", h.Name, addr, ctx.Err())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting for %s on %s: %w; %s", h.Name, addr, err, l.logTail(h))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (l *Lab) exited(pid int) bool {
	l.mu.Lock()
	p := l.procs[pid]
	l.mu.Unlock()
	if p != nil {
		select {
		case <-p.done:
			return true
		default:
			return false
		}
	}
	return !processAlive(pid)
}

// logTail returns the end of a host's server logs, for errors.
func (l *Lab) logTail(h Host) string {
	var parts []string
	for _, name := range []string{"sshd.log", "sshd.out", "serve.log"} {
		b, err := os.ReadFile(filepath.Join(h.Dir, name))
		if err != nil || len(b) == 0 {
			continue
		}
		if len(b) > 600 {
			b = b[len(b)-600:]
		}
		parts = append(parts, name+": "+strings.TrimSpace(string(b)))
	}
	if len(parts) == 0 {
		return "no log output"
	}
	return strings.Join(parts, "; ")
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return true
	}
	return s[i+2] != 'Z' && s[i+2] != 'X'
}

// processCmdline returns the NUL-separated argv of pid, joined by spaces.
func processCmdline(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return "", err
	}
	return strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " "), nil
}

// listen6 is the sshd_config line that makes a host listen on its IPv6
// address too, or "" for a lab without IPv6.
func listen6(h Host) string {
	if !h.Address6.IsValid() {
		return ""
	}
	return "ListenAddress " + h.Address6.String() + "\n"
}

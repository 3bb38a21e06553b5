package transport

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portwarden/portwarden/lab"
	"github.com/portwarden/portwarden/lab/wsman"
)

func TestReadSSHBanner(t *testing.T) {
	long := strings.Repeat("x", 300)
	for _, tc := range []struct {
		name, in, want string
		wantErr        string // "" for no error
		notSSH         bool
	}{
		{name: "OpenSSH", in: "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n", want: "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"},
		{name: "bare LF", in: "SSH-2.0-x\n", want: "SSH-2.0-x"},
		{name: "the KEXINIT that follows is not read", in: "SSH-2.0-x\r\n\x00\x00\x01\x2c\x0a\x14", want: "SSH-2.0-x"},
		{name: "compatible 1.99", in: "SSH-1.99-old\r\n", want: "SSH-1.99-old"},
		{name: "lines before it (RFC 4253 4.2)", in: "Welcome to host\r\nauthorized use only\r\n\r\nSSH-2.0-y\r\n", want: "SSH-2.0-y"},
		{name: "SSH 1 only", in: "SSH-1.5-old\r\n", wantErr: "protocol", notSSH: true},
		{name: "identification too long", in: "SSH-2.0-" + long + "\r\n", wantErr: "longer than 255", notSSH: true},
		{name: "a pre-banner line too long", in: strings.Repeat("y", 2000) + "\r\nSSH-2.0-x\r\n", wantErr: "longer than 1024", notSSH: true},
		{name: "pre-banner lines without end", in: strings.Repeat(strings.Repeat("z", 100)+"\r\n", 200), wantErr: "first 8192 bytes", notSSH: true},
		{name: "an HTTP server", in: "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", wantErr: "unexpected EOF"},
		{name: "closed before the banner", in: "", wantErr: "unexpected EOF"},
		{name: "cut in the identification", in: "SSH-2.0-Open", wantErr: "unexpected EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readSSHBanner(strings.NewReader(tc.in))
			if tc.wantErr == "" {
				if err != nil || got != tc.want {
					t.Fatalf("got %q, %v; want %q", got, err, tc.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %q, %v; want an error with %q", got, err, tc.wantErr)
			}
			var ns *notSSHError
			if errors.As(err, &ns) != tc.notSSH {
				t.Errorf("%v: a notSSHError %v, want %v", err, !tc.notSSH, tc.notSSH)
			}
			// A wrong answer is an answer: not retried. A cut one may be
			// sshd dropping us past MaxStartups: retried.
			if transientDialError(err) == tc.notSSH {
				t.Errorf("%v: transient %v", err, !tc.notSSH)
			}
		})
	}
}

// serveOnce answers every connection on a loopback listener with greet
// (nil: says nothing) and keeps it open until the client hangs up;
// it returns the port and what each client said.
func serveOnce(t *testing.T, greet []byte) (int, <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	said := make(chan string, 16)
	serveConns(t, ln, func(c net.Conn) {
		if greet != nil {
			c.Write(greet)
		}
		b, _ := io.ReadAll(io.LimitReader(c, 4096))
		said <- string(b)
	})
	return ln.Addr().(*net.TCPAddr).Port, said
}

// serveConns runs serve for every connection ln accepts, each in its own
// goroutine, and closes it after; ln is closed when the test ends.
func serveConns(t *testing.T, ln net.Listener, serve func(net.Conn)) {
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c)
			}()
		}
	}()
}

func TestReachSSHLoopback(t *testing.T) {
	port, said := serveOnce(t, []byte("SSH-2.0-test\r\n"))
	cfg := SSHConfig{Address: "127.0.0.1", Port: port, ConnectTimeout: 2 * time.Second}
	if err := ReachSSH(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if got := <-said; got != reachIdent {
		t.Errorf("the check said %q, want its identification and nothing else", got)
	}

	port, _ = serveOnce(t, nil) // accepts and says nothing
	cfg.Port, cfg.ConnectTimeout = port, 300*time.Millisecond
	start := time.Now()
	err := ReachSSH(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "timed out after 300ms") {
		t.Errorf("silent server: %v, want a timeout", err)
	}
	// Two attempts of 300 ms (a timed-out dial is tried once more) and a
	// backoff; well under the ten seconds of a hang.
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the check took %s", d)
	}

	port, _ = serveOnce(t, []byte("220 smtp.example ESMTP\r\nSSH-1.5-x\r\n"))
	cfg.Port = port
	if err := ReachSSH(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "not an SSH 2 server") {
		t.Errorf("SSH 1 server: %v", err)
	}

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	cfg.Port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	if err := ReachSSH(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("closed port: %v", err)
	}
}

// TestReachWinRM: the simulated WS-Management listener (lab/wsman)
// answers the unauthenticated request with 401 and its schemes, over
// HTTP and over HTTPS with the login's certificate rules (CA, server
// name, pin); no shell is opened and no credentials are sent.
func TestReachWinRM(t *testing.T) {
	pki := newWinPKIFor(t, nil, []string{"win01.corp.example"})
	h := startWinHost(t, wsman.Config{}, pki)
	cfg := h.config()
	cfg.TLSServerName = "win01.corp.example"
	if err := ReachWinRM(context.Background(), cfg); err != nil {
		t.Fatalf("by CA and name: %v", err)
	}
	cfg.TLSServerName = ""
	if err := ReachWinRM(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("certificate without the IP: %v, want a name mismatch", err)
	}
	b, _ := os.ReadFile(pki.cert)
	block, _ := pem.Decode(b)
	sum := sha256.Sum256(block.Bytes)
	cfg.CACertPath, cfg.CertSHA256 = "", hex.EncodeToString(sum[:])
	if err := ReachWinRM(context.Background(), cfg); err != nil {
		t.Errorf("pinned: %v", err)
	}
	other := sha256.Sum256([]byte("another certificate"))
	cfg.CertSHA256 = hex.EncodeToString(other[:])
	var pe *CertPinError
	if err := ReachWinRM(context.Background(), cfg); !errors.As(err, &pe) {
		t.Errorf("wrong pin: %v, want a CertPinError", err)
	}
	st := h.srv.Stats()
	if st.ShellsCreated != 0 || st.AuthFailures != 0 {
		t.Errorf("the check opened %d shells and failed %d logins, want none", st.ShellsCreated, st.AuthFailures)
	}
	if st.Requests != 2 {
		t.Errorf("%d requests reached the listener, want one per check that got through TLS (2)", st.Requests)
	}

	plain := startWinHost(t, wsman.Config{}, nil)
	pcfg := plain.config()
	if err := ReachWinRM(context.Background(), pcfg); err != nil {
		t.Errorf("HTTP: %v", err)
	}
	// An HTTPS client against the HTTP listener does not get in.
	pcfg.HTTPS, pcfg.CACertPath = true, pki.ca
	if err := ReachWinRM(context.Background(), pcfg); err == nil {
		t.Error("TLS to a plain HTTP listener got in")
	}
}

// TestReachWinRMNotWSMan: an HTTP server that is not a WS-Management
// listener (200 to anyone, or 401 without schemes) is not taken for one.
func TestReachWinRMNotWSMan(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer func(w http.ResponseWriter)
		want   string
	}{
		{"200", func(w http.ResponseWriter) { w.WriteHeader(http.StatusOK) }, "HTTP 200"},
		{"401 without schemes", func(w http.ResponseWriter) { w.WriteHeader(http.StatusUnauthorized) }, "without WWW-Authenticate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { tc.answer(w) })}
			go srv.Serve(ln)
			t.Cleanup(func() { srv.Close() })
			cfg := WinRMConfig{Address: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, User: "u", Password: "p",
				AllowUnencrypted: true, ConnectTimeout: 2 * time.Second}
			if err := ReachWinRM(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestReachSSHLab: against real sshd, directly and through a bastion of
// the pool: the check gets the greeting without a login, and fails when
// the host drops new connections to 22 from the one who connects.
func TestReachSSHLab(t *testing.T) {
	t.Parallel()
	l := lab.UpForTest(t, lab.Options{Linux: 2})
	bastion, target := l.Hosts[0], l.Hosts[1]
	logins := func(h lab.Host) int {
		b, _ := os.ReadFile(filepath.Join(h.Dir, "sshd.log"))
		return strings.Count(string(b), "Accepted publickey")
	}
	// Connection tracking starts before the held connections are made
	// (a flow it picks up mid-stream is new to it, as after a reboot of
	// the tracker): established traffic passes, new connections to 22
	// from one source are dropped while drop is in force.
	nftOK := func(stdin string, argv ...string) {
		t.Helper()
		if _, err := l.Exec(context.Background(), target.Name, []byte(stdin), argv...); err != nil {
			t.Fatal(err)
		}
	}
	const track = "  ct state established,related accept\n"
	nftOK("table inet reach {\n chain in {\n  type filter hook input priority 0; policy accept;\n"+track+" }\n}\n", "nft", "-f", "-")
	drop := func(from string) {
		t.Helper()
		nftOK("", "nft", "add", "rule", "inet", "reach", "in", "ip", "saddr", from, "tcp", "dport", "22", "drop")
	}
	undrop := func() {
		t.Helper()
		nftOK("flush chain inet reach in\nadd rule inet reach in ct state established,related accept\n", "nft", "-f", "-")
	}

	direct := labSSH(l, target.Name)
	held := dialSSHTest(t, direct) // the apply's connection
	before := logins(target)
	if err := ReachSSH(context.Background(), direct); err != nil {
		t.Fatalf("direct: %v", err)
	}
	drop(l.Controller.String())
	direct.ConnectTimeout = 500 * time.Millisecond
	if err := ReachSSH(context.Background(), direct); err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("new connections dropped: %v, want a timeout", err)
	}
	// Established traffic still flows: the confirm goes that way.
	if res := runSSHTest(t, held, "echo held", nil); string(res.Stdout) != "held\n" {
		t.Errorf("held connection: %q", res.Stdout)
	}
	undrop()
	if n := logins(target); n != before {
		t.Errorf("the checks made %d logins on the target", n-before)
	}

	jump := labSSH(l, bastion.Name)
	pool := &BastionPool{}
	cfg := labSSH(l, target.Name)
	cfg.ProxyJump, cfg.Bastions = &jump, pool
	held = dialSSHTest(t, cfg)
	bastionBefore, before := logins(bastion), logins(target)
	if err := ReachSSH(context.Background(), cfg); err != nil {
		t.Fatalf("through the bastion: %v", err)
	}
	drop(bastion.Address.String())
	cfg.ConnectTimeout = 500 * time.Millisecond
	if err := ReachSSH(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Errorf("the target drops the bastion's new connections: %v, want a timeout", err)
	}
	undrop()
	if res := runSSHTest(t, held, "echo held", nil); string(res.Stdout) != "held\n" {
		t.Errorf("held connection: %q", res.Stdout)
	}
	if b, h := logins(bastion)-bastionBefore, logins(target)-before; b != 0 || h != 0 {
		t.Errorf("the checks through the pool's bastion made %d bastion and %d target logins, want none", b, h)
	}
}

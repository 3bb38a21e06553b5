package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/masterzen/winrm"

	"github.com/portwarden/portwarden/firewall"
	"github.com/portwarden/portwarden/internal/testca"
	"github.com/portwarden/portwarden/lab"
	"github.com/portwarden/portwarden/lab/winfw"
	"github.com/portwarden/portwarden/lab/wsman"
	"github.com/portwarden/portwarden/rule"
)

const (
	winUser     = "Administrator"
	winPassword = "Secr3t-Pa55w0rd"
)

// winPKI is a CA with a certificate for 127.0.0.1 and a second CA that
// signed nothing the server uses.
type winPKI struct {
	ca, otherCA string // PEM files
	cert, key   string
}

func newWinPKI(t *testing.T) *winPKI {
	t.Helper()
	return newWinPKIFor(t, []net.IP{net.IPv4(127, 0, 0, 1)}, []string{"winhost"})
}

// newWinPKIFor is newWinPKI with a host certificate for these names.
func newWinPKIFor(t *testing.T, ips []net.IP, names []string) *winPKI {
	t.Helper()
	dir := t.TempDir()
	writePEM := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ca, caKey, caPEM := testca.New(t, "portwarden test CA")
	_, _, otherPEM := testca.New(t, "another CA")
	certPEM, keyPEM := testca.Server(t, ca, caKey, "winhost", ips, names)
	return &winPKI{
		ca: writePEM("ca.pem", caPEM), otherCA: writePEM("other-ca.pem", otherPEM),
		cert: writePEM("cert.pem", certPEM), key: writePEM("key.pem", keyPEM),
	}
}

type winHost struct {
	srv  *wsman.Server
	port int
	pki  *winPKI
	fw   *winfw.Firewall
	dir  string
}

// startWinHost serves a simulated Windows host on 127.0.0.1: WinRM over
// HTTPS (or HTTP without pki) with Basic and NTLM, CLIXML on stderr, and
// the firewall model as powershell.exe unless cfg has an interpreter.
func startWinHost(t *testing.T, cfg wsman.Config, pki *winPKI) *winHost {
	t.Helper()
	lab.SkipShort(t, "a simulated WinRM server on loopback")
	h := &winHost{pki: pki, dir: t.TempDir()}
	if cfg.Users == nil {
		cfg.Users = map[string]string{winUser: winPassword}
	}
	if !cfg.AllowBasic && !cfg.AllowNTLM {
		cfg.AllowBasic, cfg.AllowNTLM = true, true
	}
	cfg.EmitCLIXML = true
	if cfg.Interpreter == nil {
		fw, err := winfw.New(winfw.Options{StateDir: h.dir, ManagementPort: 5986})
		if err != nil {
			t.Fatal(err)
		}
		h.fw, cfg.Interpreter = fw, fw
	}
	cfg.Logf = t.Logf
	if pki != nil {
		cfg.TLSCertFile, cfg.TLSKeyFile = pki.cert, pki.key
	}
	h.srv, h.port = wsman.ServeForTest(t, cfg)
	return h
}

func (h *winHost) config() WinRMConfig {
	cfg := WinRMConfig{Address: "127.0.0.1", Port: h.port, User: winUser, Password: winPassword,
		HTTPS: h.pki != nil, ConnectTimeout: 5 * time.Second, CommandTimeout: 20 * time.Second}
	if h.pki != nil {
		cfg.CACertPath = h.pki.ca
	} else {
		cfg.AllowUnencrypted = true
	}
	return cfg
}

func dial(t *testing.T, cfg WinRMConfig) Conn {
	t.Helper()
	c, err := DialWinRM(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func runPS(t *testing.T, c Conn, body string) Result {
	t.Helper()
	res, err := c.Run(context.Background(), Script{Shell: "powershell", Body: body})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestWinRMAuthSchemes(t *testing.T) {
	pki := newWinPKI(t)
	for _, auth := range []string{"ntlm", "basic", ""} {
		t.Run("auth="+auth, func(t *testing.T) {
			h := startWinHost(t, wsman.Config{}, pki)
			cfg := h.config()
			cfg.Auth = auth
			c := dial(t, cfg)
			res := runPS(t, c, firewall.WindowsFactsScript.Body)
			if res.ExitCode != 0 || len(res.Stderr) != 0 {
				t.Fatalf("exit %d, stderr %q", res.ExitCode, res.Stderr)
			}
			if strings.Contains(string(res.Stdout), WinRMEndMarker) {
				t.Error("the end marker was left in stdout")
			}
			st, err := firewall.Windows{}.State(firewall.ParseFacts(string(res.Stdout)))
			if err != nil || st.Installed {
				t.Errorf("State: %+v, %v", st, err)
			}
			if got := c.LocalAddr(); got != netip.MustParseAddr("127.0.0.1") {
				t.Errorf("LocalAddr = %s", got)
			}
			// Several runs share one shell, which Close deletes.
			runPS(t, c, "'again'")
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			if s := h.srv.Stats(); s.ShellsCreated != 1 || s.OpenShells != 0 {
				t.Errorf("shells created %d, open %d", s.ShellsCreated, s.OpenShells)
			}
			if _, err := c.Run(context.Background(), Script{Shell: "powershell", Body: "'x'"}); err == nil {
				t.Error("Run after Close succeeded")
			}
		})
	}
}

func TestWinRMAuthFailures(t *testing.T) {
	pki := newWinPKI(t)
	tests := []struct {
		name   string
		server wsman.Config
		change func(*WinRMConfig)
		want   string
	}{
		{"wrong password ntlm", wsman.Config{}, func(c *WinRMConfig) { c.Password = "wrong-" + winPassword }, "authentication failed"},
		{"wrong password basic", wsman.Config{}, func(c *WinRMConfig) { c.Password = "wrong-" + winPassword; c.Auth = "basic" }, "authentication failed"},
		{"unknown user", wsman.Config{}, func(c *WinRMConfig) { c.User = "nobody" }, "authentication failed"},
		{"basic not enabled", wsman.Config{AllowNTLM: true}, func(c *WinRMConfig) { c.Auth = "basic" }, "authentication failed"},
		{"host offers only basic", wsman.Config{AllowBasic: true}, func(c *WinRMConfig) {}, "offers only Basic"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := startWinHost(t, tt.server, pki)
			cfg := h.config()
			tt.change(&cfg)
			_, err := DialWinRM(context.Background(), cfg)
			var ae *AuthError
			if !errors.As(err, &ae) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want an *AuthError with %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), cfg.User) || !strings.Contains(err.Error(), "127.0.0.1") {
				t.Errorf("error does not name the user and host: %v", err)
			}
			if strings.Contains(err.Error(), cfg.Password) || strings.Contains(err.Error(), winPassword) {
				t.Errorf("error contains the password: %v", err)
			}
			if s := h.srv.Stats(); s.OpenShells != 0 {
				t.Errorf("%d shells open", s.OpenShells)
			}
		})
	}
}

func TestWinRMTLS(t *testing.T) {
	pki := newWinPKI(t)
	h := startWinHost(t, wsman.Config{}, pki)

	cfg := h.config()
	cfg.CACertPath = pki.otherCA
	_, err := DialWinRM(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "verifying the host's TLS certificate") {
		t.Errorf("unknown CA: err = %v", err)
	}

	cfg = h.config()
	cfg.CACertPath = ""
	if _, err := DialWinRM(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "TLS certificate") {
		t.Errorf("system roots: err = %v", err)
	}

	cfg.Insecure = true
	c := dial(t, cfg)
	if res := runPS(t, c, "'insecure'"); strings.TrimSpace(string(res.Stdout)) != "insecure" {
		t.Errorf("stdout %q", res.Stdout)
	}

	// Plain HTTP is refused unless asked for; an HTTPS client on an HTTP
	// listener says so.
	plain := startWinHost(t, wsman.Config{AllowUnencrypted: true}, nil)
	cfg = plain.config()
	cfg.AllowUnencrypted = false
	if _, err := DialWinRM(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "does not speak TLS") {
		t.Errorf("https to an http listener: err = %v", err)
	}
	c = dial(t, plain.config())
	if res := runPS(t, c, "'plain'"); strings.TrimSpace(string(res.Stdout)) != "plain" {
		t.Errorf("stdout %q", res.Stdout)
	}
	// A host that does not allow unencrypted traffic answers 401.
	strict := startWinHost(t, wsman.Config{}, nil)
	if _, err := DialWinRM(context.Background(), strict.config()); err == nil || !strings.Contains(err.Error(), "unencrypted") {
		t.Errorf("http to a host without AllowUnencrypted: err = %v", err)
	}
}

func TestWinRMConfigErrors(t *testing.T) {
	base := WinRMConfig{Address: "127.0.0.1", User: "u", Password: "p"}
	tests := []struct {
		name   string
		change func(*WinRMConfig)
		want   string
	}{
		{"no address", func(c *WinRMConfig) { c.Address = "" }, "no host address"},
		{"url", func(c *WinRMConfig) { c.Address = "https://host:5986/wsman" }, "without scheme"},
		{"port in address", func(c *WinRMConfig) { c.Address = "host:5986" }, "port"},
		{"bad auth", func(c *WinRMConfig) { c.Auth = "credssp" }, "unknown authentication"},
		{"kerberos without realm", func(c *WinRMConfig) { c.Auth = "kerberos" }, "no Kerberos realm"},
		{"kerberos to an IP without spn", func(c *WinRMConfig) { c.Auth, c.Realm = "kerberos", "CORP.EXAMPLE" }, "set spn"},
		{"kerberos with a missing krb5.conf", func(c *WinRMConfig) {
			c.Auth, c.Realm, c.SPN, c.Krb5ConfigPath = "kerberos", "CORP.EXAMPLE", "HTTP/w.corp.example", "/nonexistent/krb5.conf"
		}, "reading the Kerberos configuration /nonexistent/krb5.conf"},
		{"no password", func(c *WinRMConfig) { c.Password = "" }, "no password"},
		{"bad port", func(c *WinRMConfig) { c.Port = 70000 }, "bad port"},
		{"missing CA file", func(c *WinRMConfig) { c.CACertPath = "/nonexistent/ca.pem" }, "reading the CA certificates"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.change(&cfg)
			_, err := DialWinRM(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	got, err := winrmDefaults(base)
	if err != nil || !got.HTTPS || got.Port != 5986 || got.Auth != "ntlm" {
		t.Errorf("defaults: %+v, %v", got, err)
	}
	base.AllowUnencrypted = true
	if got, _ := winrmDefaults(base); got.HTTPS || got.Port != 5985 {
		t.Errorf("AllowUnencrypted without HTTPS: %+v", got)
	}
	// Basic over plain HTTP sends the password in clear: refused unless
	// the inventory names that risk.
	base.Auth = "basic"
	if _, err := winrmDefaults(base); err == nil || !strings.Contains(err.Error(), "refusing Basic authentication over plain HTTP") || !strings.Contains(err.Error(), "allow_basic_over_http_cleartext_password") {
		t.Errorf("Basic over HTTP: err = %v", err)
	}
	base.AllowBasicOverHTTPCleartextPassword = true
	if _, err := winrmDefaults(base); err != nil {
		t.Errorf("Basic over HTTP with the risk accepted: %v", err)
	}
	base.AllowUnencrypted, base.AllowBasicOverHTTPCleartextPassword = false, false
	if _, err := winrmDefaults(base); err != nil {
		t.Errorf("Basic over HTTPS: %v", err)
	}
}

func TestWinRMOutputCap(t *testing.T) {
	big := strings.Repeat("x", 1<<20) + "\r\n"
	h := startWinHost(t, wsman.Config{Interpreter: wsman.InterpreterFunc(func(ctx context.Context, script string) (string, string, int) {
		if strings.Contains(script, "small") {
			return "small\r\n### portwarden:end\r\n", "", 0
		}
		return strings.Repeat(big, 17), "", 0
	})}, newWinPKI(t))
	c := dial(t, h.config())
	_, err := c.Run(context.Background(), Script{Shell: "powershell", Body: "anything"})
	if !errors.Is(err, ErrOutputTooLarge) || !strings.Contains(err.Error(), fmt.Sprintf("winrm to 127.0.0.1:%d", h.port)) || !strings.Contains(err.Error(), "(16 MiB)") {
		t.Fatalf("err = %v, want ErrOutputTooLarge naming the host and the cap", err)
	}
	// The connection is still usable for the next script.
	if res := runPS(t, c, "small"); !strings.Contains(string(res.Stdout), "small") {
		t.Errorf("after the capped run: %q", res.Stdout)
	}
}

func TestWinRMStagesLongScripts(t *testing.T) {
	pki := newWinPKI(t)
	h := startWinHost(t, wsman.Config{}, pki)
	c := dial(t, h.config())

	// A comment makes the script far longer than a command line.
	body := "$x='stage'\n# " + strings.Repeat("padding ", 2500) + "\n$x+'d, ünïcödé ✓'\n"
	if len(encodeCommand(body)) <= MaxWinRMCommandLine {
		t.Fatal("the test script is not long enough")
	}
	before := h.srv.Stats().CommandsStarted
	res := runPS(t, c, body)
	if got := strings.TrimSpace(string(res.Stdout)); got != "staged, ünïcödé ✓" || res.ExitCode != 0 {
		t.Fatalf("exit %d, stdout %q, stderr %q", res.ExitCode, got, res.Stderr)
	}
	if n := h.srv.Stats().CommandsStarted - before; n < 3 {
		t.Errorf("%d commands for a staged script", n)
	}
	if left, _ := os.ReadDir(filepath.Join(h.dir, "temp")); len(left) != 0 {
		t.Errorf("staging files left behind: %v", left)
	}

	// A real apply script with many sources round-trips through staging.
	var many []netip.Prefix
	for i := range 400 { // odd addresses only: no two aggregate into one prefix
		many = append(many, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 20, byte(i / 125), byte(i%125*2 + 1)}), 32))
	}
	d := firewall.Desired{Mode: rule.Enforce, ManagementPort: 5986, ManagementSources: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		Rules: []rule.Rule{{Protocol: "tcp", Ports: []rule.PortRange{{Lo: 2500, Hi: 3300}}, Sources: many}}}
	s, err := firewall.Windows{}.Apply(nil, d)
	if err != nil {
		t.Fatal(err)
	}
	res = runPS(t, c, s.Body)
	st, err := firewall.Windows{}.State(firewall.ParseFacts(string(res.Stdout)))
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("exit %d, State error %v, stderr %s", res.ExitCode, err, res.Stderr)
	}
	if st.Mode != rule.Enforce || len(st.Rules) != 1 || len(st.Rules[0].Sources) != 400 {
		t.Errorf("state after staged apply: mode %s, %d rules", st.Mode, len(st.Rules))
	}
}

func TestWinRMCommandLines(t *testing.T) {
	for _, n := range []int{0, 100, 3000, 3100, 9000, 50000} {
		for _, filler := range []string{"a", "ü", "😀"} {
			script := strings.Repeat(filler, n)
			lines, file, err := winrmCommandLines(script)
			if err != nil {
				t.Fatal(err)
			}
			for i, l := range lines {
				if u := len(utf16.Encode([]rune(l))); u > MaxWinRMCommandLine {
					t.Errorf("n=%d %q: line %d has %d characters", n, filler, i, u)
				}
			}
			if (len(lines) > 1) != (file != "") {
				t.Errorf("n=%d: %d lines, file %q", n, len(lines), file)
			}
		}
	}
}

func TestWinRMCLIXML(t *testing.T) {
	pki := newWinPKI(t)
	h := startWinHost(t, wsman.Config{}, pki)
	c := dial(t, h.config())
	res := runPS(t, c, "'before'\nthrow 'it broke & <failed>'")
	if res.ExitCode != 1 {
		t.Errorf("exit %d", res.ExitCode)
	}
	stderr := string(res.Stderr)
	if strings.Contains(stderr, "CLIXML") || strings.Contains(stderr, "Preparing modules") || strings.Contains(stderr, "_x000D_") {
		t.Errorf("stderr still has CLIXML:\n%s", stderr)
	}
	// Line 1 is $PortwardenShellId, line 2 'before'.
	if !strings.Contains(stderr, "it broke & <failed>\r\nAt line:3 char:1") {
		t.Errorf("stderr lacks the error text:\n%s", stderr)
	}

	tests := []struct{ in, want string }{
		{"plain text\r\n", "plain text\r\n"},
		{"#< CLIXML\r\n<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\"><Obj S=\"progress\" RefId=\"0\"><TN RefId=\"0\"><T>System.Management.Automation.PSCustomObject</T></TN><MS><I64 N=\"SourceId\">1</I64><PR N=\"Record\"><AV>Preparing modules for first use.</AV></PR></MS></Obj></Objs>", ""},
		{"#< CLIXML\r\n<Objs Version=\"1.1.0.1\" xmlns=\"http://schemas.microsoft.com/powershell/2004/04\"><S S=\"Error\">bad_x000D__x000A_</S><S S=\"Error\">thing_x005F_x_x000D__x000A_</S><S S=\"Warning\">careful_x000D__x000A_</S><S S=\"Error\">_xD83D__xDE00_</S></Objs>", "bad\r\nthing_x\r\nWARNING: careful\r\n😀"},
		{"#< CLIXML\r\n<Objs><S S=\"Error\">unterminated", "#< CLIXML\r\n<Objs><S S=\"Error\">unterminated"},
	}
	for _, tt := range tests {
		if got := string(cleanCLIXML([]byte(tt.in))); got != tt.want {
			t.Errorf("cleanCLIXML(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestWinRMStdin(t *testing.T) {
	pki := newWinPKI(t)
	h := startWinHost(t, wsman.Config{}, pki)
	c := dial(t, h.config())
	res, err := c.Run(context.Background(), Script{Shell: "powershell", Body: "[Text.Encoding]::UTF8.GetString($PortwardenStdin)", Stdin: []byte("data ✓")})
	if err != nil || strings.TrimSpace(string(res.Stdout)) != "data ✓" {
		t.Errorf("stdout %q, err %v", res.Stdout, err)
	}
	if _, err := c.Run(context.Background(), Script{Shell: "sh", Body: "echo"}); err == nil {
		t.Error("an sh script ran over WinRM")
	}
}

// blockingInterpreter runs until its context ends.
func blockingInterpreter(started chan<- struct{}) wsman.InterpreterFunc {
	return func(ctx context.Context, script string) (string, string, int) {
		if strings.Contains(script, "block") {
			started <- struct{}{}
			<-ctx.Done()
			return "", "interrupted\r\n", 1
		}
		return "ok\r\n" + WinRMEndMarker + "\r\n", "", 0
	}
}

func TestWinRMCommandTimeoutAndCancel(t *testing.T) {
	pki := newWinPKI(t)
	started := make(chan struct{}, 4)
	h := startWinHost(t, wsman.Config{Interpreter: blockingInterpreter(started)}, pki)
	cfg := h.config()
	cfg.CommandTimeout = 1 * time.Second
	c := dial(t, cfg)

	t0 := time.Now()
	_, err := c.Run(context.Background(), Script{Shell: "powershell", Body: "block"})
	if !errors.Is(err, ErrCommandTimeout) || !strings.Contains(err.Error(), "127.0.0.1") {
		t.Errorf("err = %v, want ErrCommandTimeout", err)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("Run took %s", d)
	}
	<-started

	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	_, err = c.Run(ctx, Script{Shell: "powershell", Body: "block"})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	// The commands were terminated on the host, and the shell still
	// works.
	deadline := time.Now().Add(3 * time.Second)
	for h.srv.Stats().RunningCommands != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := h.srv.Stats().RunningCommands; n != 0 {
		t.Errorf("%d commands still running on the host", n)
	}
	if res := runPS(t, c, "'x'"); strings.TrimSpace(string(res.Stdout)) != "ok" {
		t.Errorf("after cancellations: %q", res.Stdout)
	}
}

func TestWinRMTruncatedOutput(t *testing.T) {
	pki := newWinPKI(t)
	h := startWinHost(t, wsman.Config{Interpreter: wsman.InterpreterFunc(func(ctx context.Context, script string) (string, string, int) {
		return "### portwarden:windows-rules\r\n[", "", 0
	})}, pki)
	c := dial(t, h.config())
	_, err := c.Run(context.Background(), Script{Shell: "powershell", Body: "anything"})
	if !errors.Is(err, ErrWinRMOutputTruncated) {
		t.Errorf("err = %v, want ErrWinRMOutputTruncated", err)
	}
}

func TestWinRMDroppedConnection(t *testing.T) {
	pki := newWinPKI(t)
	for _, action := range []string{"Command", "Receive"} {
		t.Run(action, func(t *testing.T) {
			h := startWinHost(t, wsman.Config{}, pki)
			c := dial(t, h.config())
			h.srv.DropNext(action)
			_, err := c.Run(context.Background(), Script{Shell: "powershell", Body: firewall.WindowsFactsScript.Body})
			if err == nil || !strings.Contains(err.Error(), "the connection dropped") {
				t.Fatalf("err = %v", err)
			}
			// The next run reconnects.
			runPS(t, c, "'x'")
		})
	}
	t.Run("staging", func(t *testing.T) {
		h := startWinHost(t, wsman.Config{}, pki)
		c := dial(t, h.config())
		body := "'x'\n# " + strings.Repeat("padding ", 2000)
		runPS(t, c, "'warm up'")
		// Drop the answer to the first staging command.
		h.srv.DropNext("Receive")
		_, err := c.Run(context.Background(), Script{Shell: "powershell", Body: body})
		if err == nil || !strings.Contains(err.Error(), "staging the script") || !strings.Contains(err.Error(), "the connection dropped") {
			t.Fatalf("err = %v", err)
		}
		runPS(t, c, body)
	})
}

func TestCutEndMarker(t *testing.T) {
	tests := []struct {
		in, out string
		found   bool
	}{
		{"a\r\n" + WinRMEndMarker + "\r\n", "a\r\n", true},
		{WinRMEndMarker + "\n", "", true},
		{"a\r\n", "a\r\n", false},
		{"x" + WinRMEndMarker + "\r\n", "x" + WinRMEndMarker + "\r\n", false},
		{WinRMEndMarker + "\r\nmore\r\n", WinRMEndMarker + "\r\nmore\r\n", false},
	}
	for _, tt := range tests {
		out, found := cutEndMarker([]byte(tt.in))
		if string(out) != tt.out || found != tt.found {
			t.Errorf("cutEndMarker(%q) = %q, %v", tt.in, out, found)
		}
	}
}

func ExampleDialWinRM() {
	conn, err := DialWinRM(context.Background(), WinRMConfig{
		Address:    "198.18.1.20",
		User:       `CORP\portwarden`,
		Password:   os.Getenv("WINRM_PASSWORD"),
		CACertPath: "/etc/portwarden/winrm-ca.pem",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	res, err := conn.Run(context.Background(), fwScript(firewall.WindowsFactsScript))
	fmt.Println(len(res.Stdout) > 0, err)
}

func TestWinRMRequestContexts(t *testing.T) {
	params := winrm.DefaultParameters
	url := "https://127.0.0.1:5986/wsman"
	op, cancel := context.WithCancel(context.Background())
	cancel()
	tr := &winrmTransport{connectTimeout: time.Second}
	tr.setContext(op)
	tests := []struct {
		name      string
		body      string
		survives  bool // the request outlives the cancelled operation
		abortDial bool
	}{
		{"Create", winrm.NewOpenShellRequest(url, params).String(), true, true},
		{"Command", winrm.NewExecuteCommandRequest(url, "S", "cmd", nil, params).String(), true, true},
		{"Receive", winrm.NewGetOutputRequest(url, "S", "C", "stdout stderr", params).String(), false, false},
		{"Send", winrm.NewSendInputRequest(url, "S", "C", []byte("x"), true, params).String(), false, false},
		{"Signal", winrm.NewSignalRequest(url, "S", "C", params).String(), true, false},
		{"Delete", winrm.NewDeleteShellRequest(url, "S", params).String(), true, false},
	}
	for _, tt := range tests {
		ctx, cancel := tr.requestContext(tt.body)
		if got := ctx.Err() == nil; got != tt.survives {
			t.Errorf("%s: request context alive = %v, want %v", tt.name, got, tt.survives)
		}
		if _, got := ctx.Value(abortDialKey{}).(context.Context); got != tt.abortDial {
			t.Errorf("%s: dial aborts with the operation = %v, want %v", tt.name, got, tt.abortDial)
		}
		cancel()
	}
}

func TestWinRMConnectTimeoutAndCancel(t *testing.T) {
	lab.SkipShort(t, "a listener on loopback")
	// A listener that accepts and never answers: the TLS handshake hangs.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	cfg := WinRMConfig{Address: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, User: winUser, Password: winPassword,
		Insecure: true, ConnectTimeout: 300 * time.Millisecond}
	t0 := time.Now()
	_, err = DialWinRM(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "timed out after 300ms") {
		t.Errorf("err = %v", err)
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("dial took %s", d)
	}

	cfg.ConnectTimeout = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	t0 = time.Now()
	_, err = DialWinRM(ctx, cfg)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the context's deadline", err)
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("dial took %s after the context ended", d)
	}

	// A context that has ended opens no shell.
	h := startWinHost(t, wsman.Config{}, newWinPKI(t))
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := DialWinRM(ctx, h.config()); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v", err)
	}
	if s := h.srv.Stats(); s.ShellsCreated != 0 {
		t.Errorf("%d shells created", s.ShellsCreated)
	}
}

func TestWinRMReopensALostShell(t *testing.T) {
	h := startWinHost(t, wsman.Config{}, newWinPKI(t))
	c := dial(t, h.config())
	// The host forgets the shell, as after a restart of WinRM.
	wc := c.(*winrmConn)
	if err := wc.shell.Close(); err != nil {
		t.Fatal(err)
	}
	if res := runPS(t, c, "'still here'"); strings.TrimSpace(string(res.Stdout)) != "still here" {
		t.Errorf("stdout %q", res.Stdout)
	}
	if s := h.srv.Stats(); s.ShellsCreated != 2 || s.OpenShells != 1 {
		t.Errorf("shells created %d, open %d", s.ShellsCreated, s.OpenShells)
	}
}

func TestWinRMCommandLineTooLong(t *testing.T) {
	// A host whose cmd.exe takes less than portwarden assumes.
	h := startWinHost(t, wsman.Config{MaxCommandLine: 2000}, newWinPKI(t))
	c := dial(t, h.config())
	_, err := c.Run(context.Background(), Script{Shell: "powershell", Body: "'x'\n# " + strings.Repeat("y", 1500)})
	if err == nil || !strings.Contains(err.Error(), "too long") {
		t.Errorf("err = %v", err)
	}
}

// TestWinRMConcurrentAppliesOneHost runs two applies at once over two
// WinRM connections to one simulated host: the host-wide lock serializes
// them, and an apply that cannot get the lock in time fails the host with
// the lock message and changes nothing.
func TestWinRMConcurrentAppliesOneHost(t *testing.T) {
	fw, err := winfw.New(winfw.Options{StateDir: t.TempDir(), ManagementPort: 5986, MaxMutexWait: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	h := startWinHost(t, wsman.Config{Interpreter: fw}, newWinPKI(t))
	d := firewall.Desired{Mode: rule.Additive, Rules: []rule.Rule{{Protocol: "tcp", Ports: []rule.PortRange{{Lo: 2500, Hi: 3300}},
		Sources: []netip.Prefix{netip.MustParsePrefix("10.0.0.5/32")}}}}
	conns := []Conn{dial(t, h.config()), dial(t, h.config())}
	var wg sync.WaitGroup
	errs := make([]error, len(conns))
	for i, c := range conns {
		s, err := firewall.Windows{}.Apply(nil, d)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := c.Run(context.Background(), fwScript(s))
			if err == nil && res.ExitCode != 0 {
				err = fmt.Errorf("exit %d: %s", res.ExitCode, res.Stderr)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("apply %d: %v", i, err)
		}
	}

	release := fw.HoldMutex(`Global\portwarden`)
	defer release()
	s, err := firewall.Windows{}.Apply(nil, firewall.Desired{Mode: rule.Additive})
	if err != nil {
		t.Fatal(err)
	}
	res, err := conns[0].Run(context.Background(), fwScript(s))
	if err != nil || res.ExitCode == 0 || !strings.Contains(string(res.Stderr), firewall.WindowsLockHeld+"WINHOST") {
		t.Fatalf("apply while the lock is held: err %v, exit %d, stderr %s", err, res.ExitCode, res.Stderr)
	}
	st, _ := fw.Snapshot()
	n := 0
	for _, r := range st.Rules {
		if r.Group == rule.Tag {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d rules in the group after the locked-out apply, want the 1 from before", n)
	}
}

// TestWinRMRetriesTransientConnects: opening the shell (WinRM's connect)
// is retried as SSH's dial is: a dropped connection or a refused one is
// tried again, at most sshDialAttempts times; a refused login is not.
func TestWinRMRetriesTransientConnects(t *testing.T) {
	pki := newWinPKI(t)
	t.Run("dropped twice, then served", func(t *testing.T) {
		h := startWinHost(t, wsman.Config{}, pki)
		h.srv.DropNext("Create")
		h.srv.DropNext("Create")
		c := dial(t, h.config())
		runPS(t, c, "'x'")
		if s := h.srv.Stats(); s.Dropped != 2 || s.ShellsCreated != 1 {
			t.Errorf("dropped %d, shells created %d; want 2 and 1", s.Dropped, s.ShellsCreated)
		}
	})
	t.Run("always dropped: bounded", func(t *testing.T) {
		h := startWinHost(t, wsman.Config{}, pki)
		for range 10 {
			h.srv.DropNext("Create")
		}
		_, err := DialWinRM(context.Background(), h.config())
		if err == nil || !strings.Contains(err.Error(), "the connection dropped") || !strings.Contains(err.Error(), fmt.Sprintf("(after %d attempts)", sshDialAttempts)) {
			t.Errorf("err = %v", err)
		}
		if s := h.srv.Stats(); s.Dropped != sshDialAttempts || s.ShellsCreated != 0 {
			t.Errorf("dropped %d, shells created %d; want %d and 0", s.Dropped, s.ShellsCreated, sshDialAttempts)
		}
	})
	t.Run("wrong password: not retried", func(t *testing.T) {
		h := startWinHost(t, wsman.Config{}, pki)
		cfg := h.config()
		cfg.Password = "wrong"
		_, err := DialWinRM(context.Background(), cfg)
		var ae *AuthError
		if !errors.As(err, &ae) || strings.Contains(err.Error(), "attempts") {
			t.Errorf("err = %v, want an AuthError after one attempt", err)
		}
	})
	t.Run("refused: retried", func(t *testing.T) {
		lab.SkipShort(t, "a listener on loopback")
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close() // nothing listens there now: connections are refused
		cfg := WinRMConfig{Address: "127.0.0.1", Port: port, User: winUser, Password: winPassword, Insecure: true, ConnectTimeout: time.Second}
		_, err = DialWinRM(context.Background(), cfg)
		if err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), fmt.Sprintf("(after %d attempts)", sshDialAttempts)) {
			t.Errorf("err = %v", err)
		}
	})
}

package wsman

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	ntlmssp "github.com/Azure/go-ntlmssp"
	"github.com/masterzen/winrm"

	"github.com/portwarden/portwarden/internal/testca"
	"github.com/portwarden/portwarden/lab"
)

const (
	testUser     = "Administrator"
	testPassword = "Pa55w.rd!"
)

// scriptInterpreter is the tests' stand-in for powershell.exe. Each line
// of the script is a directive: "out TEXT", "err TEXT", "exit N",
// "repeat N TEXT" (N copies on stdout), "sleep DURATION".
func scriptInterpreter(ctx context.Context, script string) (string, string, int) {
	script = strings.TrimPrefix(script, "$ProgressPreference = 'SilentlyContinue';")
	var out, errb strings.Builder
	code := 0
	for _, line := range strings.Split(script, "\n") {
		verb, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
		switch verb {
		case "":
		case "out":
			out.WriteString(arg + "\r\n")
		case "err":
			errb.WriteString(arg + "\r\n")
		case "exit":
			code, _ = strconv.Atoi(arg)
		case "repeat":
			n, text, _ := strings.Cut(arg, " ")
			k, _ := strconv.Atoi(n)
			out.WriteString(strings.Repeat(text, k))
		case "sleep":
			d, _ := time.ParseDuration(arg)
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return out.String(), errb.String() + "cancelled\r\n", 1
			}
		default:
			errb.WriteString(verb + " : The term '" + verb + "' is not recognized.\r\n")
			code = 1
		}
	}
	return out.String(), errb.String(), code
}

type testServer struct {
	*Server
	port  int
	https bool
	caPEM []byte
}

type pki struct {
	dir        string
	caPEM      []byte
	cert, key  string // server certificate and key files
	otherCAPEM []byte // a CA that did not sign the server certificate
}

// newPKI makes a CA and a server certificate for 127.0.0.1, and an
// unrelated CA, the way the lab does for its simulated hosts.
func newPKI(t *testing.T) *pki {
	t.Helper()
	dir := t.TempDir()
	ca, caKey, caPEM := testca.New(t, "portwarden test CA")
	_, _, otherPEM := testca.New(t, "some other CA")

	certPEM, keyPEM := testca.Server(t, ca, caKey, "winhost", []net.IP{net.IPv4(127, 0, 0, 1)}, []string{"winhost"})
	p := &pki{dir: dir, caPEM: caPEM, otherCAPEM: otherPEM,
		cert: filepath.Join(dir, "server.pem"), key: filepath.Join(dir, "server.key")}
	if err := os.WriteFile(p.cert, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.key, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// startServer serves cfg on 127.0.0.1; with p, over HTTPS. Unset fields
// get test defaults: the test user, Basic and NTLM, the script
// interpreter, AllowUnencrypted.
func startServer(t *testing.T, cfg Config, p *pki) *testServer {
	t.Helper()
	lab.SkipShort(t, "a WS-Management server on loopback")
	if cfg.Users == nil {
		cfg.Users = map[string]string{testUser: testPassword}
	}
	if !cfg.AllowBasic && !cfg.AllowNTLM {
		cfg.AllowBasic, cfg.AllowNTLM = true, true
	}
	if cfg.Interpreter == nil {
		cfg.Interpreter = InterpreterFunc(scriptInterpreter)
	}
	if cfg.Logf == nil {
		cfg.Logf = t.Logf
	}
	ts := &testServer{}
	if p != nil {
		cfg.TLSCertFile, cfg.TLSKeyFile = p.cert, p.key
		ts.https, ts.caPEM = true, p.caPEM
	}
	ts.Server, ts.port = ServeForTest(t, cfg)
	return ts
}

type clientOpts struct {
	ntlm    bool
	caPEM   []byte // overrides the server's CA
	timeout string // w:OperationTimeout, default PT60S
}

func (ts *testServer) client(t *testing.T, user, password string, o clientOpts) *winrm.Client {
	t.Helper()
	ca := ts.caPEM
	if o.caPEM != nil {
		ca = o.caPEM
	}
	ep := winrm.NewEndpoint("127.0.0.1", ts.port, ts.https, false, ca, nil, nil, 10*time.Second)
	timeout := o.timeout
	if timeout == "" {
		timeout = "PT60S"
	}
	params := winrm.NewParameters(timeout, "en-US", 153600)
	if o.ntlm {
		params.TransportDecorator = func() winrm.Transporter { return &winrm.ClientNTLM{} }
	}
	c, err := winrm.NewClientWithParameters(ep, user, password, params)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRunPowerShell(t *testing.T) {
	p := newPKI(t)
	for _, tc := range []struct {
		name  string
		https bool
		ntlm  bool
	}{
		{"http basic", false, false},
		{"http ntlm", false, true},
		{"https basic", true, false},
		{"https ntlm", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ts *testServer
			if tc.https {
				ts = startServer(t, Config{}, p)
			} else {
				ts = startServer(t, Config{AllowUnencrypted: true}, nil)
			}
			c := ts.client(t, testUser, testPassword, clientOpts{ntlm: tc.ntlm})
			stdout, stderr, code, err := c.RunPSWithString("out hello\nerr careful\nout world\nexit 3", "")
			if err != nil {
				t.Fatal(err)
			}
			if stdout != "hello\r\nworld\r\n" || stderr != "careful\r\n" || code != 3 {
				t.Errorf("got stdout %q stderr %q exit %d", stdout, stderr, code)
			}
			st := ts.Stats()
			if st.OpenShells != 0 || st.ShellsCreated != 1 || st.CommandsStarted != 1 || st.AuthFailures != 0 {
				t.Errorf("stats after one run: %+v", st)
			}
		})
	}
}

func TestAuthenticationFailures(t *testing.T) {
	p := newPKI(t)
	tests := []struct {
		name           string
		cfg            Config
		https          bool
		user, password string
		ntlm           bool
	}{
		{name: "basic wrong password", user: testUser, password: "nope"},
		{name: "basic unknown user", user: "mallory", password: testPassword},
		{name: "ntlm wrong password", user: testUser, password: "nope", ntlm: true},
		{name: "ntlm unknown user", user: "mallory", password: testPassword, ntlm: true},
		{name: "basic other domain", user: `CORP\` + testUser, password: testPassword},
		{name: "basic not enabled", cfg: Config{AllowNTLM: true}, user: testUser, password: testPassword},
		{name: "ntlm not enabled falls back to basic, which is off", cfg: Config{AllowBasic: false, AllowNTLM: false}, user: testUser, password: "x", ntlm: true},
		{name: "http without AllowUnencrypted, basic", cfg: Config{AllowUnencrypted: false, AllowBasic: true, AllowNTLM: true}, user: testUser, password: testPassword},
		{name: "http without AllowUnencrypted, ntlm", cfg: Config{AllowUnencrypted: false, AllowBasic: true, AllowNTLM: true}, user: testUser, password: testPassword, ntlm: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.cfg
			if !strings.Contains(tt.name, "AllowUnencrypted") {
				cfg.AllowUnencrypted = true
			}
			var pp *pki
			if tt.https {
				pp = p
			}
			ts := startServer(t, cfg, pp)
			c := ts.client(t, tt.user, tt.password, clientOpts{ntlm: tt.ntlm})
			_, _, _, err := c.RunPSWithString("out hi", "")
			if err == nil || !strings.Contains(err.Error(), "401") {
				t.Fatalf("got err %v, want a 401", err)
			}
			st := ts.Stats()
			if st.AuthFailures == 0 || st.ShellsCreated != 0 {
				t.Errorf("stats: %+v", st)
			}
		})
	}

	t.Run("user name forms", func(t *testing.T) {
		ts := startServer(t, Config{AllowUnencrypted: true, ComputerName: "VBR01"}, nil)
		for _, u := range []string{`administrator`, `.\Administrator`, `vbr01\ADMINISTRATOR`} {
			for _, ntlm := range []bool{false, true} {
				c := ts.client(t, u, testPassword, clientOpts{ntlm: ntlm})
				if _, _, _, err := c.RunPSWithString("out hi", ""); err != nil {
					t.Errorf("user %q ntlm=%v: %v", u, ntlm, err)
				}
			}
		}
	})

	t.Run("https without AllowUnencrypted", func(t *testing.T) {
		ts := startServer(t, Config{AllowBasic: true, AllowNTLM: true}, p)
		c := ts.client(t, testUser, testPassword, clientOpts{ntlm: true})
		if _, _, _, err := c.RunPSWithString("out hi", ""); err != nil {
			t.Fatal(err)
		}
	})
}

func TestBadCertificate(t *testing.T) {
	p := newPKI(t)
	ts := startServer(t, Config{}, p)
	c := ts.client(t, testUser, testPassword, clientOpts{caPEM: p.otherCAPEM})
	_, _, _, err := c.RunPSWithString("out hi", "")
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("got err %v, want a certificate verification error", err)
	}
	if st := ts.Stats(); st.Requests != 0 {
		t.Errorf("a request got through the failed handshake: %+v", st)
	}
}

// TestStdin feeds a script through stdin ("-Command -"). Over Basic only:
// RunWithInput sends stdin while its Receive is pending, so over NTLM one
// client uses two connections at once and the handshake can cross them
// (see TestNTLMIsConnectionOriented); and it ignores a failed Send, so the
// script can silently arrive empty.
func TestStdin(t *testing.T) {
	ts := startServer(t, Config{AllowUnencrypted: true}, nil)
	c := ts.client(t, testUser, testPassword, clientOpts{})
	script := "out from stdin\nerr also\nexit 7\n"
	var stdout, stderr bytes.Buffer
	code, err := c.RunWithInput("powershell.exe -NoProfile -NonInteractive -Command -", &stdout, &stderr, strings.NewReader(script))
	if err != nil {
		t.Fatal(err)
	}
	if stdout.String() != "from stdin\r\n" || stderr.String() != "also\r\n" || code != 7 {
		t.Errorf("got stdout %q stderr %q exit %d", stdout.String(), stderr.String(), code)
	}
	// Stdin larger than one Send (the client splits it by envelope size).
	big := "repeat 1 " + strings.Repeat("y", 400000) + "\n"
	stdout.Reset()
	if _, err := c.RunWithInput("powershell -Command -", &stdout, &stderr, strings.NewReader(big)); err != nil {
		t.Fatal(err)
	}
	if stdout.Len() != 400000 {
		t.Errorf("script of %d bytes on stdin: %d bytes of output", len(big), stdout.Len())
	}
}

func TestNotPowerShell(t *testing.T) {
	ts := startServer(t, Config{AllowUnencrypted: true}, nil)
	c := ts.client(t, testUser, testPassword, clientOpts{})
	stdout, stderr, code, err := c.RunWithString("ipconfig /all", "")
	if err != nil {
		t.Fatal(err)
	}
	want := "'ipconfig' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n"
	if stdout != "" || stderr != want || code != 1 {
		t.Errorf("got stdout %q stderr %q exit %d", stdout, stderr, code)
	}
}

func TestLongOutput(t *testing.T) {
	ts := startServer(t, Config{AllowUnencrypted: true}, nil)
	c := ts.client(t, testUser, testPassword, clientOpts{ntlm: true})
	stdout, _, code, err := c.RunPSWithString("repeat 100000 0123456789", "")
	if err != nil {
		t.Fatal(err)
	}
	if code != 0 || stdout != strings.Repeat("0123456789", 100000) {
		t.Errorf("got %d bytes, exit %d", len(stdout), code)
	}
	// One million bytes in envelopes of 150 KiB take at least nine Receives.
	if st := ts.Stats(); st.Receives < 9 {
		t.Errorf("output came in %d Receives", st.Receives)
	}
}

func TestCommandLineTooLong(t *testing.T) {
	ts := startServer(t, Config{AllowUnencrypted: true}, nil)
	c := ts.client(t, testUser, testPassword, clientOpts{})
	// Find the longest script whose encoded command line fits in 8191.
	n := 1000
	for len(winrm.Powershell("out "+strings.Repeat("x", n+1))) <= DefaultMaxCommandLine {
		n++
	}
	fits := "out " + strings.Repeat("x", n)
	stdout, stderr, code, err := c.RunPSWithString(fits, "")
	if err != nil || code != 0 || stdout != strings.Repeat("x", n)+"\r\n" || stderr != "" {
		t.Errorf("script of %d characters (line %d): stdout %d bytes, stderr %q, exit %d, err %v",
			len(fits), len(winrm.Powershell(fits)), len(stdout), stderr, code, err)
	}
	tooLong := fits + "x"
	stdout, stderr, code, err = c.RunPSWithString(tooLong, "")
	if err != nil || code != 1 || stdout != "" || stderr != "The command line is too long.\r\n" {
		t.Errorf("script of %d characters (line %d): stdout %q, stderr %q, exit %d, err %v",
			len(tooLong), len(winrm.Powershell(tooLong)), stdout, stderr, code, err)
	}
}

func TestShellQuota(t *testing.T) {
	ts := startServer(t, Config{AllowUnencrypted: true, MaxShellsPerUser: 2,
		Users: map[string]string{testUser: testPassword, "backup": "b"}}, nil)
	c := ts.client(t, testUser, testPassword, clientOpts{})
	s1, err := c.CreateShell()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateShell(); err != nil {
		t.Fatal(err)
	}
	status, body := ts.post(t, testUser, testPassword, winrm.NewOpenShellRequest(ts.url(), nil).String())
	if status != 500 || !strings.Contains(body, "<s:Value>w:QuotaLimit</s:Value>") ||
		!strings.Contains(body, `Code="2150859173"`) ||
		!strings.Contains(body, "This user is allowed a maximum number of 2 concurrent shells, which has been exceeded.") {
		t.Fatalf("third shell: HTTP %d %s", status, body)
	}
	// masterzen/winrm at this version returns faults as successful
	// responses (http.go's deferred status check assigns to unnamed
	// results), so the client only fails later, on the empty ShellId and
	// CommandId it parsed from the fault.
	if _, _, _, err := c.RunPSWithString("out hi", ""); err == nil || err.Error() != "Command has already been closed" {
		t.Errorf("a run over the quota: got %v, want the client's empty-CommandId error", err)
	}
	// The quota is per user.
	other := ts.client(t, "backup", "b", clientOpts{})
	if _, _, _, err := other.RunPSWithString("out hi", ""); err != nil {
		t.Errorf("another user: %v", err)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := c.RunPSWithString("out hi", ""); err != nil {
		t.Errorf("after closing a shell: %v", err)
	}
	if st := ts.Stats(); st.OpenShells != 1 {
		t.Errorf("open shells: %d, want 1", st.OpenShells)
	}
}

func (ts *testServer) url() string {
	scheme := "http"
	if ts.https {
		scheme = "https"
	}
	return fmt.Sprintf("%s://127.0.0.1:%d/wsman", scheme, ts.port)
}

// post sends one SOAP request with Basic authentication and returns the
// HTTP status and body, faults included.
func (ts *testServer) post(t *testing.T, user, password, body string) (int, string) {
	t.Helper()
	return ts.do(t, http.MethodPost, ts.url(), user, password, body)
}

func (ts *testServer) do(t *testing.T, method, url, user, password, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
	req.SetBasicAuth(user, password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == 500 && resp.Header.Get("Content-Type") != "application/soap+xml;charset=UTF-8" {
		t.Errorf("fault with Content-Type %q", resp.Header.Get("Content-Type"))
	}
	return resp.StatusCode, string(b)
}

func TestFaults(t *testing.T) {
	ts := startServer(t, Config{AllowUnencrypted: true, MaxEnvelopeSizeKB: 8}, nil)
	url := ts.url()
	c := ts.client(t, testUser, testPassword, clientOpts{})
	sh, err := c.CreateShell()
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	shellID := func() string {
		// The id is not exported; a Create response names it.
		_, body := ts.post(t, testUser, testPassword, winrm.NewOpenShellRequest(url, nil).String())
		id, err := winrm.ParseOpenShellResponse(body)
		if err != nil || id == "" {
			t.Fatalf("no shell id in %s", body)
		}
		return id
	}()
	unknownAction := strings.Replace(winrm.NewDeleteShellRequest(url, shellID, nil).String(),
		"http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete", "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get", 1)
	otherResource := strings.Replace(winrm.NewOpenShellRequest(url, nil).String(),
		"windows/shell/cmd", "windows/shell/powershell", 1)

	tests := map[string]struct {
		body string
		want []string
	}{
		"unknown action": {unknownAction, []string{"<s:Value>a:ActionNotSupported</s:Value>", `Code="2150858771"`,
			"<a:Action>http://schemas.xmlsoap.org/ws/2004/08/addressing/fault</a:Action>"}},
		"not xml": {"this is not SOAP", []string{"<s:Value>w:SchemaValidationError</s:Value>", `Code="2150858819"`}},
		"soap 1.1": {`<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/"><Body/></Envelope>`,
			[]string{"w:SchemaValidationError"}},
		"unknown resource": {otherResource, []string{"a:DestinationUnreachable", `Code="2150858752"`}},
		"unknown shell": {winrm.NewGetOutputRequest(url, "00000000-0000-0000-0000-000000000000", "X", "stdout stderr", nil).String(),
			[]string{"<s:Value>w:InvalidSelectors</s:Value>", `Code="2150858843"`,
				"The request for the Windows Remote Shell with ShellId 00000000-0000-0000-0000-000000000000 failed because the shell was not found on the server."}},
		"unknown command": {winrm.NewGetOutputRequest(url, shellID, "NOPE", "stdout stderr", nil).String(),
			[]string{"w:InvalidSelectors", "CommandId NOPE"}},
		"unknown signal": {strings.Replace(winrm.NewSignalRequest(url, shellID, "NOPE", nil).String(), "signal/terminate", "signal/hup", 1),
			[]string{"w:InvalidSelectors"}},
		"too large": {winrm.NewExecuteCommandRequest(url, shellID, strings.Repeat("x", 9000), nil, nil).String(),
			[]string{"<s:Value>w:EncodingLimit</s:Value>"}},
		"skip cmd shell, no such program": {strings.Replace(winrm.NewExecuteCommandRequest(url, shellID, "ipconfig", nil, nil).String(),
			`<w:Option Name="WINRS_SKIP_CMD_SHELL">FALSE`, `<w:Option Name="WINRS_SKIP_CMD_SHELL">TRUE`, 1),
			[]string{"w:InternalError", `Code="2"`, "The system cannot find the file specified."}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			status, body := ts.post(t, testUser, testPassword, tt.body)
			if status != 500 || !strings.Contains(body, "<s:Fault>") {
				t.Fatalf("HTTP %d %s", status, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("fault lacks %q:\n%s", w, body)
				}
			}
			if !strings.Contains(body, `Machine="WINHOST"`) {
				t.Errorf("fault lacks the machine name:\n%s", body)
			}
		})
	}

	t.Run("fault relates to the request", func(t *testing.T) {
		req := winrm.NewGetOutputRequest(url, "BAD", "X", "stdout", nil).String()
		id := req[strings.Index(req, "<a:MessageID>")+len("<a:MessageID>") : strings.Index(req, "</a:MessageID>")]
		_, body := ts.post(t, testUser, testPassword, req)
		if !strings.Contains(body, "<a:RelatesTo>"+id+"</a:RelatesTo>") {
			t.Errorf("fault does not relate to %s:\n%s", id, body)
		}
	})
	t.Run("wrong method and path", func(t *testing.T) {
		if status, _ := ts.do(t, http.MethodGet, url, testUser, testPassword, ""); status != http.StatusMethodNotAllowed {
			t.Errorf("GET: HTTP %d", status)
		}
		if status, _ := ts.do(t, http.MethodPost, strings.TrimSuffix(url, "wsman")+"other", testUser, testPassword, ""); status != http.StatusNotFound {
			t.Errorf("POST /other: HTTP %d", status)
		}
	})
	t.Run("401 offers the enabled schemes", func(t *testing.T) {
		resp, err := http.Post(url, "application/soap+xml", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		got := resp.Header.Values("WWW-Authenticate")
		if resp.StatusCode != 401 || len(got) != 2 || got[0] != "Negotiate" || got[1] != `Basic realm="WSMAN"` {
			t.Errorf("HTTP %d, WWW-Authenticate %q", resp.StatusCode, got)
		}
	})
}

func TestDroppedConnection(t *testing.T) {
	for _, ntlm := range []bool{false, true} {
		t.Run(fmt.Sprintf("ntlm=%v", ntlm), func(t *testing.T) {
			ts := startServer(t, Config{AllowUnencrypted: true}, nil)
			c := ts.client(t, testUser, testPassword, clientOpts{ntlm: ntlm})
			ts.DropNext("Receive")
			_, _, code, err := c.RunPSWithString("out hi", "")
			// The client reports a connection lost during Receive as exit
			// code 16001 along with the error.
			if err == nil || !strings.Contains(err.Error(), "EOF") || code != 16001 {
				t.Fatalf("got exit %d err %v, want 16001 and an EOF error", code, err)
			}
			if st := ts.Stats(); st.Dropped != 1 || st.OpenShells != 0 {
				t.Errorf("stats: %+v", st)
			}
			if _, _, _, err := c.RunPSWithString("out hi", ""); err != nil {
				t.Errorf("after the drop: %v", err)
			}
		})
	}
}

func TestOperationTimeoutRepoll(t *testing.T) {
	ts := startServer(t, Config{AllowUnencrypted: true}, nil)
	c := ts.client(t, testUser, testPassword, clientOpts{timeout: "PT0.2S"})
	stdout, _, code, err := c.RunPSWithString("sleep 700ms\nout late", "")
	if err != nil || stdout != "late\r\n" || code != 0 {
		t.Fatalf("got stdout %q exit %d err %v", stdout, code, err)
	}
	if st := ts.Stats(); st.ReceiveTimeouts < 2 {
		t.Errorf("%d Receives timed out, want at least 2", st.ReceiveTimeouts)
	}
}

func TestSignalTerminate(t *testing.T) {
	ts := startServer(t, Config{AllowUnencrypted: true}, nil)
	c := ts.client(t, testUser, testPassword, clientOpts{timeout: "PT0.2S"})
	sh, err := c.CreateShell()
	if err != nil {
		t.Fatal(err)
	}
	defer sh.Close()
	cmd, err := sh.Execute(winrm.Powershell("sleep 1m"))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return ts.Stats().RunningCommands == 1 })
	if err := cmd.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return ts.Stats().RunningCommands == 0 })
}

func TestCLIXML(t *testing.T) {
	ts := startServer(t, Config{AllowUnencrypted: true, EmitCLIXML: true}, nil)
	c := ts.client(t, testUser, testPassword, clientOpts{})
	stdout, stderr, code, err := c.RunPSWithString("out fine\nerr Get-Foo : failed <badly>", "")
	if err != nil {
		t.Fatal(err)
	}
	want := clixmlHeader + clixmlProgress + `<S S="Error">Get-Foo : failed &lt;badly&gt;_x000D__x000A_</S></Objs>`
	if stdout != "fine\r\n" || stderr != want || code != 0 {
		t.Errorf("got stdout %q stderr %q exit %d", stdout, stderr, code)
	}
	// cmd.exe's own errors are not PowerShell's, so not CLIXML.
	_, stderr, _, _ = c.RunWithString("hostname", "")
	if strings.HasPrefix(stderr, clixmlMarker) {
		t.Errorf("cmd.exe error in CLIXML: %q", stderr)
	}
}

// TestConcurrentClients runs NTLM clients in parallel, each with its own
// connection pool. RunPSWithString sends one request at a time, so each
// client keeps to one authenticated connection.
func TestConcurrentClients(t *testing.T) {
	ts := startServer(t, Config{AllowUnencrypted: true, MaxShellsPerUser: 8}, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		c := ts.client(t, testUser, testPassword, clientOpts{ntlm: true})
		wg.Add(1)
		go func() {
			defer wg.Done()
			stdout, _, code, err := c.RunPSWithString(fmt.Sprintf("out %d\nexit %d", i, i), "")
			if err == nil && (stdout != fmt.Sprintf("%d\r\n", i) || code != i) {
				err = fmt.Errorf("run %d: stdout %q exit %d", i, stdout, code)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if st := ts.Stats(); st.AuthFailures != 0 || st.Connections != 8 {
		t.Errorf("stats: %+v", st)
	}
}

// TestNTLMIsConnectionOriented drives the handshake by hand over two
// connections: the CHALLENGE is only good on the connection that asked
// for it, and only that connection is authenticated afterwards. This is
// what makes one masterzen/winrm NTLM client fail with 401 when it sends
// requests concurrently (Azure/go-ntlmssp#43): its pool may send the
// AUTHENTICATE on another connection.
func TestNTLMIsConnectionOriented(t *testing.T) {
	ts := startServer(t, Config{AllowUnencrypted: true}, nil)
	body := winrm.NewOpenShellRequest(ts.url(), nil).String()
	// Each transport keeps its one connection alive between requests.
	connA := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	connB := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 1}}
	send := func(c *http.Client, auth string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, ts.url(), strings.NewReader(body))
		req.Header.Set("Content-Type", "application/soap+xml;charset=UTF-8")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	handshake := func(first, second *http.Client) int {
		t.Helper()
		neg, _ := ntlmssp.NewNegotiateMessage("", "")
		resp := send(first, "Negotiate "+base64.StdEncoding.EncodeToString(neg))
		ch := strings.TrimPrefix(resp.Header.Get("WWW-Authenticate"), "Negotiate ")
		challenge, err := base64.StdEncoding.DecodeString(ch)
		if resp.StatusCode != 401 || err != nil || len(challenge) == 0 {
			t.Fatalf("NEGOTIATE: HTTP %d, WWW-Authenticate %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		auth, err := ntlmssp.ProcessChallenge(challenge, testUser, testPassword)
		if err != nil {
			t.Fatal(err)
		}
		return send(second, "Negotiate "+base64.StdEncoding.EncodeToString(auth)).StatusCode
	}

	if got := handshake(connA, connB); got != 401 {
		t.Errorf("AUTHENTICATE on another connection: HTTP %d, want 401", got)
	}
	if got := send(connB, "").StatusCode; got != 401 {
		t.Errorf("anonymous request on the other connection: HTTP %d, want 401", got)
	}
	if got := handshake(connA, connA); got != 200 {
		t.Errorf("AUTHENTICATE on the same connection: HTTP %d, want 200", got)
	}
	if got := send(connA, "").StatusCode; got != 200 {
		t.Errorf("anonymous request on the authenticated connection: HTTP %d, want 200", got)
	}
	if got := send(connB, "").StatusCode; got != 401 {
		t.Errorf("anonymous request on an unauthenticated connection: HTTP %d, want 401", got)
	}
	if st := ts.Stats(); st.Connections != 2 {
		t.Errorf("%d connections, want 2", st.Connections)
	}
}

func TestCloseEndsCommands(t *testing.T) {
	started := make(chan struct{})
	srv, err := NewServer(Config{
		Users: map[string]string{testUser: testPassword}, AllowBasic: true, AllowUnencrypted: true,
		Interpreter: InterpreterFunc(func(ctx context.Context, _ string) (string, string, int) {
			close(started)
			<-ctx.Done()
			return "", "", 1
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	ts := &testServer{Server: srv, port: ln.Addr().(*net.TCPAddr).Port}
	c := ts.client(t, testUser, testPassword, clientOpts{})
	runErr := make(chan error, 1)
	go func() {
		_, _, _, err := c.RunPSWithString("anything", "")
		runErr <- err
	}()
	<-started
	closed := make(chan struct{})
	go func() { srv.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	if err := <-runErr; err == nil {
		t.Error("the client saw no error when the server closed")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

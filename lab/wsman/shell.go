package wsman

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"time"
)

// ctrlCExitCode is STATUS_CONTROL_C_EXIT (0xC000013A), the exit code of a
// console process ended by Ctrl+C.
const ctrlCExitCode = -1073741510

// shell is one WinRS shell: a cmd.exe session that runs commands for the
// user who created it.
type shell struct {
	id            string
	owner         account
	clientIP      string
	created       time.Time
	inputStreams  string
	outputStreams string

	mu       sync.Mutex
	commands map[string]*command
}

func (sh *shell) get(id string) *command {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.commands[id]
}

func (sh *shell) remove(id string) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	delete(sh.commands, id)
}

// closeAll ends every command, as deleting a shell kills its processes.
func (sh *shell) closeAll() {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for id, c := range sh.commands {
		c.cancel()
		delete(sh.commands, id)
	}
}

// command is one process started in a shell. Its output waits in buffers
// until a Receive takes it.
type command struct {
	id     string
	ctx    context.Context
	cancel context.CancelFunc

	mu          sync.Mutex
	changed     chan struct{} // closed and replaced on every change
	stdout      []byte
	stderr      []byte
	done        bool
	exitCode    int
	interrupted bool
	stdin       []byte
	stdinEOF    bool
}

func newCommand(parent context.Context) *command {
	ctx, cancel := context.WithCancel(parent)
	return &command{id: newID(), ctx: ctx, cancel: cancel, changed: make(chan struct{})}
}

func (c *command) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *command) finish(stdout, stderr string, exitCode int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stdout = append(c.stdout, stdout...)
	c.stderr = append(c.stderr, stderr...)
	c.exitCode = exitCode
	if c.interrupted {
		c.exitCode = ctrlCExitCode
	}
	c.done = true
	c.notifyLocked()
}

func (c *command) writeStdin(data []byte, eof bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stdinEOF {
		return
	}
	c.stdin = append(c.stdin, data...)
	c.stdinEOF = eof
	c.notifyLocked()
}

// readAllStdin waits for the client to close stdin and returns what it
// sent; false if the command ended first.
func (c *command) readAllStdin() ([]byte, bool) {
	for {
		c.mu.Lock()
		if c.stdinEOF {
			b := c.stdin
			c.mu.Unlock()
			return b, true
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-c.ctx.Done():
			return nil, false
		}
	}
}

func (c *command) interrupt() {
	c.mu.Lock()
	if !c.done {
		c.interrupted = true
	}
	c.mu.Unlock()
	c.cancel()
}

// output is what one Receive returns.
type output struct {
	stdout, stderr []byte
	done           bool
	exitCode       int
}

// receive waits up to timeout for output or the end of the command and
// takes at most budget bytes of output. ok is false if nothing happened in
// time (or ctx ended).
func (c *command) receive(ctx context.Context, timeout time.Duration, budget int) (out output, ok bool) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		c.mu.Lock()
		if len(c.stdout) > 0 || len(c.stderr) > 0 || c.done {
			n := min(budget, len(c.stdout))
			out.stdout, c.stdout = c.stdout[:n:n], c.stdout[n:]
			n = min(budget-n, len(c.stderr))
			out.stderr, c.stderr = c.stderr[:n:n], c.stderr[n:]
			out.done = c.done && len(c.stdout) == 0 && len(c.stderr) == 0
			out.exitCode = c.exitCode
			c.mu.Unlock()
			return out, true
		}
		ch := c.changed
		c.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			return output{}, false
		case <-ctx.Done():
			return output{}, false
		}
	}
}

func (s *Server) lookupShell(user account, id string) *shell {
	s.mu.Lock()
	defer s.mu.Unlock()
	sh := s.shells[id]
	if sh == nil || sh.owner.key != user.key {
		// Another user's shell is as good as missing.
		return nil
	}
	return sh
}

func (s *Server) createShell(user account, ip string, env *envelope) ([]byte, *soapFault) {
	if env.Body.Shell == nil {
		return nil, faultInvalidXML("The Create request has no rsp:Shell element.")
	}
	in := strings.Join(strings.Fields(env.Body.Shell.InputStreams), " ")
	if in == "" {
		in = "stdin"
	}
	out := strings.Join(strings.Fields(env.Body.Shell.OutputStreams), " ")
	if out == "" {
		out = "stdout stderr"
	}
	sh := &shell{
		id: newID(), owner: user, clientIP: ip, created: time.Now(),
		inputStreams: in, outputStreams: out, commands: make(map[string]*command),
	}
	s.mu.Lock()
	n := 0
	for _, other := range s.shells {
		if other.owner.key == user.key {
			n++
		}
	}
	if n >= s.cfg.MaxShellsPerUser {
		s.mu.Unlock()
		s.logf("user %s is over MaxShellsPerUser (%d)", user.name, s.cfg.MaxShellsPerUser)
		return nil, faultShellQuota(s.cfg.MaxShellsPerUser)
	}
	s.shells[sh.id] = sh
	s.stats.OpenShells++
	s.stats.ShellsCreated++
	s.mu.Unlock()
	s.logf("user %s from %s created shell %s", user.name, ip, sh.id)

	body := `<x:ResourceCreated><a:Address>` + esc(env.Header.To) + `</a:Address><a:ReferenceParameters>` +
		`<w:ResourceURI>` + resourceCmd + `</w:ResourceURI><w:SelectorSet><w:Selector Name="ShellId">` + sh.id +
		`</w:Selector></w:SelectorSet></a:ReferenceParameters></x:ResourceCreated>` +
		`<rsp:Shell><rsp:ShellId>` + sh.id + `</rsp:ShellId><rsp:ResourceUri>` + resourceCmd + `</rsp:ResourceUri>` +
		`<rsp:Owner>` + esc(user.name) + `</rsp:Owner><rsp:ClientIP>` + esc(ip) + `</rsp:ClientIP>` +
		`<rsp:IdleTimeOut>PT7200.000S</rsp:IdleTimeOut><rsp:InputStreams>` + esc(in) + `</rsp:InputStreams>` +
		`<rsp:OutputStreams>` + esc(out) + `</rsp:OutputStreams><rsp:ShellRunTime>P0DT0H0M0S</rsp:ShellRunTime>` +
		`<rsp:ShellInactivity>P0DT0H0M0S</rsp:ShellInactivity></rsp:Shell>`
	return responseEnvelope(nsTransfer+"/CreateResponse", env.Header.MessageID, body), nil
}

func (s *Server) deleteShell(sh *shell, env *envelope) ([]byte, *soapFault) {
	s.mu.Lock()
	if _, ok := s.shells[sh.id]; ok {
		delete(s.shells, sh.id)
		s.stats.OpenShells--
	}
	s.mu.Unlock()
	sh.closeAll()
	s.logf("user %s deleted shell %s", sh.owner.name, sh.id)
	return responseEnvelope(nsTransfer+"/DeleteResponse", env.Header.MessageID, ""), nil
}

func (s *Server) command(sh *shell, env *envelope) ([]byte, *soapFault) {
	cl := env.Body.CommandLine
	if cl == nil {
		return nil, faultInvalidXML("The Command request has no rsp:CommandLine element.")
	}
	// WinRS builds the command line from Command and the Arguments,
	// separated by spaces, and hands it to "cmd.exe /c".
	line := cl.Command
	for _, a := range cl.Arguments {
		line += " " + a
	}
	skipCmd := strings.EqualFold(env.option("WINRS_SKIP_CMD_SHELL"), "TRUE")
	inv, perr := interpretCommandLine(line, s.cfg.MaxCommandLine, skipCmd)
	if perr != nil {
		return nil, faultProcess(perr)
	}

	c := newCommand(withSession(s.baseCtx, s, sh.owner))
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.cancel()
		return nil, faultShellNotFound(sh.id)
	}
	s.running.Add(1)
	s.stats.CommandsStarted++
	s.stats.RunningCommands++
	s.mu.Unlock()
	sh.mu.Lock()
	sh.commands[c.id] = c
	sh.mu.Unlock()
	s.logf("user %s started command %s in shell %s (%d characters)", sh.owner.name, c.id, sh.id, len(line))
	go s.run(c, inv)

	body := `<rsp:CommandResponse><rsp:CommandId>` + c.id + `</rsp:CommandId></rsp:CommandResponse>`
	return responseEnvelope(nsShell+"/CommandResponse", env.Header.MessageID, body), nil
}

// run is the simulated process: cmd.exe's verdict on the command line,
// then powershell.exe running the script through the Interpreter.
func (s *Server) run(c *command, inv invocation) {
	defer s.running.Done()
	defer s.count(func(st *Stats) { st.RunningCommands-- })
	var (
		stdout, stderr string
		exitCode       int
	)
	switch inv.kind {
	case invokeFail:
		stderr, exitCode = inv.stderr, inv.exitCode
	case invokeScript, invokeStdin:
		script := inv.script
		if inv.kind == invokeStdin {
			b, ok := c.readAllStdin()
			if !ok {
				c.finish("", "", ctrlCExitCode)
				return
			}
			// WINRS_CODEPAGE 65001, as masterzen/winrm asks for.
			script = string(b)
		}
		stdout, stderr, exitCode = s.interpret(c.ctx, script)
		if s.cfg.EmitCLIXML {
			stderr = toCLIXML(stderr)
		}
	}
	c.finish(stdout, stderr, exitCode)
}

func (s *Server) interpret(ctx context.Context, script string) (stdout, stderr string, exitCode int) {
	defer func() {
		if r := recover(); r != nil {
			s.logf("interpreter panicked: %v", r)
			stdout, stderr, exitCode = "", fmt.Sprintf("simulated powershell.exe crashed: %v\r\n", r), 1
		}
	}()
	return s.cfg.Interpreter.Run(ctx, script)
}

func (s *Server) send(sh *shell, env *envelope) ([]byte, *soapFault) {
	if env.Body.Send == nil {
		return nil, faultInvalidXML("The Send request has no rsp:Send element.")
	}
	for _, st := range env.Body.Send.Streams {
		if st.Name != "stdin" {
			return nil, faultInvalidXML(fmt.Sprintf("The shell has no input stream %q.", st.Name))
		}
		c := sh.get(st.CommandID)
		if c == nil {
			return nil, faultCommandNotFound(sh.id, st.CommandID)
		}
		data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(st.Data))
		if err != nil {
			return nil, faultInvalidXML("The stdin stream is not valid base64.")
		}
		c.writeStdin(data, strings.EqualFold(st.End, "true"))
	}
	return responseEnvelope(nsShell+"/SendResponse", env.Header.MessageID, `<rsp:SendResponse/>`), nil
}

func (s *Server) receive(ctx context.Context, sh *shell, env *envelope) ([]byte, *soapFault) {
	if env.Body.Receive == nil {
		return nil, faultInvalidXML("The Receive request has no rsp:Receive element.")
	}
	id := env.Body.Receive.DesiredStream.CommandID
	c := sh.get(id)
	if c == nil {
		return nil, faultCommandNotFound(sh.id, id)
	}
	// Raw bytes per response: what fits in the client's MaxEnvelopeSize
	// once base64-encoded, after room for the envelope itself.
	budget := max((env.maxEnvelopeSize()-2048)*3/4, 1024)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.baseCtx, cancel)
	defer stop()
	out, ok := c.receive(ctx, env.operationTimeout(), budget)
	if !ok {
		s.count(func(st *Stats) { st.Receives++; st.ReceiveTimeouts++ })
		return nil, faultTimedOut()
	}
	s.count(func(st *Stats) { st.Receives++ })

	var b strings.Builder
	b.WriteString(`<rsp:ReceiveResponse>`)
	for _, st := range []struct {
		name string
		data []byte
	}{{"stdout", out.stdout}, {"stderr", out.stderr}} {
		if len(st.data) > 0 || out.done {
			b.WriteString(`<rsp:Stream Name="` + st.name + `" CommandId="` + c.id + `"`)
			if out.done {
				b.WriteString(` End="true"`)
			}
			b.WriteString(`>` + base64.StdEncoding.EncodeToString(st.data) + `</rsp:Stream>`)
		}
	}
	if out.done {
		fmt.Fprintf(&b, `<rsp:CommandState CommandId="%s" State="%s"><rsp:ExitCode>%d</rsp:ExitCode></rsp:CommandState>`,
			c.id, stateDone, out.exitCode)
	} else {
		fmt.Fprintf(&b, `<rsp:CommandState CommandId="%s" State="%s"></rsp:CommandState>`, c.id, stateRunning)
	}
	b.WriteString(`</rsp:ReceiveResponse>`)
	return responseEnvelope(nsShell+"/ReceiveResponse", env.Header.MessageID, b.String()), nil
}

func (s *Server) signal(sh *shell, env *envelope) ([]byte, *soapFault) {
	sg := env.Body.Signal
	if sg == nil {
		return nil, faultInvalidXML("The Signal request has no rsp:Signal element.")
	}
	c := sh.get(sg.CommandID)
	if c == nil {
		return nil, faultCommandNotFound(sh.id, sg.CommandID)
	}
	switch strings.TrimSpace(sg.Code) {
	case signalTerminate:
		// The process is gone and so is the command: later requests for
		// it fail with InvalidSelectors.
		c.interrupt()
		sh.remove(c.id)
	case signalCtrlC, signalCtrlBreak:
		c.interrupt()
	default:
		return nil, faultInvalidXML(fmt.Sprintf("Unknown signal code %q.", sg.Code))
	}
	return responseEnvelope(nsShell+"/SignalResponse", env.Header.MessageID, `<rsp:SignalResponse/>`), nil
}

// Package transporttest provides an in-memory transport.Conn for tests of
// other packages that need no host: a Host stores named sections and runs
// scripts in a tiny command language, one command a line:
//
//	put NAME     store the script's stdin as section NAME
//	print NAME   print section NAME as "### portwarden:NAME" and its text
//	fail N       exit with status N (after the lines before it)
//
// firewall.Fake emits this language. Anything else makes the script exit 127
// with "command not found", as a shell would.
package transporttest

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"github.com/portwarden/portwarden/transport"
)

// sectionMarker begins a facts section; it is firewall.SectionMarker,
// written out because transport knows nothing of firewalls.
const sectionMarker = "### portwarden:"

// Host is a fake host: what it stores outlives the connections to it. The
// zero value has no sections and sees the controller as 192.0.2.1.
type Host struct {
	// Local is what its connections' LocalAddr returns; zero means
	// 192.0.2.1.
	Local netip.Addr

	mu       sync.Mutex
	sections map[string]string
	scripts  []transport.Script
}

// Conn opens a connection to the host.
func (h *Host) Conn() transport.Conn { return &conn{host: h} }

type conn struct {
	host   *Host
	mu     sync.Mutex
	closed bool
}

func (c *conn) Run(ctx context.Context, s transport.Script) (transport.Result, error) {
	if err := ctx.Err(); err != nil {
		return transport.Result{}, err
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return transport.Result{}, fmt.Errorf("running script: connection closed")
	}
	return c.host.run(s)
}

func (c *conn) LocalAddr() netip.Addr {
	if c.host.Local.IsValid() {
		return c.host.Local
	}
	return netip.MustParseAddr("192.0.2.1")
}

// Close makes the connection refuse further scripts; the host keeps its
// sections.
func (c *conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func (h *Host) run(s transport.Script) (transport.Result, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.scripts = append(h.scripts, s)
	if s.Shell != "sh" {
		return transport.Result{}, fmt.Errorf("running script: shell %q is not supported", s.Shell)
	}
	var out, errOut strings.Builder
	sc := bufio.NewScanner(strings.NewReader(s.Body))
	for sc.Scan() {
		cmd, arg, _ := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		switch cmd {
		case "":
		case "put":
			if h.sections == nil {
				h.sections = map[string]string{}
			}
			h.sections[arg] = string(s.Stdin)
		case "print":
			text := h.sections[arg]
			if text != "" && !strings.HasSuffix(text, "\n") {
				text += "\n"
			}
			fmt.Fprintf(&out, "%s%s\n%s", sectionMarker, arg, text)
		case "fail":
			code, err := strconv.Atoi(arg)
			if err != nil || code == 0 {
				code = 1
			}
			return transport.Result{Stdout: []byte(out.String()), Stderr: []byte(errOut.String()), ExitCode: code}, nil
		default:
			fmt.Fprintf(&errOut, "sh: %s: command not found\n", cmd)
			return transport.Result{Stdout: []byte(out.String()), Stderr: []byte(errOut.String()), ExitCode: 127}, nil
		}
	}
	return transport.Result{Stdout: []byte(out.String())}, nil
}

// Section returns what the host stores under name.
func (h *Host) Section(name string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sections[name]
}

// Scripts returns the scripts the host ran, in order.
func (h *Host) Scripts() []transport.Script {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]transport.Script(nil), h.scripts...)
}

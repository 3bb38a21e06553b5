package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portwarden/portwarden/firewall"
	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/rule"
	"github.com/portwarden/portwarden/transport"
)

// guardedHost answers like a guarded Linux apply: "apply" arms a revert
// (or reports the lock busy), "confirm" and "revert" act on it.
type guardedHost struct {
	mu             sync.Mutex
	rules          string // what the host has
	old            string
	armed          bool
	lockBusy       bool
	dieAfterApply  bool // the pooled connection dies once the apply ran
	dead           bool
	hangAfterApply bool // the pooled connection stops answering once the apply ran
	hung           bool
	confirmed      bool
}

func (g *guardedHost) Run(ctx context.Context, s transport.Script) (transport.Result, error) {
	return g.run(ctx, s, false)
}

// freshConn is a new connection to a guardedHost: it works when the one
// held from the apply died.
type freshConn struct{ *guardedHost }

func (f freshConn) Run(ctx context.Context, s transport.Script) (transport.Result, error) {
	return f.run(ctx, s, true)
}

func (g *guardedHost) run(ctx context.Context, s transport.Script, fresh bool) (transport.Result, error) {
	g.mu.Lock()
	if g.hung && !fresh {
		g.mu.Unlock()
		<-ctx.Done()
		return transport.Result{}, ctx.Err()
	}
	defer g.mu.Unlock()
	out := func(sec, body string) transport.Result {
		return transport.Result{Stdout: []byte(firewall.SectionMarker + sec + "\n" + body + firewall.SectionMarker + "rules\n" + g.rules + "\n")}
	}
	switch {
	case s.Body == "facts":
		return out("x", ""), nil
	case g.dead && !fresh:
		return transport.Result{}, errors.New("connection reset by peer")
	case strings.HasPrefix(s.Body, "apply "):
		if g.lockBusy {
			return transport.Result{ExitCode: 1, Stdout: []byte(firewall.SectionMarker + "apply\nlock=busy\noutcome=unchanged\n")}, nil
		}
		g.old, g.rules, g.armed = g.rules, strings.TrimPrefix(s.Body, "apply "), true
		g.dead, g.hung = g.dieAfterApply, g.hangAfterApply
		return out("apply", "outcome=applied\nconfirm=apply.Ab12Cd34\n"), nil
	case s.Body == "confirm apply.Ab12Cd34" && g.armed:
		g.armed, g.confirmed = false, true
		return out("confirm", "result=confirmed\n"), nil
	case s.Body == "revert apply.Ab12Cd34" && g.armed:
		g.armed, g.rules = false, g.old
		return out("confirm", "result=reverted\n"), nil
	}
	return out("confirm", "result=unknown\n"), nil
}
func (g *guardedHost) LocalAddr() netip.Addr { return netip.Addr{} }
func (g *guardedHost) Close() error          { return nil }

// guardedFleet dials the pooled connection once; later dials (the
// confirm's) and reach checks fail when lockedOut.
type guardedFleet struct {
	host      *guardedHost
	lockedOut bool
	dials     int
	reaches   int
}

func (f *guardedFleet) Dial(ctx context.Context, _ *inventory.Host) (transport.Conn, error) {
	f.dials++
	if ctx.Err() != nil {
		return nil, fmt.Errorf("connecting: %w", ctx.Err())
	}
	if f.dials > 1 && f.lockedOut {
		return nil, errors.New("connecting: timed out after 3s")
	}
	if f.dials > 1 {
		return freshConn{f.host}, nil
	}
	return f.host, nil
}

func (f *guardedFleet) Reach(context.Context, *inventory.Host) error {
	f.reaches++
	if f.lockedOut {
		return errors.New("reaching ssh on 198.18.7.10:22 with a new connection: timed out after 3s")
	}
	return nil
}

// loginFleet is a guardedFleet whose Dialer cannot check a greeting.
type loginFleet struct{ f *guardedFleet }

func (l loginFleet) Dial(ctx context.Context, h *inventory.Host) (transport.Conn, error) {
	return l.f.Dial(ctx, h)
}
func (*guardedFleet) FactsScript(*inventory.Host) (firewall.Script, error) {
	return firewall.Script{Shell: "sh", Body: "facts"}, nil
}
func (*guardedFleet) Backend(*inventory.Host, firewall.Facts) (firewall.Backend, error) {
	return guardedBackend{}, nil
}

type guardedBackend struct{ memBackend }

func (guardedBackend) Confirm(id string) (firewall.Script, error) {
	return firewall.Script{Body: "confirm " + id}, nil
}
func (guardedBackend) RevertNow(id string) (firewall.Script, error) {
	return firewall.Script{Body: "revert " + id}, nil
}

func TestEngineCommitConfirmed(t *testing.T) {
	for _, tc := range []struct {
		name            string
		by              ConfirmBy
		noReacher       bool // the Dialer cannot check a greeting
		lockedOut, dead bool
		hang            bool // the open connection hangs after the apply
		lockBusy        bool
		wantLeft        Left
		wantErr         string
		wantRules       string
		// the dials in all (the apply's and any new login) and the
		// greetings checked, when the apply was made
		wantDials, wantReaches int
	}{
		{name: "greeting: confirmed over the open connection", wantLeft: LeftApplied, wantRules: "tcp/6162", wantDials: 1, wantReaches: 1},
		{name: "login: confirmed over a new connection", by: ConfirmByLogin, wantLeft: LeftApplied, wantRules: "tcp/6162", wantDials: 2},
		{name: "a dialer without greetings: confirmed over a new login", noReacher: true, wantLeft: LeftApplied, wantRules: "tcp/6162", wantDials: 2},
		{name: "greeting, the open connection gone: confirmed over a new login", dead: true, wantLeft: LeftApplied, wantRules: "tcp/6162", wantDials: 2, wantReaches: 1},
		{name: "greeting, the open connection hangs: confirmed over a new login in time", hang: true, wantLeft: LeftApplied, wantRules: "tcp/6162", wantDials: 2, wantReaches: 1},
		{name: "greeting, locked out: reverted at once over the open connection", lockedOut: true, wantLeft: LeftRolledBack,
			wantErr: "rolled back: the controller could not reconnect: reaching ssh", wantRules: "", wantDials: 1, wantReaches: 1},
		{name: "login, locked out: reverted at once over the open connection", by: ConfirmByLogin, lockedOut: true, wantLeft: LeftRolledBack,
			wantErr: "rolled back: the controller could not reconnect: connecting", wantRules: "", wantDials: 2},
		{name: "locked out and the open connection gone: the host reverts by itself", lockedOut: true, dead: true,
			wantLeft: LeftReverting, wantErr: "rolls back by itself", wantRules: "tcp/6162", wantDials: 1, wantReaches: 1},
		{name: "lock busy", lockBusy: true, wantLeft: LeftUnchanged, wantErr: "another portwarden run holds the lock on h1", wantDials: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := &guardedHost{lockBusy: tc.lockBusy}
			f := &guardedFleet{host: g, lockedOut: tc.lockedOut}
			var d Dialer = f
			if tc.noReacher {
				d = loginFleet{f}
			}
			timeout := 30 * time.Second
			if tc.hang {
				timeout = 5 * time.Second // the held connection gets half of the 4 s left
			}
			e := &Engine{Dialer: d, Platform: f, Guard: firewall.Guard{ConfirmTimeout: timeout}, ConfirmBy: tc.by}
			plans := e.Plan(context.Background(), memRules("h1"))
			g.dieAfterApply, g.hangAfterApply = tc.dead, tc.hang
			e.Apply(context.Background(), plans)
			p := plans[0]
			if p.Left != tc.wantLeft {
				t.Errorf("left %q, want %q (error %v)", p.Left, tc.wantLeft, p.ApplyErr)
			}
			if tc.wantErr == "" && p.ApplyErr != nil || tc.wantErr != "" && (p.ApplyErr == nil || !strings.Contains(p.ApplyErr.Error(), tc.wantErr)) {
				t.Errorf("error %v, want %q", p.ApplyErr, tc.wantErr)
			}
			if p.Applied != (tc.wantLeft == LeftApplied) {
				t.Errorf("applied %v with left %q", p.Applied, p.Left)
			}
			if tc.lockedOut && !errors.Is(p.ApplyErr, ErrNotConfirmed) {
				t.Errorf("error %v does not wrap ErrNotConfirmed", p.ApplyErr)
			}
			if !tc.lockBusy && g.rules != tc.wantRules {
				t.Errorf("host has %q, want %q", g.rules, tc.wantRules)
			}
			if tc.wantLeft == LeftApplied && !g.confirmed {
				t.Error("applied but never confirmed")
			}
			if f.dials != tc.wantDials || f.reaches != tc.wantReaches {
				t.Errorf("%d dials and %d greetings, want %d and %d", f.dials, f.reaches, tc.wantDials, tc.wantReaches)
			}
		})
	}
}

func TestParseConfirmBy(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ConfirmBy
		err  bool
	}{
		{"greeting", ConfirmByGreeting, false},
		{"login", ConfirmByLogin, false},
		{"", "", true},
		{"Login", "", true},
		{"tcp", "", true},
	} {
		got, err := ParseConfirmBy(tc.in)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("ParseConfirmBy(%q) = %q, %v", tc.in, got, err)
		}
	}
}

// sessionHost answers the facts script with a session section, as a
// Linux host does.
type sessionHost struct {
	memHost
	session string
}

func (s *sessionHost) Run(ctx context.Context, sc transport.Script) (transport.Result, error) {
	res, err := s.memHost.Run(ctx, sc)
	res.Stdout = append([]byte(firewall.SectionMarker+"session\n"+s.session+"\n"), res.Stdout...)
	return res, err
}

type sessionFleet struct {
	memFleet
	h *sessionHost
}

func (f sessionFleet) Dial(context.Context, *inventory.Host) (transport.Conn, error) { return f.h, nil }

// TestManagementSourceIsTheHostsView: in enforce mode the management
// source is the address the host saw the session come from, not the
// controller's own idea of its address (10.9.9.9 here); a host that does
// not say is not planned.
func TestManagementSourceIsTheHostsView(t *testing.T) {
	for _, tc := range []struct {
		session, want, wantErr string
	}{
		{"ssh_connection=198.18.7.1 50022 198.18.7.10 22", "198.18.7.1/32", ""},
		{"ssh_connection=", "", "$SSH_CONNECTION"},
	} {
		f := sessionFleet{h: &sessionHost{memHost: memHost{name: "h1"}, session: tc.session}}
		e := &Engine{Dialer: f, Platform: f}
		rules := memRules("h1")
		rules[0].Host.Mode = rule.Enforce
		rules[0].Host.SSH = &transport.SSHConfig{Port: 22}
		p := e.Plan(context.Background(), rules)[0]
		if tc.wantErr != "" {
			if p.Err == nil || !strings.Contains(p.Err.Error(), tc.wantErr) {
				t.Errorf("session %q: error %v, want %q", tc.session, p.Err, tc.wantErr)
			}
			continue
		}
		if p.Err != nil {
			t.Fatalf("session %q: %v", tc.session, p.Err)
		}
		var got []string
		for _, s := range p.Desired.ManagementSources {
			got = append(got, s.String())
		}
		if strings.Join(got, ",") != tc.want {
			t.Errorf("session %q: management sources %v, want %s", tc.session, got, tc.want)
		}
	}
}

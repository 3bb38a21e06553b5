package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/portwarden/portwarden/firewall"
	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/transport"
)

// Left says what an apply left a host with, so that the summary can say
// it truthfully.
type Left string

const (
	// LeftUnchanged: nothing was changed on the host.
	LeftUnchanged Left = "unchanged"
	// LeftApplied: the new rules are live and persisted (and confirmed).
	LeftApplied Left = "applied"
	// LeftRolledBack: the change was made, then undone; the host has its
	// previous rules, live and persisted.
	LeftRolledBack Left = "rolled back"
	// LeftReverting: the change may be live, and the host's armed revert
	// restores the previous rules by itself when the confirm timeout ends.
	LeftReverting Left = "reverting by itself"
	// LeftUnknown: nobody knows; plan shows what the host has.
	LeftUnknown Left = "unknown"
)

// AsItWas reports whether the host holds what it held before the run.
func (l Left) AsItWas() bool { return l == LeftUnchanged || l == LeftRolledBack }

// LockBusyError is the apply error of a host whose lock another
// portwarden run held for the whole wait.
type LockBusyError struct{ Host string }

func (e *LockBusyError) Error() string {
	return "another portwarden run holds the lock on " + e.Host
}

// ErrNotConfirmed is wrapped by the apply error of a host whose change the
// controller could not confirm: a new connection did not get in (or, with
// ConfirmByLogin, did not log in).
var ErrNotConfirmed = errors.New("rolled back: the controller could not reconnect")

// ConfirmBy is how the engine proves, after an apply, that the new rules
// still let the controller in before it cancels the host's armed revert.
type ConfirmBy string

const (
	// ConfirmByGreeting (the default, also the zero value) opens a new
	// TCP connection to the management service along the route the next
	// run takes (directly, or through the run's bastion connection) and
	// reads the service's own greeting: sshd's identification line, the
	// WS-Management listener's answer to an unauthenticated request (over
	// TLS with the certificate rules of a login). The confirm script then
	// goes over the connection still open from the apply.
	ConfirmByGreeting ConfirmBy = "greeting"
	// ConfirmByLogin opens a whole new connection as the next run would
	// (key exchange, authentication, a session) and sends the confirm
	// script over it.
	ConfirmByLogin ConfirmBy = "login"
)

// ParseConfirmBy reads a --confirm-by value.
func ParseConfirmBy(s string) (ConfirmBy, error) {
	switch c := ConfirmBy(s); c {
	case ConfirmByGreeting, ConfirmByLogin:
		return c, nil
	}
	return "", fmt.Errorf("unknown confirm method %q (want %q or %q)", s, ConfirmByGreeting, ConfirmByLogin)
}

// Reacher checks that a new connection to a host's management service
// gets in and is answered by that service, without logging in.
// TransportDialer is one.
type Reacher interface {
	Reach(ctx context.Context, h *inventory.Host) error
}

// confirmMargin is how long before the host's revert fires the confirm
// must have been sent: past it, the controller lets the host revert.
const confirmMargin = time.Second

// confirm proves that a new connection to the host gets in (see
// ConfirmBy: its greeting, or a whole login) and cancels the armed revert
// id. If no new connection gets in, the change may have cut the
// controller off: it asks the host to revert at once over the connection
// still open (established traffic survives a lockout), and otherwise
// leaves the host to revert by itself.
func (e *Engine) confirm(ctx context.Context, p *HostPlan, old transport.Conn, conf firewall.Confirmer, id string, started time.Time) error {
	name := p.Host.Name
	e.hooks().HostStart(name, "confirm")
	err := e.confirmNew(ctx, p, old, conf, id, started)
	if err == nil {
		p.Left = LeftApplied
		e.hooks().HostDone(name, "confirm", nil)
		return nil
	}
	var late *lateConfirm
	if errors.As(err, &late) {
		p.Left = LeftRolledBack
		e.hooks().HostDone(name, "confirm", err)
		return err
	}
	err = fmt.Errorf("%w: %w", ErrNotConfirmed, err)
	s, rerr := conf.RevertNow(id)
	if rerr == nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
		var res transport.Result
		res, rerr = old.Run(rctx, scriptFor(p.Host, s, 0))
		cancel()
		if rerr == nil {
			f := firewall.ParseFacts(string(res.Stdout))
			switch firewall.ParseApplyReport(f).Confirm {
			case "reverted":
				p.Left = LeftRolledBack
				if st, serr := p.backend.State(f); serr == nil {
					p.After = &st
				}
				err = fmt.Errorf("%w; reverted at once over the connection still open", err)
			case "reverting":
				p.Left = LeftRolledBack
				err = fmt.Errorf("%w; the host reverted by itself", err)
			default:
				rerr = errors.New("the host knows no such armed revert")
			}
		}
	}
	if rerr != nil {
		p.Left = LeftReverting
		err = fmt.Errorf("%w; the host rolls back by itself %s after the apply started (reverting at once failed too: %v)",
			err, e.Guard.ConfirmTimeout, rerr)
	}
	e.hooks().HostDone(name, "confirm", err)
	return err
}

// lateConfirm: the new connection worked, but the host's revert had
// already started.
type lateConfirm struct{}

func (*lateConfirm) Error() string {
	return "rolled back: the confirm came after the host's revert had started (raise --confirm-timeout)"
}

// confirmNew proves a new connection gets in and sends the confirm
// script, within the confirm deadline.
func (e *Engine) confirmNew(ctx context.Context, p *HostPlan, old transport.Conn, conf firewall.Confirmer, id string, started time.Time) error {
	s, err := conf.Confirm(id)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithDeadline(ctx, started.Add(e.Guard.ConfirmTimeout-confirmMargin))
	defer cancel()
	r, greet := e.Dialer.(Reacher)
	if !greet || e.ConfirmBy == ConfirmByLogin {
		return e.confirmByLogin(cctx, p, s, id)
	}
	if err := r.Reach(cctx, p.Host); err != nil {
		return err
	}
	// The held connection gets half of what is left, so that a new login
	// still has time if it broke.
	octx := cctx
	if d, ok := cctx.Deadline(); ok {
		var ocancel context.CancelFunc
		octx, ocancel = context.WithTimeout(cctx, time.Until(d)/2)
		defer ocancel()
	}
	res, err := old.Run(octx, scriptFor(p.Host, s, 0))
	if err != nil {
		// New connections get in but the one held from the apply broke
		// (a flow the host's new rules do not pass, a dead peer): confirm
		// over a new login instead.
		return e.confirmByLogin(cctx, p, s, id)
	}
	return confirmResult(res, id)
}

// confirmByLogin opens a new connection exactly as the next run would (the
// Dialer: same address, port, credentials, host-key check and bastion;
// not the engine's pooled connection) and sends the confirm script over it.
func (e *Engine) confirmByLogin(ctx context.Context, p *HostPlan, s firewall.Script, id string) error {
	c, err := e.Dialer.Dial(ctx, p.Host)
	if err != nil {
		return err
	}
	defer c.Close()
	res, err := c.Run(ctx, scriptFor(p.Host, s, 0))
	if err != nil {
		return fmt.Errorf("confirming: %w", err)
	}
	return confirmResult(res, id)
}

// confirmResult reads the confirm script's answer.
func confirmResult(res transport.Result, id string) error {
	switch firewall.ParseApplyReport(firewall.ParseFacts(string(res.Stdout))).Confirm {
	case "confirmed":
		return nil
	case "reverting":
		return &lateConfirm{}
	}
	return fmt.Errorf("confirming: the host knows no armed revert %s (exit %d): %s", id, res.ExitCode, firstLines(res.Stderr))
}

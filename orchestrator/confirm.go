package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/portwarden/portwarden/firewall"
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
// controller could not confirm over a new connection.
var ErrNotConfirmed = errors.New("rolled back: the controller could not reconnect")

// confirmMargin is how long before the host's revert fires the confirm
// must have been sent: past it, the controller lets the host revert.
const confirmMargin = time.Second

// confirm opens a new connection to the host exactly as the next run
// would (the Dialer, same address, port, credentials and bastion; not the
// engine's pooled connection) and cancels the armed revert id. If that
// fails, the change may have cut the controller off: it asks the host to
// revert at once over the connection still open (established traffic
// survives a lockout), and otherwise leaves the host to revert by itself.
func (e *Engine) confirm(ctx context.Context, p *HostPlan, old transport.Conn, conf firewall.Confirmer, id string, started time.Time) error {
	name := p.Host.Name
	e.hooks().HostStart(name, "confirm")
	err := e.confirmNew(ctx, p, conf, id, started)
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

func (e *Engine) confirmNew(ctx context.Context, p *HostPlan, conf firewall.Confirmer, id string, started time.Time) error {
	s, err := conf.Confirm(id)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithDeadline(ctx, started.Add(e.Guard.ConfirmTimeout-confirmMargin))
	defer cancel()
	c, err := e.Dialer.Dial(cctx, p.Host)
	if err != nil {
		return err
	}
	defer c.Close()
	res, err := c.Run(cctx, scriptFor(p.Host, s, 0))
	if err != nil {
		return fmt.Errorf("confirming: %w", err)
	}
	switch firewall.ParseApplyReport(firewall.ParseFacts(string(res.Stdout))).Confirm {
	case "confirmed":
		return nil
	case "reverting":
		return &lateConfirm{}
	}
	return fmt.Errorf("confirming: the host knows no armed revert %s (exit %d): %s", id, res.ExitCode, firstLines(res.Stderr))
}

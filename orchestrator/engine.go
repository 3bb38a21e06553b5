package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portwarden/portwarden/firewall"
	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/rule"
	"github.com/portwarden/portwarden/transport"
)

// Dialer opens the one connection a run uses for a host.
type Dialer interface {
	Dial(ctx context.Context, h *inventory.Host) (transport.Conn, error)
}

// Platform knows, per OS, which script gathers facts and which backend
// reads and writes a host's firewall.
type Platform interface {
	FactsScript(h *inventory.Host) (firewall.Script, error)
	Backend(h *inventory.Host, f firewall.Facts) (firewall.Backend, error)
}

// Hooks receive progress. Embed NoHooks to implement only some.
type Hooks interface {
	// HostStart and HostDone bracket one phase ("plan", "apply",
	// "probe") of one host.
	HostStart(host, phase string)
	HostDone(host, phase string, err error)
}

// NoHooks does nothing.
type NoHooks struct{}

func (NoHooks) HostStart(string, string)       {}
func (NoHooks) HostDone(string, string, error) {}

// HostPlan is one host's plan, and later its apply and verify results.
type HostPlan struct {
	Host    *inventory.Host
	Rules   *HostRules
	Backend string
	Desired firewall.Desired
	Current firewall.State
	Changes []Change
	// Controller is the controller's address as the host sees the
	// connection (invalid through a bastion that hides it).
	Controller netip.Addr
	// Err is set when the host could not be planned (unreachable, host
	// key refused, unknown firewall, unreadable state). Such a host is
	// never applied.
	Err error

	Applied  bool
	ApplyErr error
	// Left says what the apply left the host with (see Left).
	Left Left
	// After is the state read back from the apply script's own output.
	After *firewall.State
	// Remaining are differences still present after apply (or found by
	// verify): a non-empty list means verification failed.
	Remaining []Change

	backend firewall.Backend
	// facts are what the plan read from the host: Apply renders the
	// change against them. They are the largest part of a plan (a
	// ruleset dump, manager files), so they are kept only while an apply
	// may still need them: dropped at once for a host without changes or
	// when the engine only plans (PlanOnly, Verify), and after the apply.
	facts firewall.Facts
}

// Failed reports whether anything went wrong for the host.
func (p *HostPlan) Failed() bool {
	return p.Err != nil || p.ApplyErr != nil || len(p.Remaining) > 0
}

// Engine runs plan, apply and verify over a fleet, one connection per host,
// hosts in parallel.
type Engine struct {
	Dialer   Dialer
	Platform Platform
	Hooks    Hooks
	// Parallel is the number of hosts worked on at once; <= 0 means
	// DefaultParallel(runtime.NumCPU()).
	Parallel int
	// ManagementSources are kept open on the management port in enforce
	// mode, besides the controller's address as each host sees it.
	ManagementSources []netip.Prefix
	// Guard is how apply scripts protect hosts: the host-side lock and,
	// with a ConfirmTimeout, commit-confirmed (see firewall.Guard).
	Guard firewall.Guard
	// ConfirmBy is how a guarded apply is confirmed (see ConfirmBy); the
	// zero value is ConfirmByGreeting.
	ConfirmBy ConfirmBy
	// Stop, when closed, asks for a graceful stop: hosts already being
	// worked on finish, no new host is started. Canceling the context
	// instead interrupts the hosts in flight.
	Stop <-chan struct{}
	// Pool, when set, keeps the connections of this run for the next one
	// (Close hands them back) and hands out those of the last one: see
	// ConnPool. Confirming an apply never takes a pooled connection for
	// the new one (see confirm.go).
	Pool *ConnPool
	// PlanOnly says that no plan of this engine will be applied (plan,
	// report): each host's facts are dropped and its connection closed
	// (or pooled) as soon as it is planned; a later step that still wants
	// the host (a probe) dials it anew.
	PlanOnly bool

	mu    sync.Mutex
	conns map[string]*runConn
	// released are errors of connections closed before Close (release).
	released []error
}

// runConn is a host's connection during a run. A script that failed to
// run (not one that exited non-zero) may have left the connection broken:
// such a connection is not kept in the Pool.
type runConn struct {
	transport.Conn
	host   *inventory.Host
	broken atomic.Bool
}

func (c *runConn) Run(ctx context.Context, s transport.Script) (transport.Result, error) {
	res, err := c.Conn.Run(ctx, s)
	if err != nil {
		c.broken.Store(true)
	}
	return res, err
}

func (e *Engine) hooks() Hooks {
	if e.Hooks == nil {
		return NoHooks{}
	}
	return e.Hooks
}

// conn returns the host's connection, dialing it on first use.
func (e *Engine) conn(ctx context.Context, h *inventory.Host) (transport.Conn, error) {
	e.mu.Lock()
	rc := e.conns[h.Name]
	e.mu.Unlock()
	if rc != nil {
		return rc, nil
	}
	var c transport.Conn
	var err error
	if e.Pool != nil {
		c, err = e.Pool.get(ctx, h, e.Dialer)
	} else {
		c, err = e.Dialer.Dial(ctx, h)
	}
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.conns == nil {
		e.conns = map[string]*runConn{}
	}
	if won := e.conns[h.Name]; won != nil {
		// Another caller connected meanwhile: keep one connection per host.
		c.Close()
		return won, nil
	}
	rc = &runConn{Conn: c, host: h}
	e.conns[h.Name] = rc
	return rc, nil
}

// Close closes every connection the engine opened, or with a Pool hands
// the healthy ones back to it.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	for _, c := range e.conns {
		if err := e.closeConn(c); err != nil {
			errs = append(errs, err)
		}
	}
	e.conns = nil
	errs = append(errs, e.released...)
	e.released = nil
	return errors.Join(errs...)
}

// release closes a host's connection (or hands it back to the Pool) as
// soon as no later step of this engine can need it: a plan-only run
// (plan, report) holds one connection per host in flight, not one per
// host of the fleet, which bounds the controller's memory and sockets on
// a large fleet.
func (e *Engine) release(h *inventory.Host) {
	e.mu.Lock()
	rc := e.conns[h.Name]
	delete(e.conns, h.Name)
	e.mu.Unlock()
	if rc == nil {
		return
	}
	if err := e.closeConn(rc); err != nil {
		e.mu.Lock()
		e.released = append(e.released, err)
		e.mu.Unlock()
	}
}

// closeConn closes one connection of this run, or with a Pool hands it
// back (a healthy one is kept for the next run).
func (e *Engine) closeConn(c *runConn) error {
	var err error
	if e.Pool != nil {
		err = e.Pool.put(c.host, c.Conn, !c.broken.Load())
	} else {
		err = c.Close()
	}
	if err != nil {
		return fmt.Errorf("closing connection to %s: %w", c.host.Name, err)
	}
	return nil
}

// each runs fn for every plan, at most Parallel at once.
func (e *Engine) each(ctx context.Context, plans []*HostPlan, fn func(ctx context.Context, p *HostPlan)) {
	n := e.Parallel
	if n <= 0 {
		n = DefaultParallel(runtime.NumCPU())
	}
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for _, p := range plans {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			case <-e.Stop:
				return
			}
			defer func() { <-sem }()
			select {
			case <-e.Stop:
				return // stopped while waiting for a slot
			default:
			}
			if ctx.Err() != nil {
				return // canceled while waiting: a slot and the cancel came at once
			}
			fn(ctx, p)
		}()
	}
	wg.Wait()
}

// Plan gathers every managed host's facts in one round trip each and diffs
// them against the computed rules. Unmanaged hosts get no plan.
func (e *Engine) Plan(ctx context.Context, rules []*HostRules) []*HostPlan {
	return e.plan(ctx, rules, !e.PlanOnly, nil)
}

// PlanEach is Plan handing each host's plan to each as soon as it is
// done: in inventory order (a host waits for the hosts before it, so
// output stays the same from run to run), one call at a time, while the
// hosts after it are still being planned. Hosts that a stop or a
// cancellation kept from starting come last, with their error set.
func (e *Engine) PlanEach(ctx context.Context, rules []*HostRules, each func(*HostPlan)) []*HostPlan {
	return e.plan(ctx, rules, !e.PlanOnly, each)
}

// plan is Plan; keep says whether the facts of hosts with changes are kept
// for Apply; each, if set, gets every plan as PlanEach says.
func (e *Engine) plan(ctx context.Context, rules []*HostRules, keep bool, each func(*HostPlan)) []*HostPlan {
	return e.run(ctx, rules, keep, nil, each)
}

// run plans every managed host in its parallel slot and then, if set,
// runs then on it in the same slot (Converge's apply) before handing the
// host on to each as PlanEach says.
func (e *Engine) run(ctx context.Context, rules []*HostRules, keep bool, then func(context.Context, *HostPlan), each func(*HostPlan)) []*HostPlan {
	var plans []*HostPlan
	for _, hr := range rules {
		if hr.Host.Managed {
			plans = append(plans, &HostPlan{Host: hr.Host, Rules: hr})
		}
	}
	// Hand plans on in order: done[i] once host i is planned; next is the
	// first plan not handed on yet.
	var mu sync.Mutex
	done := make([]bool, len(plans))
	index := make(map[*HostPlan]int, len(plans))
	for i, p := range plans {
		index[p] = i
	}
	next := 0
	handOn := func(i int) {
		if each == nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		done[i] = true
		for next < len(plans) && done[next] {
			each(plans[next])
			next++
		}
	}
	e.each(ctx, plans, func(ctx context.Context, p *HostPlan) {
		e.hooks().HostStart(p.Host.Name, "plan")
		p.Err = e.planHost(ctx, p)
		if p.Err == nil && ctx.Err() != nil {
			p.Err = ctx.Err()
		}
		if !keep || p.Err != nil || len(p.Changes) == 0 {
			p.facts = nil // no apply will need them
		}
		if e.PlanOnly {
			e.release(p.Host) // nothing after the plan runs on this host
		}
		e.hooks().HostDone(p.Host.Name, "plan", p.Err)
		if then != nil {
			then(ctx, p)
		}
		handOn(index[p])
	})
	for i, p := range plans {
		if p.Err == nil && p.Changes == nil && p.backend == nil {
			p.Err = e.notStarted(ctx)
			handOn(i)
		}
	}
	return plans
}

func (e *Engine) planHost(ctx context.Context, p *HostPlan) error {
	h := p.Host
	c, err := e.conn(ctx, h)
	if err != nil {
		return err // the transport says what it was connecting to
	}
	fs, err := e.Platform.FactsScript(h)
	if err != nil {
		return fmt.Errorf("preparing facts script: %w", err)
	}
	res, err := c.Run(ctx, scriptFor(h, fs, len(p.Rules.Rules)))
	if err != nil {
		return fmt.Errorf("gathering facts: %w", err)
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("gathering facts: script exited %d: %s", res.ExitCode, firstLines(res.Stderr))
	}
	facts := firewall.ParseFacts(string(res.Stdout))
	b, err := e.Platform.Backend(h, facts)
	if err != nil {
		return fmt.Errorf("choosing firewall backend: %w", err)
	}
	p.backend, p.Backend, p.facts = b, b.Name(), facts
	st, err := b.State(facts)
	if err != nil {
		return fmt.Errorf("reading %s state: %w", b.Name(), err)
	}
	p.Current = st
	p.Desired = p.Rules.Desired()
	p.Desired.ManagementPort = managementPort(h)
	if a, ok := controllerAddr(facts); ok {
		if h.SSH == nil || h.SSH.ProxyJump == nil {
			p.Controller = a
		}
		p.Desired.ManagementSources = append(p.Desired.ManagementSources, netip.PrefixFrom(a, a.BitLen()))
	} else if p.Desired.Mode == rule.Enforce {
		what := "$SSH_CONNECTION"
		if h.OS == "windows" {
			what = "the ClientIP of its WinRM shell (Get-WSManInstance -ResourceURI shell -Enumerate)"
		}
		return fmt.Errorf("enforce mode needs the controller's address as the host sees the session, and the host did not report %s: refusing to plan a default-drop policy that could lock the controller out", what)
	}
	p.Desired.ManagementSources = append(p.Desired.ManagementSources, e.ManagementSources...)
	p.Desired.ManagementSources = (rule.Rule{Sources: p.Desired.ManagementSources}).Normalize().Sources
	p.Changes = Diff(p.Rules, p.Desired, p.Current)
	if p.Changes == nil {
		p.Changes = []Change{}
	}
	return nil
}

// controllerAddr is the controller's address as the host sees it, from the
// host's own words: Linux hosts report $SSH_CONNECTION, Windows hosts the
// ClientIP of the WinRM shell that ran the facts script (see
// firewall.SessionClient). Behind NAT, a port forward or a bastion only
// the host knows it; the connection's local address would be a guess.
func controllerAddr(facts firewall.Facts) (netip.Addr, bool) {
	a, ok := firewall.SessionClient(facts)
	return a, ok && !a.IsUnspecified()
}

func managementPort(h *inventory.Host) uint16 {
	switch {
	case h.SSH != nil:
		return uint16(h.SSH.Port)
	case h.WinRM != nil:
		return uint16(h.WinRM.Port)
	}
	return 0
}

// Apply applies every plan that has changes and no error: one script per
// host, hosts in parallel. Each host's script is atomic on the host; the
// state it prints back is compared with the desired state.
func (e *Engine) Apply(ctx context.Context, plans []*HostPlan) {
	var todo []*HostPlan
	for _, p := range plans {
		if p.Err == nil && len(p.Changes) > 0 {
			todo = append(todo, p)
		}
	}
	e.each(ctx, todo, e.apply)
	for _, p := range todo {
		if !p.Applied && p.ApplyErr == nil {
			p.ApplyErr = e.notStarted(ctx)
		}
	}
}

// apply applies one planned host with changes: Apply and Converge each
// run it in the host's parallel slot.
func (e *Engine) apply(ctx context.Context, p *HostPlan) {
	e.hooks().HostStart(p.Host.Name, "apply")
	p.ApplyErr = e.applyHost(ctx, p)
	p.facts = nil // the apply was the last use
	e.hooks().HostDone(p.Host.Name, "apply", p.ApplyErr)
}

func (e *Engine) applyHost(ctx context.Context, p *HostPlan) error {
	if ctx.Err() != nil {
		// Canceled before the script was sent: the host has what it had.
		p.Left = LeftUnchanged
		return e.notStarted(ctx)
	}
	c, err := e.conn(ctx, p.Host)
	if err != nil {
		return err // the transport says what it was connecting to
	}
	if p.facts == nil {
		p.Left = LeftUnchanged
		return fmt.Errorf("applying: the plan kept no facts of the host (planned by an engine that only plans)")
	}
	d := p.Desired
	conf, guarded := p.backend.(firewall.Confirmer)
	if guarded {
		d.Guard = e.Guard
	}
	s, err := p.backend.Apply(p.facts, d)
	if err != nil {
		p.Left = LeftUnchanged
		return fmt.Errorf("rendering %s change: %w", p.backend.Name(), err)
	}
	started := time.Now()
	// The work is every rule written and every rule removed.
	res, err := c.Run(ctx, scriptFor(p.Host, s, len(d.Rules)+len(p.Current.Rules))) // never retried: the script may have started
	if err != nil {
		p.Left = LeftUnknown
		if guarded && e.Guard.ConfirmTimeout > 0 {
			p.Left = LeftReverting
			return fmt.Errorf("applying: %w; if the change was made, the host rolls back by itself %s after the apply started", err, e.Guard.ConfirmTimeout)
		}
		return fmt.Errorf("applying: %w", err)
	}
	facts := firewall.ParseFacts(string(res.Stdout))
	rep := firewall.ParseApplyReport(facts)
	if res.ExitCode != 0 {
		return e.applyFailed(p, guarded, rep, res)
	}
	switch {
	case !guarded || rep.Outcome == firewall.OutcomeApplied:
		p.Left = LeftApplied
	case rep.Outcome == firewall.OutcomeUnchanged:
		p.Left = LeftUnchanged // nothing needed changing on the host
	default:
		p.Left = LeftUnknown
		return fmt.Errorf("applying: the %s script exited 0 but did not report its outcome", p.backend.Name())
	}
	after, err := p.backend.State(facts)
	if err == nil {
		p.After = &after
		p.Remaining = Diff(p.Rules, p.Desired, after)
	}
	if rep.ConfirmID != "" {
		if cerr := e.confirm(ctx, p, c, conf, rep.ConfirmID, started); cerr != nil {
			p.Remaining = nil
			return cerr
		}
	}
	p.Applied = true
	if err != nil {
		return fmt.Errorf("reading back after apply: %w", err)
	}
	if len(p.Remaining) > 0 {
		return fmt.Errorf("read-back after apply still differs in %d place(s)", len(p.Remaining))
	}
	return nil
}

// applyFailed explains a failed apply script by what it left the host
// with.
func (e *Engine) applyFailed(p *HostPlan, guarded bool, rep firewall.ApplyReport, res transport.Result) error {
	name := p.backend.Name()
	switch {
	case rep.LockBusy:
		p.Left = LeftUnchanged
		return &LockBusyError{Host: p.Host.Name}
	case rep.Outcome == firewall.OutcomeRolledBack:
		p.Left = LeftRolledBack
		return fmt.Errorf("applying: the %s change was made, then rolled back: the host keeps the rules it had (exit %d): %s",
			name, res.ExitCode, firstLines(res.Stderr))
	case rep.Outcome == firewall.OutcomeUnchanged || !guarded:
		// An unguarded backend (firewall.Fake) is atomic by itself.
		p.Left = LeftUnchanged
	default:
		p.Left = LeftUnknown
	}
	return fmt.Errorf("applying: %s change failed (exit %d): %s", name, res.ExitCode, firstLines(res.Stderr))
}

// Verify re-reads every host and reports what still differs: a plan whose
// Remaining equals its Changes.
func (e *Engine) Verify(ctx context.Context, rules []*HostRules) []*HostPlan {
	plans := e.plan(ctx, rules, false, nil)
	for _, p := range plans {
		p.Remaining = p.Changes
	}
	return plans
}

// ErrStopped is the error of hosts that a graceful stop kept from starting.
var ErrStopped = errors.New("not started: stopped before this host's turn")

func (e *Engine) notStarted(ctx context.Context) error {
	if err := context.Cause(ctx); err != nil {
		return fmt.Errorf("not started: %w", err)
	}
	return ErrStopped
}

func firstLines(b []byte) string {
	s := strings.TrimSpace(string(b))
	lines := strings.Split(s, "\n")
	if len(lines) > 6 {
		lines = append(lines[:6], fmt.Sprintf("... (%d more lines)", len(lines)-6))
	}
	if s == "" {
		return "(no error output)"
	}
	return strings.Join(lines, "\n")
}

package orchestrator

import "context"

// HostEnder is implemented by Hooks that want to know when Converge is
// done with a host: HostEnd comes once per host that was started, after
// its last phase (its plan, or its apply and confirm), with the host's
// error (nil when it converged). A progress bar over hosts counts these;
// the phases' own HostStart and HostDone come as in Plan and Apply.
type HostEnder interface {
	HostEnd(host string, err error)
}

// Converge plans and applies every managed host as one pipeline in its
// parallel slot: plan, apply if the plan has changes (the script takes the
// host lock; commit-confirmed confirms over a new connection as in
// Apply), then release the host's connection (closed, or handed back to
// the Pool) and drop its facts. The controller so holds about Parallel
// connections and facts at once, not one per host of the fleet. It is for
// runs with nobody to approve the whole plan first (apply --auto-approve):
// a run that shows the plan for approval, or checks the hosts against a
// saved plan, needs every host planned before any is touched (Plan, then
// Apply).
//
// each, if set, gets every host as PlanEach hands plans on — in inventory
// order, one call at a time — but once the host's pipeline is over, so
// that its apply results are there. A host a plan error kept from applying
// has Err set and was never applied. A stop (Stop closed, e.g. by
// --max-failed or a first interrupt) lets the hosts in flight finish their
// whole pipeline and starts no new one; a canceled context interrupts
// them. A host that a stop or a cancellation kept from starting has Err
// set to a "not started" error (ErrStopped for a stop): nothing was sent
// to it.
func (e *Engine) Converge(ctx context.Context, rules []*HostRules, each func(*HostPlan)) []*HostPlan {
	return e.run(ctx, rules, true, func(ctx context.Context, p *HostPlan) {
		if p.Err == nil && len(p.Changes) > 0 {
			e.apply(ctx, p) // drops the facts
		}
		e.release(p.Host) // a probe after the run dials anew
		if he, ok := e.hooks().(HostEnder); ok {
			err := p.Err
			if err == nil {
				err = p.ApplyErr
			}
			he.HostEnd(p.Host.Name, err)
		}
	}, each)
}

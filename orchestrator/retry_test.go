package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/portwarden/portwarden/firewall"
	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/transport"
	"github.com/portwarden/portwarden/transport/transporttest"
)

// resetAfterApply runs scripts on a fake host, but an apply script's
// connection is reset once the host has run it: the worst case, a change
// made and its answer lost, with an error a dial retry would retry.
type resetAfterApply struct {
	fakeFleet
	dials atomic.Int32
}

func (f *resetAfterApply) Dial(ctx context.Context, h *inventory.Host) (transport.Conn, error) {
	f.dials.Add(1)
	c, err := f.fakeFleet.Dial(ctx, h)
	return resettingConn{c}, err
}

type resettingConn struct{ transport.Conn }

func (c resettingConn) Run(ctx context.Context, s transport.Script) (transport.Result, error) {
	res, err := c.Conn.Run(ctx, s)
	if err == nil && strings.HasPrefix(s.Body, "put ") {
		return transport.Result{}, fmt.Errorf("running script: %w", syscall.ECONNRESET)
	}
	return res, err
}

// TestApplyScriptNeverRetried: a script that may have started is never
// run again, even when it failed the way a connection retry would retry
// (a reset): the host ran its apply exactly once, is reported failed with
// the error, and what it is left with is not claimed to be known.
func TestApplyScriptNeverRetried(t *testing.T) {
	h := &transporttest.Host{}
	fleet := &resetAfterApply{fakeFleet: fakeFleet{backend: &firewall.Fake{}, hosts: map[string]*transporttest.Host{"repo": h}}}
	e := &Engine{Dialer: fleet, Platform: fleet.fakeFleet}
	defer e.Close()
	ctx := context.Background()
	plans := e.Plan(ctx, memRules("repo"))
	if plans[0].Err != nil || len(plans[0].Changes) == 0 {
		t.Fatalf("plan: %v, %d changes", plans[0].Err, len(plans[0].Changes))
	}
	e.Apply(ctx, plans)
	p := plans[0]
	if !p.Failed() || !errors.Is(p.ApplyErr, syscall.ECONNRESET) {
		t.Fatalf("apply: err %v, want the reset reported", p.ApplyErr)
	}
	if p.Left == LeftUnchanged || p.Left == "" {
		t.Errorf("left %q: a host whose apply may have run is not known to be unchanged", p.Left)
	}
	applies := 0
	for _, s := range h.Scripts() {
		if strings.HasPrefix(s.Body, "put ") {
			applies++
		}
	}
	if applies != 1 {
		t.Errorf("the apply script ran %d times, want exactly once", applies)
	}
	if n := len(fleet.backend.Applied()); n != 1 {
		t.Errorf("the backend rendered %d applies, want 1", n)
	}
	if n := fleet.dials.Load(); n != 1 {
		t.Errorf("%d dials, want 1: a failed apply is not rerun over a new connection", n)
	}
}

package bench

import (
	"context"
	"fmt"
	"testing"

	"github.com/portwarden/portwarden/firewall"
	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/lab"
	"github.com/portwarden/portwarden/orchestrator"
	"github.com/portwarden/portwarden/policies"
	"github.com/portwarden/portwarden/transport"
)

// BenchmarkWatchRoundLab measures a no-op watch round (plan of every host,
// nothing to change) over real OpenSSH hosts, with connections kept from
// the last round ("warm": one keepalive and one facts command per host, no
// handshake) and with new connections each round ("cold"). Compare warm
// with BenchmarkBareSSH at the same size: the target is at most half the
// floor (issue 11).
func BenchmarkWatchRoundLab(b *testing.B) {
	for _, n := range []int{10, 50} {
		b.Run(fmt.Sprintf("hosts%d", n), func(b *testing.B) {
			l := lab.UpForTest(b, lab.Options{Linux: n})
			pol, diags := policies.LoadBuiltin()
			if diags.HasErrors() {
				b.Fatal(diags)
			}
			inv, diags := inventory.Load(l.InventoryPath(), pol)
			if diags.HasErrors() {
				b.Fatal(diags)
			}
			rules, err := orchestrator.Compute(inv, pol, nil)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			dialer := orchestrator.TransportDialer{Handshakes: transport.NewHandshakes(transport.HandshakeLimits{})}
			// Converge once, so that every round after is a no-op.
			e := &orchestrator.Engine{Dialer: dialer, Platform: orchestrator.HostPlatform{}, Guard: firewall.Guard{}}
			e.Apply(ctx, e.Plan(ctx, rules))
			e.Close()
			for _, warm := range []bool{true, false} {
				name, pool := "cold", (*orchestrator.ConnPool)(nil)
				if warm {
					name, pool = "warm", &orchestrator.ConnPool{}
				}
				b.Run(name, func(b *testing.B) {
					round := func() {
						e := &orchestrator.Engine{Dialer: dialer, Platform: orchestrator.HostPlatform{}, Pool: pool}
						defer e.Close()
						for _, p := range e.Plan(ctx, rules) {
							if p.Err != nil || len(p.Changes) != 0 {
								b.Fatalf("%s: %v, %d changes", p.Host.Name, p.Err, len(p.Changes))
							}
						}
					}
					round() // warms the pool
					for b.Loop() {
						round()
					}
					if pool != nil {
						st := pool.Stats()
						b.ReportMetric(float64(st.Dials), "dials")
						pool.Close()
					}
				})
			}
		})
	}
}

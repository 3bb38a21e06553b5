package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/portwarden/portwarden/firewall"
	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/lab"
	"github.com/portwarden/portwarden/orchestrator"
	"github.com/portwarden/portwarden/policies"
	"github.com/portwarden/portwarden/transport"
)

// labInventory writes an inventory over every lab host; variant flips the
// roles so that each apply changes every host.
func labInventory(b *testing.B, l *lab.Lab, variant int) string {
	var s strings.Builder
	fmt.Fprintf(&s, "defaults {\n  ssh {\n    private_key = %q\n    known_hosts = %q\n  }\n}\n", l.KeyPath(), l.KnownHostsPath())
	fmt.Fprintf(&s, "host \"vbr\" {\n  address = %q\n  os = \"windows\"\n  roles = [\"backup_server\"]\n  managed = false\n}\n", l.Controller)
	roles := [][]string{{"backup_repository"}, {"guest_linux"}}
	for i, h := range l.Hosts {
		r := roles[(i+variant)%2]
		fmt.Fprintf(&s, "host %q {\n  address = %q\n  os = \"linux\"\n  roles = [%q]\n  persist_root = %q\n}\n", h.Name, h.Address, r[0], h.PersistRoot)
	}
	path := filepath.Join(b.TempDir(), fmt.Sprintf("inv%d.hcl", variant))
	if err := os.WriteFile(path, []byte(s.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkConvergeLab measures one whole run against a fleet of real
// OpenSSH hosts: connect, gather facts, plan, apply and read back, every
// host changed, hosts in parallel. Target (50 hosts): under 4.5 s per run.
func BenchmarkConvergeLab(b *testing.B) {
	for _, n := range []int{10, 50} {
		b.Run(fmt.Sprintf("hosts%d", n), func(b *testing.B) {
			l := lab.UpForTest(b, lab.Options{Linux: n})
			pol, diags := policies.LoadBuiltin()
			if diags.HasErrors() {
				b.Fatal(diags)
			}
			var invs [2]*inventory.Inventory
			for v := range invs {
				inv, diags := inventory.Load(labInventory(b, l, v), pol)
				if diags.HasErrors() {
					b.Fatal(diags)
				}
				invs[v] = inv
			}
			// no-confirm is the one-connection budget; confirm (the CLI's
			// default) adds one new connection and one command per host.
			i := 0 // alternates the inventories across sub-benchmarks, so every run changes every host
			for _, confirm := range []bool{false, true} {
				name, guard := "no-confirm", firewall.Guard{}
				if confirm {
					name, guard = "confirm", firewall.Guard{ConfirmTimeout: firewall.DefaultConfirmTimeout}
				}
				b.Run(name, func(b *testing.B) {
					ctx := context.Background()
					for b.Loop() {
						inv := invs[i%2]
						i++
						rules, err := orchestrator.Compute(inv, pol, nil)
						if err != nil {
							b.Fatal(err)
						}
						e := &orchestrator.Engine{Dialer: orchestrator.TransportDialer{}, Platform: orchestrator.HostPlatform{}, Parallel: 64, Guard: guard}
						plans := e.Plan(ctx, rules)
						e.Apply(ctx, plans)
						e.Close()
						for _, p := range plans {
							if p.Failed() || !p.Applied {
								b.Fatalf("%s: plan %v apply %v applied %v", p.Host.Name, p.Err, p.ApplyErr, p.Applied)
							}
						}
					}
				})
			}
		})
	}
}

// BenchmarkBareSSH is the floor BenchmarkConvergeLab is measured against:
// one SSH connection per host and one trivial command, hosts in parallel,
// with the same transport. On the lab every host shares this machine's
// CPUs, so both grow with the fleet; their ratio is what to watch (the
// design's budget: one connection and two round trips per host).
func BenchmarkBareSSH(b *testing.B) {
	for _, n := range []int{10, 50} {
		b.Run(fmt.Sprintf("hosts%d", n), func(b *testing.B) {
			l := lab.UpForTest(b, lab.Options{Linux: n})
			ctx := context.Background()
			for b.Loop() {
				errs := make(chan error, len(l.Hosts))
				for _, h := range l.Hosts {
					go func() {
						c, err := transport.DialSSH(ctx, transport.SSHConfig{Address: h.Address.String(), User: "root",
							PrivateKeyPath: l.KeyPath(), KnownHostsPath: l.KnownHostsPath()})
						if err != nil {
							errs <- err
							return
						}
						defer c.Close()
						_, err = c.Run(ctx, transport.Script{Shell: "sh", Body: "true"})
						errs <- err
					}()
				}
				for range l.Hosts {
					if err := <-errs; err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

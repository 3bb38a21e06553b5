package orchestrator

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/portwarden/portwarden/firewall"
	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/rule"
	"github.com/portwarden/portwarden/transport"
)

// Outcome is what one probe saw.
type Outcome string

const (
	// Open: the connection was accepted. Refused: the host answered with a
	// reset. Both mean the firewall let the SYN through.
	Open    Outcome = "open"
	Refused Outcome = "refused"
	// Blocked: no answer before the timeout, or an ICMP rejection: the
	// firewall dropped or rejected it.
	Blocked Outcome = "blocked"
	// NotProbed: UDP has no handshake to tell a drop from silence.
	NotProbed Outcome = "not_probed"
	// Failed: the probe itself could not run (no connection to the peer,
	// no bash on it).
	Failed Outcome = "error"
)

// Passed reports whether the outcome proves the port passes the firewall.
func (o Outcome) Passed() bool { return o == Open || o == Refused }

// Probe is one TCP connection attempt from a managed Linux peer to a port
// a rule opened for it.
type Probe struct {
	// Blocked is set for a negative probe: on a host in enforce mode, a
	// managed peer that no rule names must not get through.
	Blocked bool
	From    string // source host name; "" for the controller itself
	To      string // destination host name
	Addr    netip.Addr
	Proto   string
	Port    uint16
	RuleKey string
	Outcome Outcome
	Detail  string
}

// OK reports whether the probe saw what the policy wants: the port passes
// for a source, and is dropped for a peer that is no source. UDP and
// probes that could not run are not OK.
func (p *Probe) OK() bool {
	if p.Blocked {
		return p.Outcome == Blocked
	}
	return p.Outcome.Passed()
}

// ProbeTimeout is how long a probe waits for an answer before it counts
// the port as dropped.
var ProbeTimeout = 3 * time.Second

// PlanProbes lists the probes that test plans' desired rules: from every
// managed Linux host that a rule names as a source, to both ends of every
// port range of the rule. On hosts in enforce mode it adds, per TCP rule,
// one negative probe from the first managed Linux peer that the rule does
// not name (and that is not the controller-facing management port): it must
// be dropped. It is pure.
func PlanProbes(plans []*HostPlan, hosts []*inventory.Host, addrs Addresses) []*Probe {
	var out []*Probe
	for _, p := range plans {
		if p.Err != nil {
			continue
		}
		dst := addrs.of(p.Host)
		for _, r := range p.Desired.Rules {
			for _, src := range hosts {
				if !src.Managed || src.OS != "linux" || src == p.Host {
					continue
				}
				if !coversAny(r.Sources, addrs.of(src)) {
					continue
				}
				for _, a := range dst {
					if r.Protocol == "udp" {
						out = append(out, &Probe{From: src.Name, To: p.Host.Name, Addr: a, Proto: "udp",
							RuleKey: r.Key(), Outcome: NotProbed, Detail: "UDP is not probed"})
						continue
					}
					for _, port := range samplePorts(r.Ports) {
						out = append(out, &Probe{From: src.Name, To: p.Host.Name, Addr: a, Proto: "tcp", Port: port, RuleKey: r.Key()})
					}
				}
			}
			// The controller is a peer too when a rule names it (the
			// admins' network, a backup server running portwarden).
			if r.Protocol == "tcp" && p.Controller.IsValid() && coversAny(r.Sources, []netip.Addr{p.Controller}) {
				for _, a := range dst {
					for _, port := range samplePorts(r.Ports) {
						out = append(out, &Probe{From: "", To: p.Host.Name, Addr: a, Proto: "tcp", Port: port, RuleKey: r.Key()})
					}
				}
			}
			if p.Desired.Mode == rule.Enforce && r.Protocol == "tcp" {
				out = append(out, negativeProbe(p, r, hosts, addrs, dst)...)
			}
		}
	}
	return out
}

// negativeProbe picks a managed Linux peer that rule r does not name and
// probes the rule's first port from it, expecting a drop.
func negativeProbe(p *HostPlan, r rule.Rule, hosts []*inventory.Host, addrs Addresses, dst []netip.Addr) []*Probe {
	port := r.Ports[0].Lo
	if port == p.Desired.ManagementPort {
		return nil // kept open for the controller, whatever the rules say
	}
	for _, src := range hosts {
		if !src.Managed || src.OS != "linux" || src == p.Host {
			continue
		}
		sa := addrs.of(src)
		if len(sa) == 0 || coversAny(r.Sources, sa) || coversAny(p.Desired.ManagementSources, sa) {
			continue
		}
		var out []*Probe
		for _, a := range dst {
			out = append(out, &Probe{Blocked: true, From: src.Name, To: p.Host.Name, Addr: a, Proto: "tcp", Port: port, RuleKey: r.Key()})
		}
		return out
	}
	return nil
}

func coversAny(ps []netip.Prefix, as []netip.Addr) bool {
	for _, p := range ps {
		for _, a := range as {
			if p.Contains(a) {
				return true
			}
		}
	}
	return false
}

// samplePorts returns both ends of every range.
func samplePorts(ps []rule.PortRange) []uint16 {
	var out []uint16
	for _, p := range ps {
		out = append(out, p.Lo)
		if p.Hi != p.Lo {
			out = append(out, p.Hi)
		}
	}
	return out
}

// probeScript tests every probe of one source host in one round trip, all
// in parallel. It needs bash (for /dev/tcp) and timeout(1) on the peer.
// Only validated values reach the script (netip addresses without a zone,
// numbers), and the address is quoted all the same.
func probeScript(ps []*Probe) firewall.Script {
	var b strings.Builder
	secs := int(ProbeTimeout / time.Second)
	fmt.Fprintf(&b, `command -v bash >/dev/null 2>&1 || { echo "0 error bash not found on the probing host"; exit 0; }
command -v timeout >/dev/null 2>&1 || { echo "0 error timeout(1) not found on the probing host"; exit 0; }
p() {
  err=$(timeout %d bash -c 'exec 3<>"/dev/tcp/$1/$2"' _ "$2" "$3" 2>&1)
  rc=$?
  if [ $rc -eq 0 ]; then echo "$1 open"
  elif [ $rc -eq 124 ]; then echo "$1 blocked no answer in %ds"
  else case "$err" in
    *refused*) echo "$1 refused" ;;
    *) echo "$1 blocked $(printf '%%s' "$err" | tail -n 1 | sed 's/^.*: //')" ;;
  esac
  fi
}
echo "### portwarden:probes"
`, secs, secs)
	n := 0
	for i, pr := range ps {
		if pr.Outcome != "" {
			continue
		}
		fmt.Fprintf(&b, "p %d %s %d &\n", i+1, transport.ShellQuote(pr.Addr.String()), pr.Port)
		n++
		if n%64 == 0 {
			b.WriteString("wait\n")
		}
	}
	b.WriteString("wait\n")
	return firewall.Script{Shell: "sh", Body: b.String()}
}

// RunProbes runs the probes of each source host over that host's
// connection, sources in parallel, and fills in every probe's outcome.
func (e *Engine) RunProbes(ctx context.Context, inv *inventory.Inventory, probes []*Probe) {
	bySource := map[string][]*Probe{}
	var order []string
	for _, p := range probes {
		if p.Outcome != "" {
			continue
		}
		if bySource[p.From] == nil {
			order = append(order, p.From)
		}
		bySource[p.From] = append(bySource[p.From], p)
	}
	// The controller's own probes are plain dials from this process.
	if local := bySource[""]; len(local) > 0 {
		e.hooks().HostStart("controller", "probe")
		probeLocally(ctx, local)
		e.hooks().HostDone("controller", "probe", nil)
	}
	var plans []*HostPlan
	for _, name := range order {
		if name != "" {
			plans = append(plans, &HostPlan{Host: inv.Host(name)})
		}
	}
	e.each(ctx, plans, func(ctx context.Context, hp *HostPlan) {
		ps := bySource[hp.Host.Name]
		e.hooks().HostStart(hp.Host.Name, "probe")
		err := e.probeFrom(ctx, hp.Host, ps)
		if err != nil {
			for _, p := range ps {
				if p.Outcome == "" {
					p.Outcome, p.Detail = Failed, err.Error()
				}
			}
		}
		e.hooks().HostDone(hp.Host.Name, "probe", err)
	})
	for _, p := range probes {
		if p.Outcome == "" {
			p.Outcome, p.Detail = Failed, e.notStarted(ctx).Error()
		}
	}
}

func (e *Engine) probeFrom(ctx context.Context, h *inventory.Host, ps []*Probe) error {
	c, err := e.conn(ctx, h)
	if err != nil {
		return fmt.Errorf("connecting to probe source %s: %w", h.Name, err)
	}
	res, err := c.Run(ctx, scriptFor(h, probeScript(ps), len(ps)))
	if err != nil {
		return fmt.Errorf("probing from %s: %w", h.Name, err)
	}
	return parseProbeOutput(firewall.ParseFacts(string(res.Stdout))["probes"], ps)
}

// parseProbeOutput reads "ID OUTCOME [DETAIL]" lines into the probes.
func parseProbeOutput(out string, ps []*Probe) error {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), " ", 3)
		if len(f) < 2 {
			continue
		}
		id, err := strconv.Atoi(f[0])
		if err != nil {
			return fmt.Errorf("unexpected probe output %q", sc.Text())
		}
		detail := ""
		if len(f) == 3 {
			detail = f[2]
		}
		if id == 0 {
			return fmt.Errorf("%s", detail)
		}
		if id < 1 || id > len(ps) {
			return fmt.Errorf("unexpected probe id %d", id)
		}
		o := Outcome(f[1])
		if !slices.Contains([]Outcome{Open, Refused, Blocked}, o) {
			return fmt.Errorf("unexpected probe outcome %q", f[1])
		}
		ps[id-1].Outcome, ps[id-1].Detail = o, detail
	}
	return sc.Err()
}

// probeLocally dials each probe from the controller, all at once, and
// classifies the answer like the peers' probe script does.
func probeLocally(ctx context.Context, ps []*Probe) {
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
			defer cancel()
			var d net.Dialer
			c, err := d.DialContext(dctx, "tcp", net.JoinHostPort(p.Addr.String(), strconv.Itoa(int(p.Port))))
			switch {
			case err == nil:
				c.Close()
				p.Outcome = Open
			case errors.Is(err, syscall.ECONNREFUSED):
				p.Outcome = Refused
			case ctx.Err() != nil:
				p.Outcome, p.Detail = Failed, "not run: "+ctx.Err().Error()
			case dctx.Err() != nil:
				p.Outcome, p.Detail = Blocked, fmt.Sprintf("no answer in %s", ProbeTimeout)
			default:
				p.Outcome, p.Detail = Blocked, err.Error()
			}
		}()
	}
	wg.Wait()
}

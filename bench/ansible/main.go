// Command ansible is the Ansible comparison behind "make bench-ansible":
// for each size it applies portwarden's rules to a fresh lab of that many
// Linux hosts twice over, once with portwarden and once with Ansible
// (Debian's ansible package, ansible.builtin.iptables, forks = hosts),
// and times a converge from empty and a no-op run of each. The Ansible
// playbook is generated from "portwarden rules --format json" of the same
// lab, so both tools apply the same rules; each tool gets a lab of its
// own, built the same way, so neither sees the other's rules.
//
// The lab's hosts have no firewall manager running; where firewalld and
// ufw are installed on this machine (make deps installs both), every host
// has them installed but inactive (ufw ENABLED=no, no firewalld running),
// like a stock RHEL or Ubuntu server: the benchmark reports which.
//
// --extra-sources N adds N unmanaged backup servers to both tools'
// inventory (3 sources more per host and server: the issue compared at 53
// rules per host; the lab's own inventory gives 3-20).
//
//	go run ./bench/ansible --portwarden bin/portwarden --sizes "20 50"
//	go run ./bench/ansible --portwarden bin/portwarden --sizes 50 --extra-sources 16
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/portwarden/portwarden/bench/benchlab"
	"github.com/portwarden/portwarden/lab"
)

func main() { benchlab.Main("ansible", run) }

// result is one size's measurements.
type result struct {
	hosts                    int
	extra                    int // --extra-sources
	items, itemsLo, itemsHi  int
	managers                 string
	floor                    time.Duration
	pwConverge, pwNoOp       time.Duration
	ansConverge, ansNoOp     time.Duration
	ansChanged, ansNoOpChang int
	err                      error
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("ansible", flag.ContinueOnError)
	bin := fl.String("portwarden", "bin/portwarden", "the portwarden binary")
	sizes := fl.String("sizes", "20 50", "lab sizes (Linux hosts), separated by spaces or commas")
	extra := fl.Int("extra-sources", 0, "add this many unmanaged backup servers (scattered addresses) to each lab's inventory, for both tools: every host gets 3 more rules per server, toward the issue's comparison (53 per host)")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *extra < 0 || *extra > 120 {
		return fmt.Errorf("--extra-sources %d: want 0-120", *extra)
	}
	if _, err := exec.LookPath("ansible-playbook"); err != nil {
		return fmt.Errorf("needs Debian's ansible package (./scripts/deps.sh ansible): %w", err)
	}
	// The floor runs at the parallelism portwarden itself uses.
	exe, parallel, err := benchlab.Prepare(ctx, *bin, 0)
	if err != nil {
		return err
	}
	var ns []int
	for _, f := range strings.FieldsFunc(*sizes, func(r rune) bool { return r == ',' || r == ' ' }) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > lab.SmallLabHosts {
			return fmt.Errorf("bad size %q: want 1-%d", f, lab.SmallLabHosts)
		}
		ns = append(ns, n)
	}
	ver, _ := benchlab.Exec(ctx, nil, "ansible-playbook", "--version")
	fmt.Fprintf(stdout, "machine: %s\n%s\n\n", benchlab.Machine(), strings.SplitN(string(ver.Stdout), "\n", 2)[0])
	var results []result
	var errs []error
	for _, n := range ns {
		r := result{hosts: n, extra: *extra}
		r.err = errors.Join(measurePortwarden(ctx, exe, parallel, &r), measureAnsible(ctx, exe, &r))
		if r.err != nil {
			errs = append(errs, fmt.Errorf("%d hosts: %w", n, r.err))
		}
		fmt.Fprintf(stdout, "%3d hosts (%d to %d iptables rules each, %s): portwarden converge %s, no-op %s; ansible converge %s (changed=%d), no-op %s (changed=%d); floor %s\n",
			n, r.itemsLo, r.itemsHi, r.managers, benchlab.Seconds(r.pwConverge), benchlab.Seconds(r.pwNoOp),
			benchlab.Seconds(r.ansConverge), r.ansChanged, benchlab.Seconds(r.ansNoOp), r.ansNoOpChang, benchlab.Seconds(r.floor))
		results = append(results, r)
		if ctx.Err() != nil {
			break
		}
	}
	fmt.Fprintln(stdout, "\n| hosts | rules per host | portwarden converge | Ansible converge | × | portwarden no-op | Ansible no-op | × | floor |")
	fmt.Fprintln(stdout, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, r := range results {
		if r.err != nil {
			fmt.Fprintf(stdout, "| %d | failed: %s |\n", r.hosts, strings.ReplaceAll(r.err.Error(), "\n", " "))
			continue
		}
		fmt.Fprintf(stdout, "| %d | %d-%d | %s | %s | %.0f× | %s | %s | %.0f× | %s |\n", r.hosts, r.itemsLo, r.itemsHi,
			benchlab.Seconds(r.pwConverge), benchlab.Seconds(r.ansConverge), r.ansConverge.Seconds()/r.pwConverge.Seconds(),
			benchlab.Seconds(r.pwNoOp), benchlab.Seconds(r.ansNoOp), r.ansNoOp.Seconds()/r.pwNoOp.Seconds(), benchlab.Seconds(r.floor))
	}
	return errors.Join(errs...)
}

// inventoryFile is the lab's inventory, with extra (--extra-sources)
// backup servers added, written beside the lab, when extra is not 0.
func inventoryFile(l *lab.Lab, dir string, extra int) (string, error) {
	if extra == 0 {
		return l.InventoryPath(), nil
	}
	b, err := os.ReadFile(l.InventoryPath())
	if err != nil {
		return "", err
	}
	b = append(b, extraHosts(extra)...)
	path := filepath.Join(dir, "inventory.hcl")
	return path, os.WriteFile(path, b, 0o644)
}

// extraHosts are n unmanaged backup servers at every other address of
// 203.0.113.0/24 (TEST-NET-3; no two aggregate into one prefix, so each
// is a source of its own for both tools): every Linux host's backup
// server rules (SSH, the data movers' range, 6162) get n more sources.
func extraHosts(n int) string {
	var b strings.Builder
	b.WriteString("\n# bench/ansible --extra-sources\n")
	for i := range n {
		fmt.Fprintf(&b, "host \"bench_vbr%02d\" {\n  address = \"203.0.113.%d\"\n  os      = \"windows\"\n  roles   = [\"backup_server\"]\n  managed = false\n}\n", i+1, 1+2*i)
	}
	return b.String()
}

// withLab runs fn on a fresh lab of r.hosts Linux hosts and takes it down.
func withLab(ctx context.Context, n int, fn func(l *lab.Lab, dir string) error) error {
	dir, err := os.MkdirTemp("", fmt.Sprintf("portwarden-ansible-%d-", n))
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	upCtx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	l, _, err := benchlab.Up(upCtx, filepath.Join(dir, "lab"), n)
	if err != nil {
		return fmt.Errorf("lab up: %w", err)
	}
	err = fn(l, dir)
	if _, derr := benchlab.Down(l); derr != nil {
		err = errors.Join(err, fmt.Errorf("lab down: %w", derr))
	}
	return err
}

func measurePortwarden(ctx context.Context, exe string, parallel int, r *result) error {
	return withLab(ctx, r.hosts, func(l *lab.Lab, dir string) error {
		invPath, err := inventoryFile(l, dir, r.extra)
		if err != nil {
			return err
		}
		floor, _, err := benchlab.Floor(ctx, l, parallel)
		if err != nil {
			return fmt.Errorf("floor: %w", err)
		}
		r.floor = floor
		inv := []string{"--inventory", invPath, "--progress", "none"}
		conv, err := benchlab.Exec(ctx, nil, append([]string{exe, "apply", "--auto-approve"}, inv...)...)
		if err != nil {
			return err
		}
		if conv.ExitCode != 0 {
			return fmt.Errorf("portwarden apply exited %d: %s", conv.ExitCode, benchlab.Tail(conv.Stderr, 600))
		}
		r.pwConverge = conv.Wall
		noop, err := benchlab.Exec(ctx, nil, append([]string{exe, "plan", "--detailed-exitcode"}, inv...)...)
		if err != nil {
			return err
		}
		if noop.ExitCode != 0 {
			return fmt.Errorf("portwarden plan on converged hosts exited %d: %s", noop.ExitCode, benchlab.Tail(noop.Stderr, 600))
		}
		r.pwNoOp = noop.Wall
		return nil
	})
}

func measureAnsible(ctx context.Context, exe string, r *result) error {
	return withLab(ctx, r.hosts, func(l *lab.Lab, dir string) error {
		invPath, err := inventoryFile(l, dir, r.extra)
		if err != nil {
			return err
		}
		rules, err := benchlab.Exec(ctx, nil, exe, "rules", "--inventory", invPath, "--format", "json")
		if err != nil {
			return err
		}
		if rules.ExitCode != 0 {
			return fmt.Errorf("portwarden rules exited %d: %s", rules.ExitCode, benchlab.Tail(rules.Stderr, 600))
		}
		hosts, err := itemsFromRules(rules.Stdout)
		if err != nil {
			return err
		}
		r.items, r.itemsLo, r.itemsHi = itemCount(hosts)
		r.managers = managers(ctx, l, hosts[0].Name)
		adir := filepath.Join(dir, "ansible")
		if err := writeAnsible(adir, hosts, labPaths{Key: l.KeyPath(), KnownHosts: l.KnownHostsPath()}); err != nil {
			return err
		}
		play := func() (time.Duration, int, error) {
			res, err := benchlab.Exec(ctx, []string{"ANSIBLE_CONFIG=" + filepath.Join(adir, "ansible.cfg"), "ANSIBLE_HOME=" + adir, "ANSIBLE_NOCOLOR=1"},
				"ansible-playbook", filepath.Join(adir, "playbook.yml"))
			if err != nil {
				return 0, 0, err
			}
			changed, bad, perr := recap(res.Stdout)
			if res.ExitCode != 0 || bad > 0 || perr != nil {
				return res.Wall, changed, fmt.Errorf("ansible-playbook exited %d (%d hosts failed or unreachable, %v): %s", res.ExitCode, bad, perr, benchlab.Tail(res.Stdout, 800))
			}
			return res.Wall, changed, nil
		}
		if r.ansConverge, r.ansChanged, err = play(); err != nil {
			return err
		}
		if r.ansChanged != len(hosts) {
			return fmt.Errorf("the converge changed %d hosts, want %d", r.ansChanged, len(hosts))
		}
		if r.ansNoOp, r.ansNoOpChang, err = play(); err != nil {
			return err
		}
		if r.ansNoOpChang != 0 {
			return fmt.Errorf("the no-op run changed %d hosts", r.ansNoOpChang)
		}
		return checkApplied(ctx, l, hosts[0])
	})
}

func writeAnsible(dir string, hosts []hostItems, p labPaths) error {
	for _, d := range []string{dir, filepath.Join(dir, "host_vars"), filepath.Join(dir, "tmp"), filepath.Join(dir, "cp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	files := map[string][]byte{
		"inventory.ini": []byte(inventoryINI(hosts, p)),
		"playbook.yml":  []byte(playbook),
		"ansible.cfg":   []byte(ansibleCfg(dir, len(hosts), p)),
	}
	for _, h := range hosts {
		b, err := hostVars(h)
		if err != nil {
			return err
		}
		files[filepath.Join("host_vars", h.Name+".json")] = b
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return fmt.Errorf("writing the playbook: %w", err)
		}
	}
	return nil
}

var recapRE = regexp.MustCompile(`(?m)^\S+\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)`)

// recap reads ansible-playbook's PLAY RECAP: how many hosts changed, and
// how many failed or were unreachable.
func recap(out []byte) (changed, bad int, err error) {
	i := bytes.LastIndex(out, []byte("PLAY RECAP"))
	if i < 0 {
		return 0, 0, errors.New("no PLAY RECAP")
	}
	for _, m := range recapRE.FindAllSubmatch(out[i:], -1) {
		c, _ := strconv.Atoi(string(m[1]))
		u, _ := strconv.Atoi(string(m[2]))
		f, _ := strconv.Atoi(string(m[3]))
		if c > 0 {
			changed++
		}
		if u > 0 || f > 0 {
			bad++
		}
	}
	return changed, bad, nil
}

// managers says whether firewalld and ufw are installed on a host and
// whether either is active.
func managers(ctx context.Context, l *lab.Lab, host string) string {
	out, err := l.Exec(ctx, host, nil, "/bin/sh", "-c", `fw=no; ufw=no
# pgrep sees the whole machine: count only a firewalld in this host's network namespace.
running() { for p in $(pgrep -x "$1"); do [ "$(readlink /proc/$p/ns/net)" = "$(readlink /proc/self/ns/net)" ] && return 0; done; return 1; }
[ -x /usr/sbin/firewalld ] && fw="installed, $(running firewalld && echo running || echo not running)"
[ -x /usr/sbin/ufw ] && ufw="installed, $(grep -q '^ENABLED=yes' /etc/ufw/ufw.conf && echo enabled || echo ENABLED=no)"
echo "firewalld $fw; ufw $ufw"`)
	if err != nil {
		return "managers unknown: " + err.Error()
	}
	return strings.TrimSpace(string(out))
}

// checkApplied counts the rules Ansible left on a host: one per item.
func checkApplied(ctx context.Context, l *lab.Lab, h hostItems) error {
	out, err := l.Exec(ctx, h.Name, nil, "/bin/sh", "-c", "{ iptables -S INPUT; ip6tables -S INPUT; } | grep -c -- '--comment portwarden'")
	if err != nil {
		return fmt.Errorf("counting the rules on %s: %w", h.Name, err)
	}
	if got, _ := strconv.Atoi(strings.TrimSpace(string(out))); got != len(h.Items) {
		return fmt.Errorf("%s has %d rules commented portwarden, want %d", h.Name, got, len(h.Items))
	}
	return nil
}

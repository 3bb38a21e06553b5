package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// CommandError is a failed command with what it printed on stderr.
type CommandError struct {
	Argv   []string
	Stderr string
	Err    error
}

func (e *CommandError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" {
		return fmt.Sprintf("%s: %v", strings.Join(e.Argv, " "), e.Err)
	}
	return fmt.Sprintf("%s: %v: %s", strings.Join(e.Argv, " "), e.Err, msg)
}

func (e *CommandError) Unwrap() error { return e.Err }

// run runs a command and returns its stdout; a failure is a *CommandError.
func run(ctx context.Context, stdin []byte, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), &CommandError{Argv: append([]string{name}, args...), Stderr: stderr.String(), Err: err}
	}
	return stdout.Bytes(), nil
}

func ip(ctx context.Context, args ...string) error {
	_, err := run(ctx, nil, "ip", args...)
	return err
}

// claimID picks a free lab ID for a lab of up to SmallLabHosts hosts (any
// of 1-254) by creating its bridge: creating a link that exists fails, so
// two labs never get the same ID. IDs whose subnet is already routed in
// the root namespace are skipped.
func claimID(ctx context.Context) (int, error) { return claimIDIn(ctx, 254, subnetFor) }

// claimLargeID picks a free lab ID for a large lab: one of 1-LargeLabIDs,
// whose /21 in 198.19.0.0/16 is the lab's (largeSubnetFor). The bridge
// is the claim, as for small labs, so a large lab and a small lab (also
// one built by an older portwarden, which knows only 198.18.<ID>.0/24)
// never share an ID, and large labs never share a /21.
func claimLargeID(ctx context.Context) (int, error) {
	return claimIDIn(ctx, LargeLabIDs, largeSubnetFor)
}

func claimIDIn(ctx context.Context, n int, subnet func(int) netip.Prefix) (int, error) {
	start := rand.IntN(n)
	var lastErr error
	for k := range n {
		id := (start+k)%n + 1
		if subnetInUse(subnet(id)) {
			continue
		}
		err := ip(ctx, "link", "add", bridgeName(id), "type", "bridge")
		if err == nil {
			return id, nil
		}
		var ce *CommandError
		if errors.As(err, &ce) && strings.Contains(ce.Stderr, "File exists") {
			continue
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	if lastErr == nil {
		lastErr = fmt.Errorf("all %d lab ids are taken", n)
	}
	return 0, fmt.Errorf("claiming a lab id: %w", lastErr)
}

// Address plans. A lab of up to SmallLabHosts hosts is 198.18.<ID>.0/24,
// as it always was; a larger one (up to MaxHosts) is the /21
// 198.19.<8*(ID-1)>.0/21, so its ID is at most LargeLabIDs. Both are in
// the 198.18.0.0/15 benchmark range and never overlap: small labs never
// use 198.19.0.0/16.
const (
	// SmallLabHosts is the largest lab that fits in 198.18.<ID>.0/24
	// (hosts at .10 and up).
	SmallLabHosts = 240
	// LargeLabIDs is how many large labs can run at once: 198.19.0.0/16
	// holds 32 /21s.
	LargeLabIDs = 32
)

func subnetFor(id int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(id), 0}), 24)
}

// largeSubnetFor is the /21 of large lab id (1-LargeLabIDs).
func largeSubnetFor(id int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 19, byte(8 * (id - 1)), 0}), 21)
}

// labSubnet is the IPv4 subnet of lab id with n hosts.
func labSubnet(id, n int) netip.Prefix {
	if n > SmallLabHosts {
		return largeSubnetFor(id)
	}
	return subnetFor(id)
}

// subnet6For is the lab's IPv6 prefix: fd70:7764:0:<id>::/64, inside a
// unique local /48 ("pw" in its bytes) that nothing routes.
func subnet6For(id int) netip.Prefix {
	return netip.PrefixFrom(netip.AddrFrom16([16]byte{0xfd, 0x70, 0x77, 0x64, 0, 0, 0, byte(id)}), 64)
}

// hostAddr6 is host i's address in the lab's IPv6 subnet: ::<10+i>.
func hostAddr6(subnet6 netip.Prefix, i int) netip.Addr {
	b := subnet6.Addr().As16()
	b[14], b[15] = byte((10+i)>>8), byte(10+i)
	return netip.AddrFrom16(b)
}

// hostAddr is host i's address in the lab's IPv4 subnet: the subnet's
// address plus 10+i (198.18.<ID>.<10+i> in a small lab).
func hostAddr(subnet netip.Prefix, i int) netip.Addr {
	b := subnet.Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(10 + i)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// hostMAC is the MAC address of host i's eth0 in lab id: fixed, so that
// both ends can hold permanent neighbour entries (setupHostNet). The
// 02 prefix is a locally administered unicast address.
func hostMAC(id, i int) string {
	return fmt.Sprintf("02:70:77:%02x:%02x:%02x", id, (i>>8)&0xff, i&0xff)
}

// bridgeMAC is the lab bridge's (the controller's) MAC address.
func bridgeMAC(id int) string { return fmt.Sprintf("02:70:77:%02x:ff:ff", id) }

// subnetInUse reports whether an interface of the root namespace already
// has an address in p.
func subnetInUse(p netip.Prefix) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		pfx, err := netip.ParsePrefix(a.String())
		if err == nil && pfx.Overlaps(p) {
			return true
		}
	}
	return false
}

// setupBridge gives the claimed bridge the controller address. Where the
// kernel passes bridged traffic through the root namespace's iptables
// (br_netfilter), the bridge opts out: the lab's traffic between hosts must
// neither depend on nor touch the machine's own firewall. The option is
// the bridge's own; no root-namespace rule or sysctl changes. The bridge
// gets a fixed MAC address (bridgeMAC), which the hosts' permanent
// neighbour entries for the controller name.
func (l *Lab) setupBridge(ctx context.Context) error {
	if _, err := os.Stat("/sys/class/net/" + l.Bridge + "/bridge/nf_call_iptables"); err == nil {
		if err := ip(ctx, "link", "set", l.Bridge, "type", "bridge", "nf_call_iptables", "0", "nf_call_ip6tables", "0", "nf_call_arptables", "0"); err != nil {
			return fmt.Errorf("keeping bridge %s out of the root namespace's firewall: %w", l.Bridge, err)
		}
	}
	if err := ip(ctx, "link", "set", "dev", l.Bridge, "address", bridgeMAC(l.ID)); err != nil {
		return fmt.Errorf("configuring bridge %s: %w", l.Bridge, err)
	}
	if err := ip(ctx, "addr", "add", netip.PrefixFrom(l.Controller, l.Subnet.Bits()).String(), "dev", l.Bridge); err != nil {
		return fmt.Errorf("configuring bridge %s: %w", l.Bridge, err)
	}
	if l.Controller6.IsValid() {
		if err := ip(ctx, "addr", "add", netip.PrefixFrom(l.Controller6, l.Subnet6.Bits()).String(), "dev", l.Bridge, "nodad"); err != nil {
			return fmt.Errorf("configuring bridge %s: %w", l.Bridge, err)
		}
	}
	// The alias names the lab's directory, so that "ip -d link" or
	// "portwarden-lab list" tell where a forgotten lab's state is.
	if err := ip(ctx, "link", "set", "dev", l.Bridge, "alias", bridgeAlias(l.Dir)); err != nil {
		return fmt.Errorf("configuring bridge %s: %w", l.Bridge, err)
	}
	if err := ip(ctx, "link", "set", l.Bridge, "up"); err != nil {
		return fmt.Errorf("configuring bridge %s: %w", l.Bridge, err)
	}
	return nil
}

// setupHostNet makes the host's namespace and plugs it into the bridge:
// one "ip -batch" in the root namespace and one in the host's, so that a
// host costs two processes however large the lab.
//
// The controller and the host know each other's MAC address through
// permanent neighbour entries (on the bridge and on the host's eth0), for
// IPv4 and IPv6. The kernel's neighbour tables are shared by every
// namespace of the machine and hold at most gc_thresh3 (1024 by default)
// entries that it may collect; permanent entries do not count against it,
// so a lab of 1,000 hosts (2,000 entries per family on the two sides)
// needs no change to a sysctl (which, being the table's, would be the
// machine's even when written inside a namespace). The root side of the
// veth gets no IPv6 link-local address (addrgenmode none): a bridge port
// needs none, and 1,000 of them would fill the root namespace's routes.
func (l *Lab) setupHostNet(ctx context.Context, h Host) error {
	root := []string{
		"netns add " + h.Namespace,
		"link add " + h.Veth + " type veth peer name eth0" + macOpt(h.MAC) + " netns " + h.Namespace,
		"link set " + h.Veth + " addrgenmode none",
		"link set " + h.Veth + " master " + l.Bridge + " up",
	}
	in := []string{
		"link set lo up",
		"addr add " + netip.PrefixFrom(h.Address, l.Subnet.Bits()).String() + " dev eth0",
	}
	if h.Address6.IsValid() {
		in = append(in, "addr add "+netip.PrefixFrom(h.Address6, l.Subnet6.Bits()).String()+" dev eth0 nodad")
	}
	in = append(in, "link set eth0 up")
	if h.MAC != "" {
		root = append(root, "neigh replace "+h.Address.String()+" lladdr "+h.MAC+" dev "+l.Bridge+" nud permanent")
		in = append(in, "neigh replace "+l.Controller.String()+" lladdr "+bridgeMAC(l.ID)+" dev eth0 nud permanent")
		if h.Address6.IsValid() && l.Controller6.IsValid() {
			root = append(root, "neigh replace "+h.Address6.String()+" lladdr "+h.MAC+" dev "+l.Bridge+" nud permanent")
			in = append(in, "neigh replace "+l.Controller6.String()+" lladdr "+bridgeMAC(l.ID)+" dev eth0 nud permanent")
		}
	}
	if _, err := run(ctx, []byte(strings.Join(root, "\n")+"\n"), "ip", "-batch", "-"); err != nil {
		return fmt.Errorf("setting up the network of %s: %w", h.Name, err)
	}
	if _, err := run(ctx, []byte(strings.Join(in, "\n")+"\n"), "ip", "-n", h.Namespace, "-batch", "-"); err != nil {
		return fmt.Errorf("setting up the network of %s: %w", h.Name, err)
	}
	return nil
}

func macOpt(mac string) string {
	if mac == "" {
		return ""
	}
	return " address " + mac
}

// netnsExists reports whether the namespace ns is there (its file in
// /run/netns).
func netnsExists(_ context.Context, ns string) bool {
	_, err := os.Lstat(filepath.Join("/run/netns", ns))
	return err == nil
}

// ipBatch runs ip commands, one per line, in one "ip -force -batch":
// every line runs, and the error names the ones that failed.
func ipBatch(ctx context.Context, lines []string) error {
	if len(lines) == 0 {
		return nil
	}
	_, err := run(ctx, []byte(strings.Join(lines, "\n")+"\n"), "ip", "-force", "-batch", "-")
	return err
}

// rootLinkExists reports whether the root namespace has a link called
// name, without starting a process (this process's /sys is the root
// namespace's).
func rootLinkExists(name string) bool {
	_, err := os.Lstat(filepath.Join("/sys/class/net", name))
	return err == nil
}

// delLink deletes a link; one that is already gone is fine.
func delLink(ctx context.Context, name string) error {
	err := ip(ctx, "link", "del", "dev", name)
	var ce *CommandError
	if errors.As(err, &ce) && strings.Contains(ce.Stderr, "Cannot find device") {
		return nil
	}
	return err
}

func linkExists(ctx context.Context, name string) bool {
	return ip(ctx, "link", "show", "dev", name) == nil
}

const aliasPrefix = "portwarden-lab "

func bridgeAlias(dir string) string {
	a := aliasPrefix + dir
	if len(a) > 255 {
		a = a[:255]
	}
	return a
}

// bridgeOwner returns the lab directory named by a bridge's alias, "" if
// the bridge does not exist or has no alias yet.
func bridgeOwner(ctx context.Context, bridge string) string {
	out, err := run(ctx, nil, "ip", "-j", "link", "show", "dev", bridge)
	if err != nil {
		return ""
	}
	var links []struct {
		Alias string `json:"ifalias"`
	}
	if json.Unmarshal(out, &links) != nil || len(links) != 1 {
		return ""
	}
	dir, _ := strings.CutPrefix(links[0].Alias, aliasPrefix)
	return dir
}

// Running is a lab found on this machine by its bridge.
type Running struct {
	ID     int
	Bridge string
	Dir    string // from the bridge's alias; "" if unknown
}

// List finds the labs on this machine, by their bridges, also those whose
// process is gone: take them down with Load(Dir) and Down, or
// "portwarden-lab down --dir DIR".
func List(ctx context.Context) ([]Running, error) {
	out, err := run(ctx, nil, "ip", "-j", "link", "show", "type", "bridge")
	if err != nil {
		return nil, fmt.Errorf("listing labs: %w", err)
	}
	var links []struct {
		Name  string `json:"ifname"`
		Alias string `json:"ifalias"`
	}
	if err := json.Unmarshal(out, &links); err != nil {
		return nil, fmt.Errorf("listing labs: reading ip's output: %w", err)
	}
	var labs []Running
	for _, link := range links {
		id, err := strconv.Atoi(strings.TrimPrefix(link.Name, "pwbr"))
		if err != nil || bridgeName(id) != link.Name {
			continue
		}
		r := Running{ID: id, Bridge: link.Name}
		if dir, ok := strings.CutPrefix(link.Alias, aliasPrefix); ok {
			r.Dir = dir
		}
		labs = append(labs, r)
	}
	return labs, nil
}

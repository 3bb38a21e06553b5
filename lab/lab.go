// Package lab runs portwarden's test lab: hosts in network namespaces on one
// bridge in the root namespace, each Linux host with a real OpenSSH server,
// each Windows host with a simulated WS-Management server (cmd/portwarden-lab
// serve-windows).
//
// Naming and addressing. A lab has a small numeric ID (1-254), claimed
// atomically by creating the bridge "pwbr<ID>" (the kernel refuses a second
// bridge of that name, so labs made at once by several processes never
// collide). The lab network is 198.18.<ID>.0/24 (inside the 198.18.0.0/15
// benchmark range); the bridge holds 198.18.<ID>.1, which is the
// controller's address. Host i (Linux hosts first, then Windows hosts) is
// named lnx01.., win01.., lives in the namespace "pw<ID>-<name>", reaches the
// bridge through the veth pair "pw<ID>h<i>" (root side) / "eth0" (host side),
// and has the address 198.18.<ID>.<10+i>/24. The lab is dual-stack: the
// bridge also holds fd70:7764:0:<ID hex>::1/64 (a unique local prefix) and
// host i fd70:7764:0:<ID hex>::<10+i, hex>; Linux hosts' sshd listens on
// both. Nothing is routed or NATed out of the lab, the bridge opts out of
// br_netfilter, and the root namespace's firewall is never touched.
//
// Each Linux host also has a mount namespace of its own (hostfs.go): a
// private, writable /etc, /var/lib and /var/log (overlays on the
// machine's), a fresh /run, and DIR/hosts/NAME/home over /root; the rest
// of the file system is the machine's. Every process of the host runs in
// both namespaces, so what a host persists (its nftables.conf, iptables
// rules, firewalld or ufw configuration) is its own and survives Reboot.
// A host may run firewalld or ufw (Options.Firewalld, Options.UFW;
// Host.Manager). Exec runs commands in both of a host's namespaces;
// Listen, ListenPacket and DialFrom open sockets in its network namespace.
// docs/lab.md describes hosts, their boot and cleanup.
//
// Windows hosts run "portwarden-lab serve-windows": the simulated WinRM
// service of lab/wsman (HTTPS on 5986, NTLM and Basic for Administrator)
// whose PowerShell is the firewall model of lab/winfw, enforced with
// nftables in the host's namespace; the model's state is
// DIR/hosts/NAME/winfw.json.
//
// Files in the lab directory: lab.json (the state Load and Down read),
// id_ed25519 and id_ed25519.pub (the controller's key, authorized for root on
// every Linux host), authorized_keys, known_hosts (every Linux host's key,
// under its address), inventory.hcl (an example inventory that assigns
// Veeam roles round-robin), and hosts/NAME/ with the host's sshd_config,
// host key, sshd.log, sshd.pid, boot.log, home/ and fs/ (the upper layers
// of its overlays); ns/ holds the hosts' mount namespaces.
// With Windows hosts also ca.pem (the lab CA), winrm-password (0600, no
// trailing newline) and hosts/NAME/cert.pem, key.pem, serve.log and
// winfw.json. With Kerberos (kdc.go) also krb5.conf, kdc/ (the KDC's
// kdc.conf, database, stash and logs) and hosts/NAME/http.keytab.
package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// Host OS names, as in the inventory.
const (
	Linux   = "linux"
	Windows = "windows"
)

// MaxHosts is the largest number of hosts (Linux and Windows) in one lab.
const MaxHosts = 240

// Options says what lab to build.
type Options struct {
	// Dir holds the lab's files. It is created if missing.
	Dir string
	// Linux and Windows are the numbers of hosts of each kind.
	Linux, Windows int
	// Firewalld and UFW are how many of the Linux hosts run firewalld
	// (with a D-Bus system bus) or have ufw enabled. Linux hosts come in
	// that order: first those without a manager, then the firewalld
	// hosts, then the ufw hosts (HostsWith lists them).
	Firewalld, UFW int
	// BaselineDrop gives every Linux host without a manager a pre-existing
	// nftables table
	// "inet baseline" whose input chain drops everything but established
	// traffic, loopback and SSH, like a hardened server.
	BaselineDrop bool
	// PasswordAuth lets the lab's sshds accept password authentication.
	// Root stays key-only (PermitRootLogin prohibit-password), so this is
	// for users that a test creates.
	PasswordAuth bool
	// Kerberos runs a real MIT KDC for the realm KerberosRealm in a
	// namespace of its own (kdc.go) and makes the Windows hosts accept
	// Kerberos only, as in a domain that disabled NTLM; the inventory
	// uses auth = "kerberos". It needs Windows hosts and the KDC
	// programs (make deps).
	Kerberos bool
	// LabBinary is the portwarden-lab executable that serves Windows hosts
	// ("portwarden-lab serve-windows"). Default: $PORTWARDEN_LAB_BIN, else
	// the running executable if it is portwarden-lab.
	LabBinary string
}

// Host is one lab host.
type Host struct {
	Name      string     `json:"name"`
	OS        string     `json:"os"` // Linux or Windows
	Namespace string     `json:"namespace"`
	Address   netip.Addr `json:"address"`
	// Address6 is the host's IPv6 address (ULA, in Subnet6): the lab is
	// dual-stack, so rules and probes can be tested over both families.
	Address6 netip.Addr `json:"address6"`
	// Port is the management port: 22 (SSH) or 5986 (WinRM over HTTPS).
	Port int `json:"port"`
	// Veth is the root namespace's end of the host's veth pair.
	Veth  string   `json:"veth"`
	Roles []string `json:"roles"`
	// Dir is DIR/hosts/NAME.
	Dir string `json:"dir"`
	// Manager is the Linux host's firewall manager: ManagerNone,
	// ManagerFirewalld or ManagerUFW.
	Manager string `json:"manager,omitempty"`
	// PersistRoot is where portwarden writes the files that persist a
	// firewall on this Linux host: "/", since its /etc is its own.
	PersistRoot string `json:"persist_root,omitempty"`
	// HostKey is the host's SSH public key in authorized_keys format.
	HostKey string `json:"host_key,omitempty"`
	// PID is the host's server process (sshd or serve-windows), 0 if not
	// started.
	PID int `json:"pid,omitempty"`
}

// Lab is a running lab.
type Lab struct {
	Dir        string       `json:"dir"`
	ID         int          `json:"id"`
	Bridge     string       `json:"bridge"`
	Subnet     netip.Prefix `json:"subnet"`
	Controller netip.Addr   `json:"controller"` // the bridge's address
	// Subnet6 and Controller6 are the IPv6 side: fd70:7764:0:<ID>::/64
	// (a unique local prefix), the bridge holding ::1.
	Subnet6     netip.Prefix `json:"subnet6"`
	Controller6 netip.Addr   `json:"controller6"`
	Hosts       []Host       `json:"hosts"`
	// KDC is the Kerberos KDC of a lab built with Options.Kerberos: MIT
	// krb5kdc in the namespace pw<ID>-kdc on the bridge; nil otherwise.
	KDC *Host `json:"kdc,omitempty"`

	BaselineDrop bool `json:"baseline_drop"`
	PasswordAuth bool `json:"password_auth"`

	// CreatedDir is true when Up created Dir, so Down removes it.
	CreatedDir bool `json:"created_dir"`

	mu sync.Mutex
	// procs are the server processes this process started; Down reaps them.
	procs map[int]*proc
}

type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

const stateFile = "lab.json"

// Paths of the lab's files.

// KeyPath is the controller's private key (DIR/id_ed25519).
func (l *Lab) KeyPath() string { return filepath.Join(l.Dir, "id_ed25519") }

// KnownHostsPath is DIR/known_hosts.
func (l *Lab) KnownHostsPath() string { return filepath.Join(l.Dir, "known_hosts") }

// InventoryPath is DIR/inventory.hcl.
func (l *Lab) InventoryPath() string { return filepath.Join(l.Dir, "inventory.hcl") }

// CACertPath is DIR/ca.pem, the CA of the Windows hosts' certificates.
func (l *Lab) CACertPath() string { return filepath.Join(l.Dir, "ca.pem") }

// WinRMPasswordPath is DIR/winrm-password, the Windows hosts' Administrator
// password.
func (l *Lab) WinRMPasswordPath() string { return filepath.Join(l.Dir, "winrm-password") }

// AuthorizedKeysPath is DIR/authorized_keys: the keys every lab sshd
// accepts for every user.
func (l *Lab) AuthorizedKeysPath() string { return filepath.Join(l.Dir, "authorized_keys") }

// Host returns the host called name.
func (l *Lab) Host(name string) (Host, bool) {
	for _, h := range l.Hosts {
		if h.Name == name {
			return h, true
		}
	}
	return Host{}, false
}

// Load reads the lab whose files are in dir.
func Load(dir string) (*Lab, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("loading lab: %w", err)
	}
	b, err := os.ReadFile(filepath.Join(abs, stateFile))
	if err != nil {
		return nil, fmt.Errorf("loading lab: %w", err)
	}
	l := &Lab{}
	if err := json.Unmarshal(b, l); err != nil {
		return nil, fmt.Errorf("loading lab from %s: %w", filepath.Join(abs, stateFile), err)
	}
	if l.ID < 1 || l.ID > 254 || l.Bridge != bridgeName(l.ID) {
		return nil, fmt.Errorf("loading lab from %s: bad lab id %d or bridge %q", abs, l.ID, l.Bridge)
	}
	for _, h := range l.netHosts() {
		if h.Namespace != nsName(l.ID, h.Name) {
			return nil, fmt.Errorf("loading lab from %s: host %s has foreign namespace %q", abs, h.Name, h.Namespace)
		}
	}
	l.Dir = abs
	return l, nil
}

// save writes lab.json. It is called as soon as the lab's names are known
// and after every step, so that Down can undo a partial Up.
func (l *Lab) save() error {
	l.mu.Lock()
	b, err := json.MarshalIndent(l, "", "  ")
	l.mu.Unlock()
	if err != nil {
		return fmt.Errorf("saving lab state: %w", err)
	}
	tmp := filepath.Join(l.Dir, stateFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("saving lab state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(l.Dir, stateFile)); err != nil {
		return fmt.Errorf("saving lab state: %w", err)
	}
	return nil
}

func bridgeName(id int) string       { return fmt.Sprintf("pwbr%d", id) }
func nsName(id int, h string) string { return fmt.Sprintf("pw%d-%s", id, h) }
func vethName(id, i int) string      { return fmt.Sprintf("pw%dh%d", id, i) }

// Available says why a lab cannot be built here, or nil if it can: it
// needs root, ip, nft, nsenter, unshare and sshd.
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("the lab needs root (network namespaces)")
	}
	for _, tool := range []string{"ip", "nft", "nsenter", "unshare"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("the lab needs %s: %w", tool, err)
		}
	}
	if _, err := sshdPath(); err != nil {
		return err
	}
	return nil
}

// Exec runs argv inside host's namespaces (network and, for a Linux host,
// mount: it sees the host's own /etc and /run) and returns its standard
// output. A failure includes the command's standard error.
func (l *Lab) Exec(ctx context.Context, host string, stdin []byte, argv ...string) ([]byte, error) {
	h, ok := l.Host(host)
	if !ok {
		return nil, fmt.Errorf("exec on %s: no such lab host", host)
	}
	if len(argv) == 0 {
		return nil, fmt.Errorf("exec on %s: no command", host)
	}
	out, err := l.hostRun(ctx, h, stdin, argv...)
	if err != nil {
		return out, fmt.Errorf("exec %q on %s: %w", argv, host, err)
	}
	return out, nil
}

package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// startTimeout bounds how long a host's server may take to listen.
const startTimeout = 15 * time.Second

// Up builds a lab. On failure it removes whatever it had made. The lab runs
// until Down, also after this process exits.
func Up(ctx context.Context, o Options) (_ *Lab, err error) {
	if o.Linux < 0 || o.Windows < 0 || o.Linux+o.Windows == 0 {
		return nil, errors.New("starting lab: want at least one host")
	}
	if o.Firewalld < 0 || o.UFW < 0 || o.Firewalld+o.UFW > o.Linux {
		return nil, fmt.Errorf("starting lab: %d firewalld and %d ufw hosts do not fit in %d Linux hosts", o.Firewalld, o.UFW, o.Linux)
	}
	if o.Linux+o.Windows > MaxHosts {
		return nil, fmt.Errorf("starting lab: at most %d hosts", MaxHosts)
	}
	if o.Dir == "" {
		return nil, errors.New("starting lab: no directory")
	}
	if err := Available(); err != nil {
		return nil, fmt.Errorf("starting lab: %w", err)
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("starting lab: %w", err)
	}
	if err := checkLabDir(dir); err != nil {
		return nil, fmt.Errorf("starting lab: %w", err)
	}
	if o.Firewalld > 0 {
		if _, err := exec.LookPath("firewalld"); err != nil {
			return nil, fmt.Errorf("starting lab: firewalld hosts need Debian's firewalld package (make deps): %w", err)
		}
	}
	if o.UFW > 0 {
		if _, err := exec.LookPath("ufw"); err != nil {
			return nil, fmt.Errorf("starting lab: ufw hosts need Debian's ufw package (make deps): %w", err)
		}
	}
	createdDir := false
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("starting lab: %w", err)
		}
		createdDir = true
	}
	if _, err := os.Stat(filepath.Join(dir, stateFile)); err == nil {
		return nil, fmt.Errorf("starting lab: %s already holds a lab; take it down first", dir)
	}
	var labBin string
	if o.Windows > 0 {
		if labBin, err = labBinary(o); err != nil {
			return nil, fmt.Errorf("starting lab: %w", err)
		}
	}
	var kdc kdcPrograms
	if o.Kerberos {
		if o.Windows == 0 {
			return nil, errors.New("starting lab: a Kerberos lab needs Windows hosts")
		}
		if kdc, err = findKDC(); err != nil {
			return nil, fmt.Errorf("starting lab: %w", err)
		}
	}

	id, err := claimID(ctx)
	if err != nil {
		return nil, fmt.Errorf("starting lab: %w", err)
	}
	l := &Lab{
		Dir:          dir,
		ID:           id,
		Bridge:       bridgeName(id),
		Subnet:       subnetFor(id),
		Controller:   subnetFor(id).Addr().Next(),
		Subnet6:      subnet6For(id),
		Controller6:  subnet6For(id).Addr().Next(),
		BaselineDrop: o.BaselineDrop,
		PasswordAuth: o.PasswordAuth,
		CreatedDir:   createdDir,
	}
	l.Hosts = planHosts(l, o.Linux, o.Windows)
	setManagers(l.Hosts, o.Linux, o.Firewalld, o.UFW)
	if o.Kerberos {
		l.KDC = planKDC(l)
	}
	// From here on Down can undo everything: the state names every object
	// before it is made.
	if err := l.save(); err != nil {
		_ = ip(context.Background(), "link", "del", l.Bridge)
		return nil, fmt.Errorf("starting lab: %w", err)
	}
	defer func() {
		if err != nil {
			if derr := l.Down(); derr != nil {
				err = errors.Join(err, fmt.Errorf("cleaning up the partial lab: %w", derr))
			}
		}
	}()

	if err := l.build(ctx, o, labBin, kdc); err != nil {
		return nil, fmt.Errorf("starting lab %d: %w", l.ID, err)
	}
	return l, nil
}

// build makes everything of a lab whose ID is claimed and state saved.
func (l *Lab) build(ctx context.Context, o Options, labBin string, kdc kdcPrograms) error {
	for _, h := range l.Hosts {
		if err := os.MkdirAll(h.Dir, 0o755); err != nil {
			return err
		}
	}
	if o.Linux > 0 {
		if err := l.setupNSDir(); err != nil {
			return err
		}
	}
	clientKey, err := writeKeyPair(l.KeyPath(), fmt.Sprintf("portwarden-lab-%d", l.ID))
	if err != nil {
		return err
	}
	if err := os.WriteFile(l.AuthorizedKeysPath(), ssh.MarshalAuthorizedKey(clientKey), 0o644); err != nil {
		return err
	}
	var win *winSetup
	if o.Windows > 0 {
		if win, err = l.writeWindowsFiles(); err != nil {
			return err
		}
		win.labBin = labBin
	}
	if err := l.setupBridge(ctx); err != nil {
		return err
	}
	if l.KDC != nil {
		// The realm first: the Windows hosts start with their keytabs.
		if err := l.upKDC(ctx, kdc); err != nil {
			return err
		}
	}

	// Hosts come up in parallel: each is a handful of ip commands and one
	// server start.
	var wg sync.WaitGroup
	errs := make([]error, len(l.Hosts))
	sem := make(chan struct{}, 8)
	for i := range l.Hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = l.startHost(ctx, i, win)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := l.save(); err != nil {
		return err
	}
	for i := range l.Hosts {
		h := l.Hosts[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.waitListening(ctx, h, startTimeout)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := l.writeKnownHosts(); err != nil {
		return err
	}
	if err := os.WriteFile(l.InventoryPath(), []byte(l.Inventory()), 0o644); err != nil {
		return fmt.Errorf("writing inventory: %w", err)
	}
	return nil
}

func planHosts(l *Lab, linux, windows int) []Host {
	var hosts []Host
	for i := range linux + windows {
		h := Host{OS: Linux, Port: 22, Name: fmt.Sprintf("lnx%02d", i+1)}
		if i >= linux {
			h = Host{OS: Windows, Port: 5986, Name: fmt.Sprintf("win%02d", i-linux+1)}
		}
		h.Namespace = nsName(l.ID, h.Name)
		h.Address = hostAddr(l.ID, i)
		if l.Subnet6.IsValid() {
			h.Address6 = hostAddr6(l.ID, i)
		}
		h.Veth = vethName(l.ID, i)
		h.Dir = filepath.Join(l.Dir, "hosts", h.Name)
		if h.OS == Linux {
			h.PersistRoot = "/"
			h.Roles = []string{linuxRoles[i%len(linuxRoles)]}
		} else {
			h.Roles = windowsRoles(i - linux)
		}
		hosts = append(hosts, h)
	}
	return hosts
}

// setManagers gives the last firewalld+ufw of the linux hosts their
// manager: first the firewalld hosts, then the ufw hosts.
func setManagers(hosts []Host, linux, firewalld, ufw int) {
	for i := linux - firewalld - ufw; i < linux; i++ {
		hosts[i].Manager = ManagerFirewalld
		if i >= linux-ufw {
			hosts[i].Manager = ManagerUFW
		}
	}
}

// linuxRoles are dealt round-robin to Linux hosts.
var linuxRoles = []string{"backup_repository", "gateway_server", "guest_linux"}

// windowsRoles: the first Windows host is the backup server (with the
// console), the others are dealt round-robin.
func windowsRoles(i int) []string {
	if i == 0 {
		return []string{"backup_server", "console"}
	}
	roles := []string{"hyperv_host", "gateway_server", "guest_windows", "mount_server"}
	return []string{roles[(i-1)%len(roles)]}
}

// startHost makes host i's namespace and starts its server.
func (l *Lab) startHost(ctx context.Context, i int, win *winSetup) error {
	h := l.Hosts[i]
	if err := l.setupHostNet(ctx, h); err != nil {
		return err
	}
	if h.OS == Windows {
		pid, err := l.startWindows(h, win)
		if err != nil {
			return err
		}
		l.mu.Lock()
		l.Hosts[i].PID = pid
		l.mu.Unlock()
		return nil
	}
	if err := l.setupHostFS(ctx, h); err != nil {
		return err
	}
	pub, err := l.writeSSHD(h)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.Hosts[i].HostKey = strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pub)))
	l.mu.Unlock()
	if err := l.configureHost(ctx, h); err != nil {
		return err
	}
	// The host's first boot: the same as Reboot's.
	return l.boot(ctx, i)
}

// BaselineRuleset is the table --baseline drop loads on every Linux host.
const BaselineRuleset = `table inet baseline {
	chain input {
		type filter hook input priority filter; policy drop;
		ct state established,related accept
		iif "lo" accept
		tcp dport 22 accept
		icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert } accept
	}
}
`

func (l *Lab) writeKnownHosts() error {
	var b strings.Builder
	for _, h := range l.Hosts {
		if h.OS != Linux || h.HostKey == "" {
			continue
		}
		pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(h.HostKey))
		if err != nil {
			return fmt.Errorf("writing known_hosts: host key of %s: %w", h.Name, err)
		}
		names := []string{knownhosts.Normalize(h.Address.String())}
		if h.Address6.IsValid() {
			names = append(names, knownhosts.Normalize(h.Address6.String()))
		}
		b.WriteString(knownhosts.Line(names, pub))
		b.WriteByte('\n')
	}
	if err := os.WriteFile(l.KnownHostsPath(), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("writing known_hosts: %w", err)
	}
	return nil
}

package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The lab's Kerberos realm (Options.Kerberos): a real MIT KDC (krb5kdc) in
// a namespace of its own on the lab bridge, playing the domain controller
// of a domain that disabled NTLM. Its database, stash, configuration and
// logs are under DIR/kdc; nothing is read from or written to this
// machine's /etc (KRB5_CONFIG and KRB5_KDC_PROFILE point into the lab).
// The realm has the user WindowsUser (the Windows hosts' password,
// pre-authentication required, as Active Directory requires) and, per
// Windows host, the service principal HTTP/<name>.portwarden.test, whose
// key goes into the host's keytab (DIR/hosts/NAME/http.keytab); the host
// then accepts Kerberos only (no NTLM, no Basic).
const (
	KerberosRealm = "PORTWARDEN.TEST"
	// KerberosDomain is the DNS domain of the hosts' Kerberos names.
	KerberosDomain = "portwarden.test"
	kdcName        = "kdc"
)

// kdcPrograms are the MIT KDC programs the lab runs.
type kdcPrograms struct {
	krb5kdc, kdb5util, kadmin string
	kinit                     string // "" if missing: only Kinit needs it
	// moduleDir holds db2.so, the KDC database module; "" for the
	// compiled-in directory (an installed krb5-kdc).
	moduleDir string
}

// KDCRoot is where scripts/krb5kdc.sh unpacks the KDC programs by default:
// $PORTWARDEN_KRB5_ROOT, else the user's cache directory's
// portwarden/krb5kdc.
func KDCRoot() string {
	if r := os.Getenv("PORTWARDEN_KRB5_ROOT"); r != "" {
		return r
	}
	if c, err := os.UserCacheDir(); err == nil {
		return filepath.Join(c, "portwarden", "krb5kdc")
	}
	return ""
}

// findKDC finds the KDC programs: unpacked under KDCRoot (the Makefile's
// deps target puts them there without installing krb5-kdc, whose
// dependency krb5-config would write /etc/krb5.conf), else installed.
func findKDC() (kdcPrograms, error) {
	if root := KDCRoot(); root != "" {
		p := kdcPrograms{
			krb5kdc:  filepath.Join(root, "usr", "sbin", "krb5kdc"),
			kdb5util: filepath.Join(root, "usr", "sbin", "kdb5_util"),
			kadmin:   filepath.Join(root, "usr", "sbin", "kadmin.local"),
		}
		mods, _ := filepath.Glob(filepath.Join(root, "usr", "lib", "*", "krb5", "plugins", "kdb", "db2.so"))
		if len(mods) > 0 && executable(p.krb5kdc) && executable(p.kdb5util) && executable(p.kadmin) {
			p.moduleDir = filepath.Dir(mods[0])
			if k := filepath.Join(root, "usr", "bin", "kinit"); executable(k) {
				p.kinit = k
			}
			return p, nil
		}
	}
	p := kdcPrograms{krb5kdc: "/usr/sbin/krb5kdc", kdb5util: "/usr/sbin/kdb5_util", kadmin: "/usr/sbin/kadmin.local"}
	if executable(p.krb5kdc) && executable(p.kdb5util) && executable(p.kadmin) {
		if executable("/usr/bin/kinit") {
			p.kinit = "/usr/bin/kinit"
		}
		return p, nil
	}
	return kdcPrograms{}, fmt.Errorf("a Kerberos lab needs MIT's KDC (krb5kdc, kdb5_util, kadmin.local): run make deps, "+
		"which unpacks them into %s (scripts/krb5kdc.sh)", KDCRoot())
}

func executable(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// KerberosAvailable says why a Kerberos lab cannot be built here, or nil.
func KerberosAvailable() error {
	_, err := findKDC()
	return err
}

// planKDC names the KDC's namespace, veth, addresses and directory. Its
// addresses are the subnet's last but one (198.18.<ID>.254 in a /24) and
// ::ff88, which no host numbering (the subnet's address plus 10+i)
// reaches.
func planKDC(l *Lab) *Host {
	h := &Host{Name: kdcName, OS: kdcName, Port: 88, Namespace: nsName(l.ID, kdcName),
		Address: lastAddr(l.Subnet).Prev(), Veth: fmt.Sprintf("pw%dkdc", l.ID), Dir: filepath.Join(l.Dir, kdcName)}
	if l.Subnet6.IsValid() {
		b := l.Subnet6.Addr().As16()
		b[14], b[15] = 0xff, 0x88
		h.Address6 = netip.AddrFrom16(b)
	}
	return h
}

// lastAddr is the last address of p (its broadcast address, for IPv4).
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := (uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// Krb5ConfPath is DIR/krb5.conf: the realm and its KDC, for the controller
// (the inventory's krb5_conf) and the KDC's tools.
func (l *Lab) Krb5ConfPath() string { return filepath.Join(l.Dir, "krb5.conf") }

// KerberosUser is the lab realm's user principal.
func KerberosUser() string { return WindowsUser + "@" + KerberosRealm }

// SPN is a Windows host's service principal in the lab realm.
func SPN(h Host) string { return "HTTP/" + h.Name + "." + KerberosDomain }

func keytabPath(h Host) string { return filepath.Join(h.Dir, "http.keytab") }

// netHosts are the lab's namespaces: the hosts and the KDC.
func (l *Lab) netHosts() []Host {
	if l.KDC == nil {
		return l.Hosts
	}
	return append(append([]Host(nil), l.Hosts...), *l.KDC)
}

// setupKDC makes the realm: configuration, database, principals and the
// Windows hosts' keytabs. The KDC is not started yet.
func (l *Lab) setupKDC(ctx context.Context, p kdcPrograms) error {
	k := l.KDC
	if err := os.MkdirAll(k.Dir, 0o700); err != nil {
		return fmt.Errorf("setting up the KDC: %w", err)
	}
	var mods string
	if p.moduleDir != "" {
		mods = "[dbmodules]\n\tdb_module_dir = " + p.moduleDir + "\n"
	}
	// udp_preference_limit = 1: clients talk TCP, the port the lab waits
	// for.
	krb5conf := fmt.Sprintf("[libdefaults]\n\tdefault_realm = %[1]s\n\tdns_lookup_kdc = false\n\tdns_lookup_realm = false\n\trdns = false\n\tudp_preference_limit = 1\n"+
		"[realms]\n\t%[1]s = {\n\t\tkdc = %[2]s:88\n\t}\n[domain_realm]\n\t.%[3]s = %[1]s\n\t%[3]s = %[1]s\n%[4]s",
		KerberosRealm, k.Address, KerberosDomain, mods)
	kdcconf := fmt.Sprintf("[kdcdefaults]\n\tkdc_ports = 88\n\tkdc_tcp_ports = 88\n"+
		"[realms]\n\t%[1]s = {\n\t\tdatabase_name = %[2]s/principal\n\t\tkey_stash_file = %[2]s/stash\n\t\tacl_file = %[2]s/kadm5.acl\n"+
		"\t\tmax_life = 10h 0m 0s\n\t\tmax_renewable_life = 7d 0h 0m 0s\n\t\tdefault_principal_flags = +preauth\n\t}\n"+
		"[logging]\n\tkdc = FILE:%[2]s/kdc.log\n\tadmin_server = FILE:%[2]s/kadmin.log\n\tdefault = FILE:%[2]s/kdc.log\n%[3]s",
		KerberosRealm, k.Dir, mods)
	if err := os.WriteFile(l.Krb5ConfPath(), []byte(krb5conf), 0o644); err != nil {
		return fmt.Errorf("setting up the KDC: %w", err)
	}
	if err := os.WriteFile(l.kdcConfPath(), []byte(kdcconf), 0o600); err != nil {
		return fmt.Errorf("setting up the KDC: %w", err)
	}
	master, err := randomSecret()
	if err != nil {
		return fmt.Errorf("setting up the KDC: %w", err)
	}
	pw, err := os.ReadFile(l.WinRMPasswordPath())
	if err != nil {
		return fmt.Errorf("setting up the KDC: %w", err)
	}
	// Passwords go through stdin (the tools prompt twice), never argv.
	if _, err := l.kdcTool(ctx, []byte(master+"\n"+master+"\n"), p.kdb5util, "create", "-s", "-r", KerberosRealm); err != nil {
		return fmt.Errorf("setting up the KDC: creating the database: %w", err)
	}
	if _, err := l.kdcTool(ctx, []byte(string(pw)+"\n"+string(pw)+"\n"), p.kadmin, "-r", KerberosRealm, "-q", "addprinc +requires_preauth "+WindowsUser); err != nil {
		return fmt.Errorf("setting up the KDC: adding %s: %w", WindowsUser, err)
	}
	// Every Windows host's service principal and keytab in one
	// kadmin.local session (commands on stdin): addprinc -randkey makes
	// the key, ktadd -norandkey exports it as it is (a plain ktadd would
	// randomize it once more).
	var script strings.Builder
	var hosts []Host
	for _, h := range l.Hosts {
		if h.OS != Windows {
			continue
		}
		spn := SPN(h)
		fmt.Fprintf(&script, "addprinc -randkey %s\nktadd -norandkey -k %s %s\n", spn, keytabPath(h), spn)
		hosts = append(hosts, h)
	}
	if len(hosts) == 0 {
		return nil
	}
	if _, err := l.kdcTool(ctx, []byte(script.String()), p.kadmin, "-r", KerberosRealm); err != nil {
		return fmt.Errorf("setting up the KDC: the hosts' service principals and keytabs: %w", err)
	}
	for _, h := range hosts {
		if _, err := os.Stat(keytabPath(h)); err != nil {
			return fmt.Errorf("setting up the KDC: keytab of %s: %w", h.Name, err)
		}
	}
	return nil
}

func (l *Lab) kdcConfPath() string { return filepath.Join(l.KDC.Dir, "kdc.conf") }

// kdcEnv points MIT's tools at the lab's files only.
func (l *Lab) kdcEnv() []string {
	return []string{"KRB5_CONFIG=" + l.Krb5ConfPath(), "KRB5_KDC_PROFILE=" + l.kdcConfPath()}
}

// kdcTool runs one of the KDC's administration tools on the lab's files.
// kadmin.local reports a failed query on stderr with exit status 0, so a
// stderr line that is not one of the tools' prompts fails the run too.
func (l *Lab) kdcTool(ctx context.Context, stdin []byte, argv ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "env", append(l.kdcEnv(), argv...)...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var problems []string
	for _, line := range strings.Split(stderr.String(), "\n") {
		if line = strings.TrimSpace(line); line != "" && !isKDCPrompt(line) {
			problems = append(problems, line)
		}
	}
	if err == nil && len(problems) > 0 {
		err = errors.New("reported an error")
	}
	if err != nil {
		return stdout.Bytes(), fmt.Errorf("%s: %w: %s", filepath.Base(argv[0]), err, strings.Join(problems, "; "))
	}
	return stdout.Bytes(), nil
}

// isKDCPrompt reports whether a stderr line of kdb5_util or kadmin.local
// is a prompt or notice rather than an error.
func isKDCPrompt(line string) bool {
	for _, p := range []string{"Enter ", "Re-enter ", "Loading random data", "Initializing database", "master key name", "You will be prompted",
		"It is important", "Authenticating as principal", "No policy specified", "WARNING: no policy specified"} {
		if strings.HasPrefix(line, p) {
			return true
		}
	}
	return false
}

// startKDC runs krb5kdc in the KDC's namespace, in the foreground (-n) so
// that the lab's process handling (and Down) sees it.
func (l *Lab) startKDC(p kdcPrograms) (int, error) {
	k := *l.KDC
	argv := append([]string{"env"}, l.kdcEnv()...)
	argv = append(argv, p.krb5kdc, "-n", "-r", KerberosRealm, "-P", filepath.Join(k.Dir, "krb5kdc.pid"))
	return l.startProcess(k, filepath.Join(k.Dir, "serve.log"), argv...)
}

// kerberosArgs are serve-windows' flags of a host in a Kerberos lab.
func (l *Lab) kerberosArgs(h Host) []string {
	if l.KDC == nil {
		return nil
	}
	return []string{"--auth", "kerberos", "--keytab", keytabPath(h), "--kerberos-principals", KerberosUser()}
}

// upKDC makes the realm and starts the KDC in its namespace.
func (l *Lab) upKDC(ctx context.Context, p kdcPrograms) error {
	if err := l.setupKDC(ctx, p); err != nil {
		return err
	}
	if err := l.setupHostNet(ctx, *l.KDC); err != nil {
		return err
	}
	pid, err := l.startKDC(p)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.KDC.PID = pid
	l.mu.Unlock()
	if err := l.save(); err != nil {
		return err
	}
	return l.waitListening(ctx, *l.KDC, startTimeout)
}

// Kinit gets a ticket-granting ticket for KerberosUser from the lab's KDC
// into the credential cache file ccache, valid for lifetime (kinit -l,
// e.g. "10h" or "5s"), as an admin's "kinit" would. The password reaches
// kinit on stdin.
func (l *Lab) Kinit(ctx context.Context, ccache, lifetime string) error {
	if l.KDC == nil {
		return errors.New("kinit: the lab has no KDC")
	}
	p, err := findKDC()
	if err != nil {
		return fmt.Errorf("kinit: %w", err)
	}
	if p.kinit == "" {
		return errors.New("kinit: no kinit program (make deps unpacks krb5-user's)")
	}
	pw, err := os.ReadFile(l.WinRMPasswordPath())
	if err != nil {
		return fmt.Errorf("kinit: %w", err)
	}
	cmd := exec.CommandContext(ctx, "env", "KRB5_CONFIG="+l.Krb5ConfPath(), "KRB5CCNAME=FILE:"+ccache,
		p.kinit, "-l", lifetime, KerberosUser())
	cmd.Stdin = bytes.NewReader(append(pw, '\n'))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("kinit: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

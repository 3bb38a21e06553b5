package lab

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/masterzen/winrm"
)

// TestKerberosLab: the lab's MIT KDC issues tickets that masterzen/winrm's
// own Kerberos client (ClientKerberos, gokrb5) gets and the simulated
// Windows host takes; the host refuses NTLM; Down removes the KDC's
// namespace, process and files; this machine's /etc gets no Kerberos
// configuration.
func TestKerberosLab(t *testing.T) {
	t.Parallel()
	skipUnlessLab(t)
	if err := KerberosAvailable(); err != nil {
		t.Skipf("no Kerberos lab: %v", err)
	}
	_, etcBefore := os.Stat("/etc/krb5.conf")
	l := upWithCleanup(t, Options{Windows: 1, Kerberos: true, LabBinary: BuildLabBinary(t)})
	if l.KDC == nil || l.KDC.PID == 0 || !processAlive(l.KDC.PID) {
		t.Fatalf("no running KDC: %+v", l.KDC)
	}
	loaded, err := Load(l.Dir)
	if err != nil || loaded.KDC == nil || loaded.KDC.Namespace != nsName(l.ID, "kdc") {
		t.Fatalf("lab.json does not record the KDC: %+v, %v", loaded, err)
	}
	w := l.Hosts[0]
	if fi, err := os.Stat(keytabPath(w)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("keytab of %s: %v %v", w.Name, fi, err)
	}
	password, err := os.ReadFile(l.WinRMPasswordPath())
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(l.CACertPath())
	if err != nil {
		t.Fatal(err)
	}
	client := func(tr winrm.Transporter) *winrm.Client {
		ep := winrm.NewEndpoint(w.Address.String(), 5986, true, false, ca, nil, nil, 10*time.Second)
		params := *winrm.DefaultParameters
		params.TransportDecorator = func() winrm.Transporter { return tr }
		c, err := winrm.NewClientWithParameters(ep, WindowsUser, string(password), &params)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	krb := winrm.NewClientKerberos(&winrm.Settings{
		WinRMUsername: WindowsUser, WinRMPassword: string(password), WinRMHost: w.Address.String(), WinRMPort: 5986,
		WinRMProto: "https", KrbRealm: KerberosRealm, KrbConfig: l.Krb5ConfPath(), KrbSpn: SPN(w),
	})
	if _, stderr, code, err := client(krb).RunPSWithString("Get-NetFirewallProfile", ""); err != nil || code != 0 {
		t.Errorf("Get-NetFirewallProfile over Kerberos: exit %d, %v: %s", code, err, stderr)
	}
	if _, _, _, err := client(&winrm.ClientNTLM{}).RunPSWithString("Get-NetFirewallProfile", ""); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("NTLM to a Kerberos-only host: %v, want 401", err)
	}
	kdcLog, _ := os.ReadFile(filepath.Join(l.KDC.Dir, "kdc.log"))
	if !strings.Contains(string(kdcLog), "for "+SPN(w)+"@"+KerberosRealm) {
		t.Errorf("the KDC did not issue a ticket for %s:\n%s", SPN(w), kdcLog)
	}

	if err := l.Down(); err != nil {
		t.Fatalf("Down: %v", err)
	}
	if left := leftovers(t, l); len(left) > 0 {
		t.Errorf("left after Down: %v", left)
	}
	if netnsExists(context.Background(), l.KDC.Namespace) || processAlive(l.KDC.PID) {
		t.Errorf("the KDC outlived Down")
	}
	if _, err := os.Stat(l.KDC.Dir); !os.IsNotExist(err) {
		t.Errorf("%s after Down: %v", l.KDC.Dir, err)
	}
	if _, etcAfter := os.Stat("/etc/krb5.conf"); os.IsNotExist(etcBefore) && !os.IsNotExist(etcAfter) {
		t.Error("/etc/krb5.conf appeared")
	}
}

func TestPlanKDC(t *testing.T) {
	l := &Lab{ID: 7, Dir: "/lab", Subnet: subnetFor(7), Subnet6: subnet6For(7)}
	k := planKDC(l)
	if k.Address.String() != "198.18.7.254" || k.Address6.String() != "fd70:7764:0:7::ff88" || k.Veth != "pw7kdc" || k.Namespace != "pw7-kdc" {
		t.Errorf("KDC %+v", k)
	}
	for i := range MaxHosts {
		if hostAddr(7, i) == k.Address || hostAddr6(7, i) == k.Address6 {
			t.Fatalf("host %d has the KDC's address", i)
		}
	}
	if got := lastAddr(netip.MustParsePrefix("198.19.8.0/21")); got.String() != "198.19.15.255" {
		t.Errorf("lastAddr(/21) = %s", got)
	}
}

package main

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portwarden/portwarden/lab"
)

// TestKerberosWindowsHosts runs plan and apply against simulated Windows
// hosts of a domain that disabled NTLM: the lab's real MIT KDC issues the
// tickets, the hosts (lab/wsman, a simulation) check them with their
// keytabs and refuse NTLM and Basic. Every failure names its cause, and
// no output or lab file holds the password.
func TestKerberosWindowsHosts(t *testing.T) {
	lab.SkipShort(t, "a Kerberos lab (MIT KDC, simulated Windows hosts)")
	if err := lab.KerberosAvailable(); err != nil {
		t.Skipf("no Kerberos lab: %v", err)
	}
	l := lab.UpForTest(t, lab.Options{Windows: 2, Kerberos: true})
	dir := t.TempDir()
	base, err := os.ReadFile(l.InventoryPath())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(base), `auth      = "kerberos"`) {
		t.Fatalf("the lab inventory does not use Kerberos:\n%s", base)
	}
	pw, err := os.ReadFile(l.WinRMPasswordPath())
	if err != nil {
		t.Fatal(err)
	}
	const wrong = "pwMarkerKerberosWrong7Q9"
	var forbidden []string
	for _, m := range []string{string(pw), wrong} {
		forbidden = append(forbidden, m)
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			forbidden = append(forbidden, enc.EncodeToString([]byte(m)), enc.EncodeToString([]byte("Administrator:"+m)))
		}
	}
	noSecret := func(what, s string) {
		t.Helper()
		for _, f := range forbidden {
			if strings.Contains(s, f) {
				t.Errorf("%s contains a secret (%q)", what, f)
			}
		}
	}
	// variant writes the lab's inventory with edits to win01's winrm block
	// (the first one) and drops win02.
	variant := func(name string, edit func(string) string) string {
		t.Helper()
		s := string(base)
		if i := strings.Index(s, "\nhost \"win02\""); i >= 0 {
			j := strings.Index(s[i+1:], "\n}\n")
			s = s[:i] + s[i+1+j+2:]
		}
		s = edit(s)
		p := filepath.Join(dir, name+".hcl")
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cli := func(args ...string) (string, string, int) {
		t.Helper()
		out, errOut, code := runCLI(t, args...)
		noSecret(strings.Join(args, " ")+" stdout", out)
		noSecret(strings.Join(args, " ")+" stderr", errOut)
		return out, errOut, code
	}

	t.Run("validate", func(t *testing.T) {
		if out, errOut, code := cli("validate", "--inventory", l.InventoryPath()); code != 0 {
			t.Errorf("validate: exit %d\n%s%s", code, out, errOut)
		}
		missing := variant("missing-conf", func(s string) string {
			return strings.Replace(s, l.Krb5ConfPath(), filepath.Join(dir, "nope", "krb5.conf"), 1)
		})
		out, errOut, code := cli("validate", "--inventory", missing)
		if code == 0 || !strings.Contains(out+errOut, "Missing winrm krb5_conf") {
			t.Errorf("validate with a missing krb5_conf: exit %d\n%s%s", code, out, errOut)
		}
	})

	t.Run("plan and apply", func(t *testing.T) {
		inv := l.InventoryPath()
		audit := filepath.Join(dir, "audit.jsonl")
		asReqs := func() int {
			b, _ := os.ReadFile(filepath.Join(l.KDC.Dir, "kdc.log"))
			return strings.Count(string(b), "AS_REQ")
		}
		asBefore := asReqs()
		doc, _ := planDoc(t, inv)
		for _, name := range []string{"win01", "win02"} {
			if hp := hostOf(doc, name); hp.Error != "" || len(hp.Changes) == 0 {
				t.Fatalf("plan of %s: error %q, %d changes", name, hp.Error, len(hp.Changes))
			}
		}
		out, errOut, code := cli("apply", "--inventory", inv, "--auto-approve", "--progress", "lines", "--audit-log", audit)
		if code != 0 {
			t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
		}
		doc, code = planDoc(t, inv)
		for _, name := range []string{"win01", "win02"} {
			if hp := hostOf(doc, name); hp.Error != "" || len(hp.Changes) != 0 {
				t.Errorf("plan after apply, %s: error %q, changes %+v", name, hp.Error, hp.Changes)
			}
		}
		if code != 0 {
			t.Errorf("plan --detailed-exitcode after apply: exit %d", code)
		}
		// One login to the KDC for the process: two hosts, a plan, an
		// apply and a plan, each host dialled more than once.
		if n := asReqs() - asBefore; n != 1 {
			t.Errorf("the KDC saw %d AS-REQs for two plans and an apply of two hosts, want 1 (one login per process)", n)
		}
		b, _ := os.ReadFile(audit)
		noSecret("audit log", string(b))
		// The tickets came from the KDC, and the hosts saw the domain user.
		kdcLog, _ := os.ReadFile(filepath.Join(l.KDC.Dir, "kdc.log"))
		for _, want := range []string{"AS_REQ", "ISSUE", "Administrator@" + lab.KerberosRealm + " for HTTP/win01." + lab.KerberosDomain + "@" + lab.KerberosRealm} {
			if !strings.Contains(string(kdcLog), want) {
				t.Errorf("the KDC's log has no %q:\n%s", want, kdcLog)
			}
		}
		w1, _ := l.Host("win01")
		serveLog, _ := os.ReadFile(filepath.Join(w1.Dir, "serve.log"))
		if !strings.Contains(string(serveLog), "user Administrator@"+lab.KerberosRealm+" from") {
			t.Errorf("win01's log does not show the Kerberos user:\n%s", serveLog)
		}
	})

	passwordRE := regexp.MustCompile(`password  = file\("[^"]*"\)`)

	// An admin's kinit instead of a password: the ticket-granting ticket
	// in a credential cache; once it expires, the error says to kinit.
	t.Run("credential cache", func(t *testing.T) {
		ctx := context.Background()
		for _, tc := range []struct{ lifetime, want string }{{"10h", ""}, {"2s", "kerberos: ticket expired"}} {
			cc := filepath.Join(dir, "krb5cc-"+tc.lifetime)
			if err := l.Kinit(ctx, cc, tc.lifetime); err != nil {
				t.Fatal(err)
			}
			inv := variant("ccache-"+tc.lifetime, func(s string) string { return passwordRE.ReplaceAllString(s, `ccache    = "`+cc+`"`) })
			if tc.want != "" {
				time.Sleep(3 * time.Second) // past the ticket's end
			}
			doc, _ := planDoc(t, inv)
			hp := hostOf(doc, "win01")
			switch {
			case tc.want == "" && (hp.Error != "" || len(hp.Changes) != 0):
				t.Errorf("plan with a fresh ticket: error %q, %d changes", hp.Error, len(hp.Changes))
			case tc.want != "" && (!strings.Contains(hp.Error, tc.want) || !strings.Contains(hp.Error, "run kinit Administrator@"+lab.KerberosRealm)):
				t.Errorf("plan with an expired ticket: error %q, want %q", hp.Error, tc.want)
			}
		}
	})
	failures := []struct {
		name string
		edit func(string) string
		want []string
	}{
		{"wrong password", func(s string) string { return passwordRE.ReplaceAllString(s, `password  = "`+wrong+`"`) },
			[]string{"kerberos: pre-authentication failed", "wrong password for Administrator@" + lab.KerberosRealm}},
		{"unknown SPN", func(s string) string {
			return strings.Replace(s, `"HTTP/win01.`, `"HTTP/win99.`, 1)
		}, []string{"kerberos: wrong SPN", "HTTP/win99." + lab.KerberosDomain}},
		// win02's ticket is valid, but win01's keytab cannot decrypt it.
		{"another host's SPN", func(s string) string {
			return strings.Replace(s, `"HTTP/win01.`, `"HTTP/win02.`, 1)
		}, []string{"kerberos: ticket refused", "HTTP/win02." + lab.KerberosDomain}},
		{"KDC unreachable", func(s string) string {
			conf, err := os.ReadFile(l.Krb5ConfPath())
			if err != nil {
				t.Fatal(err)
			}
			bad := filepath.Join(dir, "krb5-unreachable.conf")
			// The KDC's namespace listens on 88; 89 is closed.
			os.WriteFile(bad, []byte(strings.Replace(string(conf), l.KDC.Address.String()+":88", l.KDC.Address.String()+":89", 1)), 0o644)
			return strings.Replace(s, l.Krb5ConfPath(), bad, 1)
		}, []string{"kerberos: KDC unreachable", "realm " + lab.KerberosRealm}},
		{"realm in lower case", func(s string) string {
			return strings.Replace(s, `realm     = "`+lab.KerberosRealm+`"`, `realm     = "`+strings.ToLower(lab.KerberosRealm)+`"`, 1)
		}, []string{"kerberos: configuration", "no KDC for realm portwarden.test", "realms are case-sensitive: " + lab.KerberosRealm + "?"}},
		{"NTLM refused", func(s string) string {
			return strings.Replace(dropKerberosAttrs(s), `auth      = "kerberos"`, `auth      = "ntlm"`, 1)
		}, []string{"authentication failed", "offered ntlm"}},
		{"Basic refused", func(s string) string {
			return strings.Replace(dropKerberosAttrs(s), `auth      = "kerberos"`, `auth      = "basic"`, 1)
		}, []string{"authentication failed", "offered basic"}},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			inv := variant(strings.ReplaceAll(f.name, " ", "-"), f.edit)
			doc, _ := planDoc(t, inv)
			hp := hostOf(doc, "win01")
			for _, want := range f.want {
				if !strings.Contains(hp.Error, want) {
					t.Errorf("error %q, want %q in it", hp.Error, want)
				}
			}
			noSecret("plan error", hp.Error)
			out, errOut, code := cli("plan", "--inventory", inv)
			if code == 0 || !strings.Contains(out+errOut, f.want[0]) {
				t.Errorf("text plan: exit %d\n%s%s", code, out, errOut)
			}
		})
	}

	// The hosts' logs and the KDC's files hold no password either.
	checkLabFiles(t, l, noSecret)
	w1, _ := l.Host("win01")
	serveLog, _ := os.ReadFile(filepath.Join(w1.Dir, "serve.log"))
	for _, want := range []string{"refusing NTLM", "refusing Basic", "Kerberos authentication failed"} {
		if !strings.Contains(string(serveLog), want) {
			t.Errorf("win01's log has no %q", want)
		}
	}
}

// dropKerberosAttrs removes realm, spn and krb5_conf from an inventory,
// for a variant with another auth.
func dropKerberosAttrs(s string) string {
	return regexp.MustCompile(`(?m)^\s*(realm|spn|krb5_conf)\s*=.*\n`).ReplaceAllString(s, "")
}

package inventory

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/portwarden/portwarden/transport"
)

// ccacheTypeRE matches a credential cache type other than FILE:
// (KEYRING:, KCM:, DIR:, MEMORY:, API:), which only MIT's library reads.
// A Windows drive letter is one letter.
var ccacheTypeRE = regexp.MustCompile(`^[A-Za-z]{2,}:`)

// winrmAuths are the values of winrm auth.
var winrmAuths = []string{"ntlm", "basic", "kerberos"}

// winrmKerberos reads the winrm {} attributes of auth = "kerberos":
//
//	realm     the user's realm (Active Directory: the domain's DNS name in
//	          capitals); may instead be part of user ("admin@CORP.EXAMPLE")
//	spn       the host's service principal, default "HTTP/" with
//	          tls_server_name or the address (which must then be a name)
//	krb5_conf the krb5.conf naming the realm's KDCs, relative to the
//	          inventory; default $KRB5_CONFIG, else the OS's (/etc/krb5.conf;
//	          on Windows MIT's %ProgramData%\MIT\Kerberos5\krb5.ini), else
//	          DNS SRV records of the realm
//	ccache    instead of a password: a credential cache that kinit filled
//	          for the user (FILE: caches only), relative to the inventory
//
// The password is the winrm password (env() or file(), as for NTLM).
func (d *decoder) winrmKerberos(m map[string]*value, c *transport.WinRMConfig) hcl.Diagnostics {
	var diags hcl.Diagnostics
	r := reader{m: m, diags: &diags}
	r.str("realm", &c.Realm)
	r.str("spn", &c.SPN)
	r.path(d, "krb5_conf", &c.Krb5ConfigPath)
	var ccache string
	r.str("ccache", &ccache)
	if p, ok := strings.CutPrefix(ccache, "FILE:"); ok {
		ccache = p
	}
	if ccache != "" {
		c.Krb5CCachePath = d.path(ccache)
	}
	// c.Auth is the default (ntlm) unless the block sets auth.
	auth := c.Auth
	if !slices.Contains(winrmAuths, auth) {
		return append(diags, attrDiag(m["auth"], "Invalid winrm auth", fmt.Sprintf("auth %q is not supported: want \"ntlm\", \"basic\" or \"kerberos\".", c.Auth)))
	}
	if auth != "kerberos" {
		for _, name := range []string{"realm", "spn", "krb5_conf", "ccache"} {
			if v := m[name]; v != nil {
				diags = append(diags, attrDiag(v, "Kerberos setting without Kerberos",
					fmt.Sprintf("%s is used only with auth = \"kerberos\"; this host uses auth = %q.", name, auth)))
			}
		}
		return diags
	}
	if m["ccache"] != nil && m["password"] != nil {
		diags = append(diags, attrDiag(m["ccache"], "Both password and ccache",
			"With a credential cache portwarden uses its ticket and needs no password: remove one of password and ccache."))
	}
	if ccacheTypeRE.MatchString(ccache) {
		diags = append(diags, attrDiag(m["ccache"], "Unsupported credential cache",
			fmt.Sprintf("%q is not a file: only FILE: credential caches can be read (kinit -c FILE:/path).", ccache)))
	}
	if c.User != "" || c.Realm != "" {
		if _, _, err := transport.KerberosPrincipal(c.User, c.Realm); err != nil {
			subject := m["realm"]
			if subject == nil {
				subject = m["user"]
			}
			diags = append(diags, attrDiag(subject, "Invalid Kerberos principal", err.Error()+"."))
		}
	}
	if c.Realm != "" && c.Realm != strings.ToUpper(c.Realm) {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  "Kerberos realm not in capitals",
			Detail: fmt.Sprintf("Kerberos realms are case-sensitive, and Active Directory's is the domain's DNS name in capitals (%q); "+
				"a KDC that answers in capitals fails the login.", strings.ToUpper(c.Realm)),
			Subject: rangeOf(m["realm"]),
		})
	}
	if _, err := transport.WinRMSPN(*c); err != nil {
		subject := m["spn"]
		if subject == nil {
			subject = m["auth"]
		}
		diags = append(diags, attrDiag(subject, "Invalid Kerberos SPN", err.Error()+"."))
	}
	return diags
}

package inventory

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/portwarden/portwarden/transport"
)

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
//
// The password is the winrm password (env() or file(), as for NTLM).
func (d *decoder) winrmKerberos(m map[string]*value, c *transport.WinRMConfig) hcl.Diagnostics {
	var diags hcl.Diagnostics
	r := reader{m: m, diags: &diags}
	r.str("realm", &c.Realm)
	r.str("spn", &c.SPN)
	r.path(d, "krb5_conf", &c.Krb5ConfigPath)
	auth := c.Auth
	if auth == "" && m["auth"] == nil {
		auth = "ntlm" // the default, where the caller has not set it yet
	}
	if !slices.Contains(winrmAuths, auth) {
		return append(diags, attrDiag(m["auth"], "Invalid winrm auth", fmt.Sprintf("auth %q is not supported: want \"ntlm\", \"basic\" or \"kerberos\".", c.Auth)))
	}
	if auth != "kerberos" {
		for _, name := range []string{"realm", "spn", "krb5_conf"} {
			if v := m[name]; v != nil {
				diags = append(diags, attrDiag(v, "Kerberos setting without Kerberos",
					fmt.Sprintf("%s is used only with auth = \"kerberos\"; this host uses auth = %q.", name, auth)))
			}
		}
		return diags
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

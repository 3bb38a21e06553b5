package lab

import (
	"fmt"
	"net/netip"
	"strings"
)

// Inventory renders an example inventory for the lab: every host with its
// roles (dealt round-robin), the lab key and known_hosts as SSH defaults,
// the WinRM settings of the Windows hosts, and an "admins" network around
// the controller. Without Windows hosts, an unmanaged "vbr" peer on the
// controller's address plays the backup server, so flows from it make sense.
func (l *Lab) Inventory() string {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("# portwarden lab %d: %s, controller %s\n", l.ID, l.Subnet, l.Controller)
	p("settings {\n  upgraded_from_pre_v10 = false\n}\n\n")
	p("defaults {\n  ssh {\n")
	p("    user        = %s\n", hclString("root"))
	p("    private_key = %s\n", hclString(l.KeyPath()))
	p("    known_hosts = %s\n", hclString(l.KnownHostsPath()))
	p("  }\n}\n")

	hasWindows := false
	for _, h := range l.Hosts {
		attrs := [][2]string{
			{"address", hclString(h.Address.String())},
			{"os", hclString(h.OS)},
			{"roles", hclList(h.Roles)},
			{"mode", hclString("additive")},
		}
		if h.OS == Linux {
			attrs = append(attrs, [2]string{"firewall", hclString("auto")}, [2]string{"persist_root", hclString(h.PersistRoot)})
		}
		if h.OS == Linux {
			p("\n# %s: %s", h.Name, managerNote(h.Manager))
		}
		p("\nhost %s {\n", hclString(h.Name))
		writeAttrs(&b, "  ", attrs)
		if h.OS == Windows {
			hasWindows = true
			p("  winrm {\n")
			winrm := [][2]string{
				{"user", hclString(WindowsUser)},
				{"password", "file(" + hclString(l.WinRMPasswordPath()) + ")"},
				{"https", "true"},
				{"ca_cert", hclString(l.CACertPath())},
				{"auth", hclString("ntlm")},
			}
			if l.KDC != nil {
				winrm[len(winrm)-1][1] = hclString("kerberos")
				winrm = append(winrm, [2]string{"realm", hclString(KerberosRealm)},
					[2]string{"spn", hclString(SPN(h))}, [2]string{"krb5_conf", hclString(l.Krb5ConfPath())})
			}
			writeAttrs(&b, "    ", winrm)
			p("  }\n")
		}
		p("}\n")
	}
	if !hasWindows {
		p("\n# The controller's address stands in for the Veeam backup server.\n")
		p("host \"vbr\" {\n")
		p("  address = %s\n", hclString(l.Controller.String()))
		p("  os      = \"windows\"\n")
		p("  roles   = %s\n", hclList([]string{"backup_server", "console"}))
		p("  managed = false\n")
		p("}\n")
	}
	p("\nnetwork \"admins\" {\n")
	p("  cidrs = %s\n", hclList([]string{l.AdminsNetwork().String()}))
	p("  roles = %s\n", hclList([]string{"console", "rest_client"}))
	p("}\n")
	return b.String()
}

// AdminsNetwork is the inventory's "admins" network: the /29 at the start
// of the lab subnet, which holds the controller and no host.
func (l *Lab) AdminsNetwork() netip.Prefix {
	return netip.PrefixFrom(l.Subnet.Addr(), 29)
}

// writeAttrs writes HCL attributes with their "=" aligned, as hclwrite
// would.
func writeAttrs(b *strings.Builder, indent string, attrs [][2]string) {
	w := 0
	for _, a := range attrs {
		w = max(w, len(a[0]))
	}
	for _, a := range attrs {
		fmt.Fprintf(b, "%s%-*s = %s\n", indent, w, a[0], a[1])
	}
}

// hclString quotes s as an HCL string literal, with no template
// interpolation.
func hclString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case (c == '$' || c == '%') && i+1 < len(s) && s[i+1] == '{':
			b.WriteByte(c)
			b.WriteByte(c)
		case c < 0x20:
			fmt.Fprintf(&b, `\u%04x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func hclList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = hclString(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// managerNote says in the inventory which firewall manager a lab host runs;
// it is a comment, since the inventory has no attribute for it.
func managerNote(m string) string {
	switch m {
	case ManagerFirewalld:
		return "lab manager firewalld (D-Bus system bus, default zone public)"
	case ManagerUFW:
		return "lab manager ufw (enabled, default incoming deny, 22/tcp allowed)"
	}
	return "lab manager none (nftables.service and netfilter-persistent enabled)"
}

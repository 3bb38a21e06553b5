package winfw

// Get-WSManInstance -ResourceURI shell -Enumerate: the WinRM shells open
// on the host, from the simulated WinRM service that runs the script
// (lab/wsman.Shells). Each is an XmlElement whose properties are strings,
// ShellId and ClientIP among them; ClientIP is the TCP peer that created
// the shell, as the service saw it.

import (
	"strings"

	"github.com/portwarden/portwarden/lab/wsman"
)

// shellURIs are the resource URIs that name the shell resource: the
// "shell" alias of the WSMan cmdlets and the full URIs.
var shellURIs = []string{"shell", "http://schemas.microsoft.com/wbem/wsman/1/windows/shell", "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"}

func init() {
	register(&cmdletDef{name: "Get-WSManInstance",
		params: []paramDef{positional(named("ResourceURI", pString), 0), named("Enumerate", pSwitch)},
		run: func(c *cmdCall) error {
			if err := mandatory(c, "ResourceURI"); err != nil {
				return err
			}
			uri := strings.TrimRight(c.str("ResourceURI"), "/")
			if !oneOfFold(uri, shellURIs...) {
				return unsupportedAt(c.pos, "Get-WSManInstance -ResourceURI %q (the simulation enumerates only shells)", uri)
			}
			if enum, _ := c.bound["Enumerate"].(bool); !enum {
				return unsupportedAt(c.pos, "Get-WSManInstance without -Enumerate (GetInstance needs -SelectorSet)")
			}
			shells, ok := wsman.Shells(c.in.ctx)
			if !ok {
				return c.writeError(&errorRecord{message: "The client cannot connect to the destination specified in the request. Verify that the service on the destination is running and is accepting requests.",
					category: "InvalidOperation", reason: "InvalidOperationException", fqid: "WsManError,Microsoft.WSMan.Management.GetWSManInstanceCommand"})
			}
			for _, sh := range shells {
				o := newObject("System.Xml.XmlElement")
				o.set("rsp", "http://schemas.microsoft.com/wbem/wsman/1/windows/shell")
				o.set("lang", "en-US")
				o.set("ShellId", sh.ShellID)
				o.set("ResourceUri", sh.ResourceURI)
				o.set("Owner", sh.Owner)
				o.set("ClientIP", sh.ClientIP)
				o.set("State", "Connected")
				c.emit(o)
			}
			return nil
		}})
}

func oneOfFold(v string, allowed ...string) bool {
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			return true
		}
	}
	return false
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"

	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/orchestrator"
	"github.com/portwarden/portwarden/transport"
)

// runValidate checks an inventory repository the way CI wants it: the
// inventory, the policy, that every host's rules compute, and that the key
// files it names exist — without secrets, DNS or any connection.
func runValidate(_ context.Context, args []string, stdout, stderr io.Writer) int {
	c, code := parseOffline("validate", "validate --inventory FILE [--policy DIR] [--format text|json]", args, stderr)
	if code >= 0 {
		return code
	}
	pol, inv, files, diags := loadDiags(&c)
	if !diags.HasErrors() {
		diags = append(diags, keyFileDiags(inv)...)
		addrs, _, _ := resolveHosts(context.Background(), inv, true) // offline: placeholders only
		if _, err := orchestrator.Compute(inv, pol, addrs); err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Rules do not compute", Detail: err.Error() + "."})
		}
	}
	if c.format == "json" {
		return max(writeJSON(stdout, stderr, map[string]any{
			"format_version": formatVersion, "valid": !diags.HasErrors(),
			"error_count": countErrors(diags), "warning_count": len(diags) - countErrors(diags),
			"diagnostics": toJSONDiags(diags),
		}), exitFor(diags))
	}
	writeDiags(stderr, "text", files, diags)
	if !diags.HasErrors() {
		fmt.Fprintf(stdout, "The inventory is valid: %s, %d network(s), policy %s.\n", countHosts(len(inv.Hosts)), len(inv.Networks), pol.Pack)
	}
	return exitFor(diags)
}

func exitFor(diags hcl.Diagnostics) int {
	if diags.HasErrors() {
		return 1
	}
	return 0
}

// keyFileDiags reports the key, certificate and CA files hosts name that
// do not exist or cannot be read, one diagnostic per file, at the first
// host that names it. It reads no secret's content.
func keyFileDiags(inv *inventory.Inventory) hcl.Diagnostics {
	var diags hcl.Diagnostics
	seen := map[string]*hcl.Diagnostic{}
	check := func(h *inventory.Host, what, path string, sev hcl.DiagnosticSeverity) {
		if path == "" {
			return
		}
		if d := seen[what+"\x00"+path]; d != nil {
			d.Detail = strings.Replace(d.Detail, " (", ", "+h.Name+" (", 1)
			return
		}
		f, err := os.Open(path)
		if err == nil {
			f.Close()
			return
		}
		if errors.Is(err, fs.ErrNotExist) {
			err = errors.New("no such file")
		} else if pe, ok := err.(*fs.PathError); ok {
			err = pe.Err
		}
		d := &hcl.Diagnostic{
			Severity: sev,
			Summary:  "Missing " + what,
			Detail:   fmt.Sprintf("%s %s: %s. Hosts that need it: %s (this one first).", what, path, err, h.Name),
			Subject:  h.DeclRange.Ptr(),
		}
		seen[what+"\x00"+path] = d
		diags = append(diags, d)
	}
	for _, h := range inv.Hosts {
		if !h.Managed {
			continue
		}
		for s := h.SSH; s != nil; s = s.ProxyJump {
			who := "ssh"
			if s != h.SSH {
				who = "proxy_jump " + s.Address
			}
			checkSSHFiles(s, func(what, path string) { check(h, who+" "+what, path, hcl.DiagError) })
			if !s.InsecureIgnoreHostKey {
				sev := hcl.DiagError
				if s.AcceptNewHostKeys {
					sev = hcl.DiagWarning
				}
				check(h, who+" known_hosts", s.KnownHostsPath, sev)
			}
		}
		if h.WinRM != nil {
			check(h, "winrm ca_cert", h.WinRM.CACertPath, hcl.DiagError)
			check(h, "winrm krb5_conf", h.WinRM.Krb5ConfigPath, hcl.DiagError)
		}
	}
	return diags
}

// checkSSHFiles calls f for each key file an SSH configuration names.
func checkSSHFiles(s *transport.SSHConfig, f func(what, path string)) {
	f("private_key", s.PrivateKeyPath)
	f("certificate", s.CertificatePath)
}

package inventory

import (
	"fmt"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/portwarden/portwarden/transport"
)

func (d *decoder) sshConfig(m map[string]*value, address string) (*transport.SSHConfig, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	c := &transport.SSHConfig{Address: address}
	r := reader{m: m, diags: &diags}
	r.str("user", &c.User)
	r.port("port", &c.Port)
	r.path(d, "private_key", &c.PrivateKeyPath)
	r.path(d, "certificate", &c.CertificatePath)
	r.str("passphrase", &c.Passphrase)
	r.str("password", &c.Password)
	r.bool("agent", &c.Agent)
	r.path(d, "known_hosts", &c.KnownHostsPath)
	r.bool("accept_new_host_keys", &c.AcceptNewHostKeys)
	r.bool("insecure_ignore_host_key", &c.InsecureIgnoreHostKey)
	r.bool("sudo", &c.Sudo)
	r.str("sudo_password", &c.SudoPassword)
	r.duration("connect_timeout", &c.ConnectTimeout)
	r.duration("command_timeout", &c.CommandTimeout)
	if m["user"] != nil && c.User == "" {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid ssh user", Detail: "ssh user must not be empty."})
	}
	if c.InsecureIgnoreHostKey {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagWarning, Summary: "Unverified SSH host key",
			Detail: "insecure_ignore_host_key = true accepts any host key: anyone on the path can impersonate the host and " +
				"read the passwords sent to it. Prefer known_hosts (or accept_new_host_keys once).",
			Subject: rangeOf(m["insecure_ignore_host_key"])})
	}
	var jump string
	r.str("proxy_jump", &jump)
	if jump != "" {
		j, err := parseJumps(jump, c)
		if err != nil {
			diags = append(diags, attrDiag(m["proxy_jump"], "Invalid proxy_jump", err.Error()))
		}
		c.ProxyJump = j
	}
	// OpenSSH's client config fills what the inventory leaves unset.
	oc, ds := d.openSSHConfig(m["ssh_config"])
	diags = append(diags, ds...)
	if oc != nil {
		if err := applyOpenSSH(c, oc, address, func(name string) bool { return m[name] != nil }, d); err != nil {
			diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "Invalid ssh_config",
				Detail: fmt.Sprintf("Host %s in %s: %s.", address, oc.path, err), Subject: rangeOf(m["ssh_config"])})
		}
	}
	// Without a key, as ssh: the agent, then ~/.ssh/id_*.
	if c.PrivateKeyPath == "" && len(c.IdentityFiles) == 0 {
		c.IdentityFiles = defaultIdentityFiles(d)
		c.AgentIfAvailable = m["agent"] == nil
	}
	for j := c.ProxyJump; j != nil; j = j.ProxyJump {
		if j.PrivateKeyPath == "" && len(j.IdentityFiles) == 0 {
			j.IdentityFiles, j.AgentIfAvailable = defaultIdentityFiles(d), m["agent"] == nil
		}
	}
	// The transport's defaults fill what neither the inventory nor
	// ssh_config says, for the host and every hop. command_timeout stays
	// zero unless set: the orchestrator then scales each script's timeout
	// with its work.
	filled, err := transport.SSHDefaults(*c)
	if err != nil {
		diags = append(diags, &hcl.Diagnostic{Severity: hcl.DiagError, Summary: "No known_hosts",
			Detail: fmt.Sprintf("ssh to %s: %s; set known_hosts.", address, err)})
	}
	return &filled, diags
}

// parseJumps reads proxy_jump: "[user@]host[:port]", or several
// separated by commas, the first reached first (OpenSSH's -J).
func parseJumps(s string, base *transport.SSHConfig) (*transport.SSHConfig, error) {
	var prev *transport.SSHConfig
	for _, hop := range strings.Split(s, ",") {
		j, err := parseJump(strings.TrimSpace(hop), base)
		if err != nil {
			return nil, err
		}
		j.ProxyJump = prev
		prev = j
	}
	return prev, nil
}

func (d *decoder) winrmConfig(m map[string]*value, address string) (*transport.WinRMConfig, hcl.Diagnostics) {
	var diags hcl.Diagnostics
	// https and auth are known while the attributes are checked; the
	// transport's defaults fill the rest at the end (see sshConfig).
	c := &transport.WinRMConfig{Address: address, HTTPS: true, Auth: transport.DefaultWinRMAuth}
	r := reader{m: m, diags: &diags}
	r.str("user", &c.User)
	r.str("password", &c.Password)
	r.bool("https", &c.HTTPS)
	r.port("port", &c.Port)
	r.path(d, "ca_cert", &c.CACertPath)
	r.str("tls_server_name", &c.TLSServerName)
	r.str("cert_sha256", &c.CertSHA256)
	r.bool("insecure", &c.Insecure)
	r.str("auth", &c.Auth)
	r.bool("allow_unencrypted", &c.AllowUnencrypted)
	r.bool("allow_basic_over_http_cleartext_password", &c.AllowBasicOverHTTPCleartextPassword)
	r.duration("connect_timeout", &c.ConnectTimeout)
	r.duration("command_timeout", &c.CommandTimeout)
	if c.TLSServerName != "" && !validHostname(c.TLSServerName) {
		diags = append(diags, attrDiag(m["tls_server_name"], "Invalid tls_server_name", fmt.Sprintf("%q is not a DNS name.", c.TLSServerName)))
	}
	if c.CertSHA256 != "" && !validCertPin(c.CertSHA256) {
		diags = append(diags, attrDiag(m["cert_sha256"], "Invalid cert_sha256",
			"cert_sha256 must be the certificate's SHA-256 fingerprint: 64 hex digits, colons allowed (openssl x509 -noout -fingerprint -sha256)."))
	}
	diags = append(diags, d.winrmKerberos(m, c)...)
	if !c.HTTPS && c.AllowUnencrypted {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  "Unencrypted WinRM",
			Detail: fmt.Sprintf("WinRM to %s uses plain HTTP: scripts and results cross the network in clear text, and the host must allow "+
				"unencrypted traffic (winrm set winrm/config/service @{AllowUnencrypted=\"true\"}). Prefer HTTPS on 5986.", address),
			Subject: rangeOf(m["https"]),
		})
	}
	if c.Auth == "basic" && !c.HTTPS && c.AllowUnencrypted && !c.AllowBasicOverHTTPCleartextPassword {
		diags = append(diags, attrDiag(m["auth"], "Basic authentication over plain HTTP",
			"auth = \"basic\" with https = false sends the password in clear text with every request. "+
				"Use HTTPS or NTLM, or set allow_basic_over_http_cleartext_password = true to accept that risk."))
	}
	if c.Auth == "basic" && !c.HTTPS && c.AllowBasicOverHTTPCleartextPassword {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  "Cleartext WinRM password",
			Detail:   fmt.Sprintf("WinRM to %s sends the password in clear text with every request (Basic over plain HTTP), as allow_basic_over_http_cleartext_password allows.", address),
			Subject:  rangeOf(m["allow_basic_over_http_cleartext_password"]),
		})
	}
	if c.Insecure && c.HTTPS {
		diags = append(diags, &hcl.Diagnostic{
			Severity: hcl.DiagWarning,
			Summary:  "Unverified WinRM certificate",
			Detail: fmt.Sprintf("insecure = true skips verifying the TLS certificate of %s: anyone on the path can impersonate the host and read what is sent, "+
				"the password included with auth = \"basic\". Prefer ca_cert.", address),
			Subject: rangeOf(m["insecure"]),
		})
	}
	if !c.HTTPS && !c.AllowUnencrypted {
		diags = append(diags, attrDiag(m["https"], "Unencrypted WinRM",
			"https = false sends every script in clear text, and the WinRM library cannot seal NTLM messages: "+
				"the host must allow unencrypted traffic (AllowUnencrypted). Set allow_unencrypted = true to accept that, or use HTTPS."))
	}
	filled := transport.WinRMDefaults(*c)
	return &filled, diags
}

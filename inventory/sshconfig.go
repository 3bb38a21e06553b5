package inventory

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/kevinburke/ssh_config"

	"github.com/portwarden/portwarden/transport"
)

// openSSH is a parsed OpenSSH client configuration (~/.ssh/config).
type openSSH struct {
	path string
	cfg  *ssh_config.Config
}

// openSSHConfig reads the ssh_config attribute's file, or ~/.ssh/config
// when there is one; the same file is parsed once per inventory.
func (d *decoder) openSSHConfig(v *value) (*openSSH, hcl.Diagnostics) {
	path, explicit := d.path("~/.ssh/config"), false
	if v != nil {
		s, ds := toString(v, "ssh_config")
		if ds.HasErrors() || s == "" {
			return nil, ds
		}
		path, explicit = d.path(s), true
	}
	if d.sshConfigs == nil {
		d.sshConfigs = map[string]*openSSH{}
	}
	if oc, ok := d.sshConfigs[path]; ok {
		return oc, nil
	}
	f, err := os.Open(path)
	if err != nil {
		d.sshConfigs[path] = nil
		// The default ~/.ssh/config is optional: missing, or unreadable
		// for this user (a timer's user under root's HOME), it is skipped.
		// One the inventory names must be readable.
		if !explicit && (os.IsNotExist(err) || os.IsPermission(err)) {
			return nil, nil
		}
		return nil, hcl.Diagnostics{attrDiag(v, "Cannot read ssh_config", fmt.Sprintf("Reading %s: %s.", path, unwrapPathErr(err)))}
	}
	defer f.Close()
	cfg, err := ssh_config.Decode(f)
	if err != nil {
		d.sshConfigs[path] = nil
		return nil, hcl.Diagnostics{attrDiag(v, "Invalid ssh_config", fmt.Sprintf("Parsing %s: %s.", path, err))}
	}
	oc := &openSSH{path: path, cfg: cfg}
	d.sshConfigs[path] = oc
	return oc, nil
}

func (oc *openSSH) get(alias, key string) string {
	v, _ := oc.cfg.Get(alias, key)
	return v
}

// applyOpenSSH fills c from the Host blocks that match alias: HostName,
// User, Port, IdentityFile, CertificateFile, ProxyJump; set says which
// attributes the inventory gives, and those win.
func applyOpenSSH(c *transport.SSHConfig, oc *openSSH, alias string, set func(string) bool, d *decoder) error {
	if err := applyHop(c, oc, alias, set, d); err != nil {
		return err
	}
	jump := oc.get(alias, "ProxyJump")
	if set("proxy_jump") || jump == "" || strings.EqualFold(jump, "none") {
		return nil
	}
	// Each hop is looked up in the same file, for its own HostName,
	// User, Port and keys.
	base := *c
	base.ProxyJump, base.IdentityFiles, base.CertificatePath = nil, nil, ""
	var prev *transport.SSHConfig
	for _, hop := range strings.Split(jump, ",") {
		hop = strings.TrimSpace(hop)
		j, err := parseJump(hop, &base)
		if err != nil {
			return err
		}
		// A hop whose own Host block names keys uses them, as ssh does
		// (options for the destination, the inventory's private_key among
		// them, do not apply to jump hosts); one without uses the host's.
		ids, _ := oc.cfg.GetAll(j.Address, "IdentityFile")
		ownKeys := len(ids) > 0
		j.PrivateKeyPath = c.PrivateKeyPath
		if !set("private_key") || ownKeys {
			j.PrivateKeyPath = ""
		}
		hasUser := strings.Contains(hop, "@")
		hasPort := strings.Contains(strings.TrimPrefix(hop, j.User+"@"), ":")
		hopSet := func(name string) bool {
			switch name {
			case "user":
				return hasUser
			case "port":
				return hasPort
			case "private_key":
				return set("private_key") && !ownKeys
			}
			return false
		}
		if err := applyHop(j, oc, j.Address, hopSet, d); err != nil {
			return fmt.Errorf("proxy jump %s: %w", hop, err)
		}
		j.ProxyJump = prev
		prev = j
	}
	c.ProxyJump = prev
	return nil
}

// applyHop applies one host's settings.
func applyHop(c *transport.SSHConfig, oc *openSSH, alias string, set func(string) bool, d *decoder) error {
	if hn := oc.get(alias, "HostName"); hn != "" {
		hn = strings.ReplaceAll(hn, "%h", alias)
		if _, err := netip.ParseAddr(hn); err != nil && !validHostname(hn) {
			return fmt.Errorf("the HostName %q is not an address or host name", hn)
		}
		c.Address = hn
	}
	if u := oc.get(alias, "User"); u != "" && !set("user") {
		c.User = u
	}
	if p := oc.get(alias, "Port"); p != "" && !set("port") {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("the Port %q is not a port number", p)
		}
		c.Port = n
	}
	if !set("private_key") {
		ids, _ := oc.cfg.GetAll(alias, "IdentityFile")
		for _, id := range ids {
			c.IdentityFiles = append(c.IdentityFiles, d.path(strings.ReplaceAll(id, "%h", alias)))
		}
	}
	if cf := oc.get(alias, "CertificateFile"); cf != "" && !set("certificate") && c.PrivateKeyPath != "" {
		c.CertificatePath = d.path(cf)
	}
	return nil
}

// defaultIdentityFiles are the keys ssh tries without -i.
func defaultIdentityFiles(d *decoder) []string {
	var out []string
	for _, n := range transport.DefaultIdentityFiles {
		out = append(out, d.path("~/.ssh/"+n))
	}
	return out
}

// parseJump reads "[user@]host[:port]"; the bastion uses the host's keys
// and known_hosts.
func parseJump(s string, base *transport.SSHConfig) (*transport.SSHConfig, error) {
	j := *base
	j.ProxyJump = nil
	if u, rest, ok := strings.Cut(s, "@"); ok {
		if u == "" {
			return nil, fmt.Errorf("proxy_jump %q: empty user", s)
		}
		j.User, s = u, rest
	}
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		if i := strings.Index(s, "]"); i > 0 {
			host, port = s[1:i], strings.TrimPrefix(s[i+1:], ":")
		}
	} else if h, p, ok := strings.Cut(s, ":"); ok && !strings.Contains(p, ":") {
		host, port = h, p
	}
	if _, err := netip.ParseAddr(host); err != nil && !validHostname(host) {
		return nil, fmt.Errorf("proxy_jump %q: %q is not an address or host name", s, host)
	}
	j.Address = host
	j.Port = 0 // transport.SSHDefaults fills it unless ssh_config has one
	if port != "" {
		var n int
		if _, err := fmt.Sscanf(port, "%d", &n); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("proxy_jump %q: bad port %q", s, port)
		}
		j.Port = n
	}
	return &j, nil
}

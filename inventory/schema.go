package inventory

import (
	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
)

var rootSchema = &hcl.BodySchema{
	Blocks: []hcl.BlockHeaderSchema{
		{Type: "settings"},
		{Type: "defaults"},
		{Type: "group", LabelNames: []string{"name"}},
		{Type: "host", LabelNames: []string{"name"}},
		{Type: "network", LabelNames: []string{"name"}},
	},
}

// Attributes shared by defaults, group and host blocks: a host's value
// comes from the host block, else from its groups in order, else from
// defaults.
var layeredAttrs = []string{"os", "managed", "firewall", "mode", "persist_root"}

var layeredSchema = func(extra ...hcl.AttributeSchema) *hcl.BodySchema {
	s := &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "ssh"}, {Type: "winrm"}}}
	for _, a := range layeredAttrs {
		s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: a})
	}
	s.Attributes = append(s.Attributes, extra...)
	return s
}

var (
	defaultsSchema = layeredSchema()
	groupSchema    = layeredSchema(hcl.AttributeSchema{Name: "roles"})
	hostSchema     = layeredSchema(
		hcl.AttributeSchema{Name: "address", Required: true},
		hcl.AttributeSchema{Name: "roles"},
		hcl.AttributeSchema{Name: "groups"},
	)
	networkSchema = &hcl.BodySchema{Attributes: []hcl.AttributeSchema{
		{Name: "cidrs", Required: true}, {Name: "roles", Required: true},
	}}
	sshAttrs = []string{"user", "port", "private_key", "certificate", "ssh_config", "passphrase", "password", "agent",
		"known_hosts", "accept_new_host_keys", "insecure_ignore_host_key", "sudo",
		"sudo_password", "proxy_jump", "connect_timeout", "command_timeout"}
	winrmAttrs = []string{"user", "password", "https", "port", "ca_cert", "tls_server_name", "cert_sha256", "insecure", "auth",
		"realm", "spn", "krb5_conf", "ccache", "allow_unencrypted", "allow_basic_over_http_cleartext_password", "connect_timeout", "command_timeout"}
)

func attrSchema(names []string) *hcl.BodySchema {
	s := &hcl.BodySchema{}
	for _, n := range names {
		s.Attributes = append(s.Attributes, hcl.AttributeSchema{Name: n})
	}
	return s
}

// layer is the evaluated attributes of one defaults, group or host block.
type layer struct {
	attrs map[string]*value
	ssh   map[string]*value
	winrm map[string]*value
}

type value struct {
	v   cty.Value
	rng hcl.Range
	// computed is set when the value is not written literally in the
	// file (env(), file(), a reference): diagnostics must not show it.
	computed bool
}

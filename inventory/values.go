package inventory

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

func (d *decoder) path(p string) string {
	if strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			p = filepath.Join(home, p[2:])
		}
	}
	if !filepath.IsAbs(p) {
		p = filepath.Join(d.dir, p)
	}
	return p
}

// reader converts attribute values, adding a diagnostic for each wrong one.
type reader struct {
	m     map[string]*value
	diags *hcl.Diagnostics
}

func (r reader) str(name string, dst *string) {
	if v := r.m[name]; v != nil {
		s, ds := toString(v, name)
		*r.diags = append(*r.diags, ds...)
		*dst = s
	}
}

func (r reader) path(d *decoder, name string, dst *string) {
	var s string
	r.str(name, &s)
	if s != "" {
		*dst = d.path(s)
	}
}

func (r reader) bool(name string, dst *bool) {
	if v := r.m[name]; v != nil {
		b, ds := toBool(v, name)
		*r.diags = append(*r.diags, ds...)
		*dst = b
	}
}

func (r reader) port(name string, dst *int) {
	v := r.m[name]
	if v == nil || !v.v.IsWhollyKnown() {
		return
	}
	n, err := convert.Convert(v.v, cty.Number)
	if err == nil && !n.IsNull() {
		if i, acc := n.AsBigFloat().Int64(); acc == 0 && i >= 1 && i <= 65535 {
			*dst = int(i)
			return
		}
	}
	*r.diags = append(*r.diags, attrDiag(v, "Invalid port", fmt.Sprintf("%s must be a port number 1-65535.", name)))
}

func (r reader) duration(name string, dst *time.Duration) {
	var s string
	r.str(name, &s)
	if s == "" {
		return
	}
	dur, err := time.ParseDuration(s)
	if err != nil || dur <= 0 {
		*r.diags = append(*r.diags, attrDiag(r.m[name], "Invalid duration", fmt.Sprintf("%s must be a duration such as \"10s\" or \"2m\".", name)))
		return
	}
	*dst = dur
}

func attrDiag(v *value, summary, detail string) *hcl.Diagnostic {
	d := &hcl.Diagnostic{Severity: hcl.DiagError, Summary: summary, Detail: hideComputed(v, detail)}
	if v != nil {
		d.Subject = v.rng.Ptr()
	}
	return d
}

func toString(v *value, name string) (string, hcl.Diagnostics) {
	if !v.v.IsWhollyKnown() {
		return "", nil // a secret read with UnknownSecrets
	}
	s, err := convert.Convert(v.v, cty.String)
	if err != nil || s.IsNull() {
		return "", hcl.Diagnostics{attrDiag(v, "Invalid value", fmt.Sprintf("%s must be a string.", name))}
	}
	return s.AsString(), nil
}

func toBool(v *value, name string) (bool, hcl.Diagnostics) {
	if !v.v.IsWhollyKnown() {
		return false, nil
	}
	b, err := convert.Convert(v.v, cty.Bool)
	if err != nil || b.IsNull() {
		return false, hcl.Diagnostics{attrDiag(v, "Invalid value", fmt.Sprintf("%s must be true or false.", name))}
	}
	return b.True(), nil
}

func toStrings(v *value, name string) ([]string, hcl.Diagnostics) {
	if !v.v.IsWhollyKnown() {
		return nil, nil
	}
	l, err := convert.Convert(v.v, cty.List(cty.String))
	if err != nil || l.IsNull() {
		return nil, hcl.Diagnostics{attrDiag(v, "Invalid value", fmt.Sprintf("%s must be a list of strings.", name))}
	}
	var out []string
	for _, e := range l.AsValueSlice() {
		if e.IsNull() {
			return nil, hcl.Diagnostics{attrDiag(v, "Invalid value", fmt.Sprintf("%s must not contain null.", name))}
		}
		out = append(out, e.AsString())
	}
	return out, nil
}

func toPrefixes(v *value, name string) ([]netip.Prefix, hcl.Diagnostics) {
	ss, diags := toStrings(v, name)
	var out []netip.Prefix
	for _, s := range ss {
		p, err := parsePrefix(s)
		if err != nil {
			diags = append(diags, attrDiag(v, "Invalid CIDR", fmt.Sprintf("%s: %q is not an IPv4/IPv6 address or CIDR (%s).", name, s, err)))
			continue
		}
		out = append(out, p)
	}
	return out, diags
}

// parsePrefix accepts "10.0.0.0/8" and a bare address. A CIDR with host
// bits set is refused: "10.0.0.1/8" is more likely a typo than a wish.
func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q has an IPv6 zone; use an address without one", s)
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if p.Addr().Is4In6() {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("host bits are set; did you mean %s?", p.Masked())
	}
	return p, nil
}

func rangeOf(v *value) *hcl.Range {
	if v == nil {
		return nil
	}
	return v.rng.Ptr()
}

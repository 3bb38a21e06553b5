package inventory

import (
	"strconv"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
)

// literalExpr reports whether e is written out in the file: literals,
// templates without interpolation, and lists and objects of them. Only
// such a value may be quoted in a diagnostic: the value of env("X") or
// file("key") is usually a secret, and the user sees the expression's
// range instead.
func literalExpr(e hcl.Expression) bool {
	switch e := e.(type) {
	case *hclsyntax.LiteralValueExpr:
		return true
	case *hclsyntax.TemplateExpr:
		for _, p := range e.Parts {
			if !literalExpr(p) {
				return false
			}
		}
		return true
	case *hclsyntax.TemplateWrapExpr:
		return literalExpr(e.Wrapped)
	case *hclsyntax.TupleConsExpr:
		for _, x := range e.Exprs {
			if !literalExpr(x) {
				return false
			}
		}
		return true
	case *hclsyntax.ObjectConsExpr:
		for _, it := range e.Items {
			if !literalExpr(it.KeyExpr) || !literalExpr(it.ValueExpr) {
				return false
			}
		}
		return true
	case *hclsyntax.ObjectConsKeyExpr:
		return !e.ForceNonLiteral && (hcl.ExprAsKeyword(e.Wrapped) != "" || literalExpr(e.Wrapped))
	}
	return false
}

// hideComputed returns detail, or, when v is computed and detail contains
// any string of its value, a detail that does not show it.
func hideComputed(v *value, detail string) string {
	if v == nil || !v.computed {
		return detail
	}
	leak := false
	walkStrings(v.v, func(s string) {
		if s != "" && containsFold(detail, s) {
			leak = true
		}
	})
	if !leak {
		return detail
	}
	return "The value of this expression is not valid here. It is not shown: it comes from env(), file() or a reference and may be a secret."
}

// hideComputedIn applies hideComputed to the detail of each of ds for
// every value of vs (nil ones are skipped).
func hideComputedIn(ds hcl.Diagnostics, vs ...*value) hcl.Diagnostics {
	for _, d := range ds {
		for _, v := range vs {
			d.Detail = hideComputed(v, d.Detail)
		}
	}
	return ds
}

// redactComputed replaces, in the detail of each of ds, every string of
// v's value with what, when v is computed: a diagnostic about something
// else (a warning about the host's WinRM settings) still names the host
// without showing a value from env() or file(). A detail that shows the
// value in another form is hidden whole (hideComputed).
func redactComputed(ds hcl.Diagnostics, v *value, what string) hcl.Diagnostics {
	if v == nil || !v.computed {
		return ds
	}
	for _, d := range ds {
		walkStrings(v.v, func(s string) {
			if s != "" {
				d.Detail = strings.ReplaceAll(d.Detail, s, what)
			}
		})
		d.Detail = hideComputed(v, d.Detail)
	}
	return ds
}

func walkStrings(v cty.Value, f func(string)) {
	if v.IsNull() || !v.IsKnown() {
		return
	}
	switch {
	case v.Type() == cty.String:
		f(v.AsString())
	case v.Type().IsListType() || v.Type().IsTupleType() || v.Type().IsSetType() || v.Type().IsMapType() || v.Type().IsObjectType():
		for it := v.ElementIterator(); it.Next(); {
			_, e := it.Element()
			walkStrings(e, f)
		}
	default:
		if s, err := convertString(v); err == nil {
			f(s)
		}
	}
}

func convertString(v cty.Value) (string, error) {
	s, err := convert.Convert(v, cty.String)
	if err != nil || s.IsNull() || !s.IsKnown() {
		return "", err
	}
	return s.AsString(), nil
}

// containsFold reports whether detail shows s, raw or Go-quoted, in any
// letter case (an error may have lowered it).
func containsFold(detail, s string) bool {
	d, q := strings.ToLower(detail), strconv.Quote(s)
	return strings.Contains(d, strings.ToLower(s)) || strings.Contains(d, strings.ToLower(q[1:len(q)-1]))
}

// rolesValues are the roles attributes of layers, for hiding computed
// role names in diagnostics.
func rolesValues(layers []layer) []*value {
	var vs []*value
	for _, l := range layers {
		vs = append(vs, l.attrs["roles"])
	}
	return vs
}

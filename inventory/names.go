package inventory

import (
	"regexp"
	"strings"
)

var hostnameRE = regexp.MustCompile(`^([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*\.?$`)

// validHostname reports whether s is a DNS name that is safe to hand to a
// resolver (and so never something a shell could misread).
func validHostname(s string) bool {
	if len(s) > 253 || !hostnameRE.MatchString(s) {
		return false
	}
	// An all-numeric dotted name is a malformed IP, not a host name.
	last := strings.TrimSuffix(s, ".")
	if i := strings.LastIndexByte(last, '.'); i >= 0 {
		last = last[i+1:]
	}
	return strings.ContainsFunc(last, func(r rune) bool { return r < '0' || r > '9' })
}

func validName(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case i > 0 && (r == '_' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return true
}

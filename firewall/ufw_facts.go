package firewall

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// Sections the facts script prints on a host with ufw installed (empty
// elsewhere): ufw's own files, exactly (cat), because Apply rewrites them
// from these contents and checks with their checksums that nobody changed
// them in between.
const (
	ufwSecRules   = "ufw_user_rules"  // /etc/ufw/user.rules
	ufwSecRules6  = "ufw_user6_rules" // /etc/ufw/user6.rules
	ufwSecDefault = "ufw_default"     // /etc/default/ufw
	ufwSecRecord  = "ufw_portwarden"  // /etc/ufw/portwarden.conf
)

const (
	ufwRulesPath   = "/etc/ufw/user.rules"
	ufwRules6Path  = "/etc/ufw/user6.rules"
	ufwDefaultPath = "/etc/default/ufw"
)

// ufwFactsSections is part of the Linux facts script. ufw reads its files
// at these fixed paths (a persist root does not apply to them: on a lab
// host, its own mount namespace gives it its own /etc).
//
// The files are read (a cat each) only where ufw is enabled or holds
// something of portwarden's: the package is installed on many hosts that
// do not use it, and a process costs every host a few milliseconds.
// ufw.conf's ENABLED= is the services part's $pw_ufw_conf (read once).
const ufwFactsSections = `pw_ufw=
if pw_has ufw && { [ "$pw_ufw_conf" = yes ] || [ -f ` + ufwRecordPath + ` ] ||
	pw_contains ` + ufwRulesPath + ` ` + ufwOwnedHex + `; }; then
	pw_ufw=yes
fi
pw_ufwcat() {
	if [ -n "$pw_ufw" ] && [ -f "$2" ]; then pw_run "$1" cat "$2"; else pw_section "$1"; fi
}
pw_ufwcat ` + ufwSecRules + ` ` + ufwRulesPath + `
pw_ufwcat ` + ufwSecRules6 + ` ` + ufwRules6Path + `
pw_ufwcat ` + ufwSecDefault + ` ` + ufwDefaultPath + `
pw_ufwcat ` + ufwSecRecord + ` ` + ufwRecordPath + `
`

// ufwHost is a host's ufw files, parsed from facts.
type ufwHost struct {
	rules, rules6 *ufwFile // rules6 is nil when IPV6=no
	defaults      ufwDefaults
	record        ufwRecord
	// raw contents, for the checksums Apply checks before it swaps.
	raw map[string]string
}

func ufwHostFromFacts(lf *linuxFacts) (*ufwHost, error) {
	h := &ufwHost{raw: map[string]string{}}
	for _, s := range []struct{ sec, path string }{
		{ufwSecRules, ufwRulesPath}, {ufwSecRules6, ufwRules6Path},
		{ufwSecDefault, ufwDefaultPath}, {ufwSecRecord, ufwRecordPath},
	} {
		text, err := lf.section(s.sec, "reading "+s.path)
		if err != nil {
			return nil, err
		}
		// The section ends with the newline that starts the next marker.
		h.raw[s.path] = strings.TrimSuffix(text, "\n")
	}
	if h.raw[ufwDefaultPath] == "" && h.raw[ufwRulesPath] == "" {
		return nil, fmt.Errorf("ufw is not enabled on this host (no ENABLED=yes in /etc/ufw/ufw.conf) and holds nothing of portwarden's: enable it (ufw enable) to manage the host through ufw")
	}
	if h.raw[ufwDefaultPath] == "" {
		return nil, fmt.Errorf("%s is missing or empty: ufw is not installed as its package installs it", ufwDefaultPath)
	}
	h.defaults = parseUFWDefaults(h.raw[ufwDefaultPath])
	var err error
	if h.rules, err = parseUFWFile(ufwRulesPath, h.raw[ufwRulesPath]); err != nil {
		return nil, err
	}
	if h.defaults.ipv6 {
		if h.rules6, err = parseUFWFile(ufwRules6Path, h.raw[ufwRules6Path]); err != nil {
			return nil, err
		}
	}
	if h.record, err = parseUFWRecord(h.raw[ufwRecordPath]); err != nil {
		return nil, err
	}
	return h, nil
}

// sum is what sha256sum prints for a file as read in the facts, or "-"
// for a file that was not there.
func (h *ufwHost) sum(path string) string {
	text := h.raw[path]
	if text == "" {
		return "-"
	}
	s := sha256.Sum256([]byte(text))
	return hex.EncodeToString(s[:])
}

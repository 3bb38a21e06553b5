package firewall

import (
	"fmt"
	"strings"
)

// otherDropWarnings warns of input chains outside the iptables variant in
// use that drop: their drops override this backend's accepts.
func (b *IPTables) otherDropWarnings(lf *linuxFacts) ([]string, error) {
	var w []string
	legacy := b.Legacy || lf.iptablesVariant() == "legacy"
	if !legacy {
		lw, err := iptLegacyDropWarnings(lf)
		if err != nil {
			return nil, err
		}
		w = append(w, lw...)
	}
	if !lf.has("nft") {
		return w, nil
	}
	text, err := lf.section(linuxSecNFT, "nft -j list ruleset")
	if err != nil || strings.TrimSpace(text) == "" {
		// The ruleset is only consulted for warnings here; an nft
		// without JSON support must not make the host unreadable.
		return w, nil
	}
	rs, err := parseNFTRuleset(text)
	if err != nil {
		return nil, err
	}
	h := nftAnalyze(rs)
	for _, f := range h.foreign {
		for _, c := range f.drops {
			w = append(w, fmt.Sprintf("the nftables chain %s drops inbound traffic: portwarden's iptables rules cannot open ports through it; use firewall = \"nftables\" for this host", c))
		}
	}
	if legacy {
		for _, c := range h.iptDrops {
			w = append(w, fmt.Sprintf("the iptables-nft chain %s drops inbound traffic: portwarden's iptables-legacy rules cannot open ports through it", c))
		}
	}
	if h.table != nil {
		w = append(w, "the nftables table inet portwarden is left over from the nftables backend; remove it with: nft delete table inet portwarden")
	}
	return w, nil
}

// iptLegacySaves returns the iptables-save output of the legacy tables
// by family: the default sections where the default iptables is legacy.
func iptLegacySaves(lf *linuxFacts) (map[string]string, error) {
	secs := map[string][2]string{
		"IPv4": {linuxSecIPTLegacy, "iptables-legacy-save"},
		"IPv6": {linuxSecIP6Legacy, "ip6tables-legacy-save"},
	}
	if lf.iptablesVariant() == "legacy" {
		secs = map[string][2]string{"IPv4": {linuxSecIPT, "iptables-save"}, "IPv6": {linuxSecIP6T, "ip6tables-save"}}
	}
	out := map[string]string{}
	for name, sec := range secs {
		// A legacy listing that failed (no legacy tools, a kernel without
		// ip_tables) is left out: these are only consulted for warnings
		// and detection.
		if text, err := lf.section(sec[0], sec[1]); err == nil {
			out[name] = text
		}
	}
	return out, nil
}

// iptLegacyDropWarnings warns of iptables-legacy INPUT chains that drop,
// for the backends that do not write there.
func iptLegacyDropWarnings(lf *linuxFacts) ([]string, error) {
	saves, err := iptLegacySaves(lf)
	if err != nil {
		return nil, err
	}
	var w []string
	for _, name := range []string{"IPv4", "IPv6"} {
		tables, err := parseIptablesSave(saves[name])
		if err != nil {
			return nil, fmt.Errorf("parsing iptables-legacy-save output: %w", err)
		}
		if f := tables["filter"]; f != nil && f.chains[iptInput] != nil && f.chains[iptInput].drops() {
			w = append(w, fmt.Sprintf("the %s iptables-legacy chain INPUT drops inbound traffic: rules outside iptables-legacy cannot open ports through it; use firewall = \"iptables\" for this host", name))
		}
	}
	return w, nil
}

// managerWarnings are the Warnings the nftables and iptables backends
// show about another firewall manager on the host: one that runs, or one
// that is enabled and takes over at the next boot.
func (lf *linuxFacts) managerWarnings() []string {
	var w []string
	if lf.firewalldActive() {
		w = append(w, "firewalld is active on this host: it manages the firewall and a reload or restart of firewalld can remove or override portwarden's rules until the next apply")
	}
	if lf.ufwActive() {
		w = append(w, "ufw is active on this host: it manages the firewall and \"ufw reload\" or \"ufw enable\" can remove or override portwarden's rules until the next apply")
	}
	if lf.firewalldPending() {
		w = append(w, firewalldPendingWarning)
	}
	if lf.ufwPending() {
		w = append(w, ufwPendingWarning)
	}
	return w
}

const (
	firewalldPendingWarning = `firewalld is enabled but not running on this host: it starts at the next boot, takes over the firewall and may drop portwarden's rules; run "systemctl disable --now firewalld", or set firewall = "firewalld" for this host and start it`
	ufwPendingWarning       = `ufw is enabled (ENABLED=yes in /etc/ufw/ufw.conf) but not loaded on this host: it loads at the next boot, takes over the firewall and may drop portwarden's rules; run "ufw disable", or set firewall = "ufw" for this host and enable it`
)

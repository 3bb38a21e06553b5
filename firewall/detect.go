package firewall

import (
	"fmt"
)

// UnsupportedError says why no Linux backend can manage a host's firewall
// as the inventory asks, and how to proceed.
type UnsupportedError struct {
	// Want is the inventory's firewall value ("auto", "nftables", ...).
	Want string
	// Manager is "firewalld" or "ufw" when that manages the host's
	// firewall, else "".
	Manager string
	Reason  string
	// Hint says how to proceed.
	Hint string
}

func (e *UnsupportedError) Error() string {
	if e.Hint == "" {
		return e.Reason
	}
	return e.Reason + "; " + e.Hint
}

// Detect picks the Linux backend for a host from its facts (the output of
// LinuxFactsScript) and the inventory's firewall value: "auto" (or ""),
// "nftables", "iptables", "firewalld" or "ufw". persistRoot replaces "/"
// for the persisted files (see NFTables.Root). The same facts then go to
// the backend's State and Apply.
//
// With "auto":
//   - firewalld running: firewalld; ufw active: ufw (both: an
//     *UnsupportedError, they overwrite each other's rules);
//   - portwarden's table or chain already there: the backend that owns it,
//     so that a host never flips between backends;
//   - rules in iptables-legacy (whose drops nftables rules cannot
//     override): iptables, with the legacy tools;
//   - only iptables installed: iptables;
//   - iptables' INPUT chain has rules or drops and no native nftables
//     chain sees inbound traffic: iptables (the host is managed with
//     iptables, and its drops would override nftables accepts);
//   - otherwise nftables when nft is installed.
//
// A firewalld or ufw that is enabled but not running does not change the
// choice; the nftables and iptables backends warn about it (it takes over
// at the next boot). "nftables" or "iptables" where firewalld runs is an
// *UnsupportedError (firewalld would remove or override those rules), and
// so is an explicit choice of a tool that is not installed or running.
func Detect(f Facts, want, persistRoot string) (Backend, error) {
	lf, err := parseLinuxFacts(f)
	if err != nil {
		return nil, fmt.Errorf("detecting the firewall: %w", err)
	}
	if _, err := linuxRoot(persistRoot); err != nil {
		return nil, err
	}
	det, err := linuxDetect(lf)
	if err != nil {
		return nil, fmt.Errorf("detecting the firewall: %w", err)
	}
	kind, legacy, err := pickLinuxBackend(det, want)
	if err != nil {
		return nil, err
	}
	switch kind {
	case "nftables":
		return &NFTables{Root: persistRoot}, nil
	case "firewalld":
		return &Firewalld{}, nil
	case "ufw":
		return &UFW{}, nil
	}
	return &IPTables{Root: persistRoot, Legacy: legacy}, nil
}

// linuxDetection is what Detect decides on, probed from facts.
type linuxDetection struct {
	nft    bool   // nft installed and able to list the ruleset
	nftErr string // why nft could not list the ruleset
	// ipt and iptLegacy: the save and restore tools of the default
	// iptables and of iptables-legacy are installed.
	ipt, iptLegacy bool
	// defaultLegacy: the default iptables is the legacy variant.
	defaultLegacy bool

	firewalld, ufw bool
	// firewalldPending, ufwPending: enabled, not running; they take over
	// at the next boot.
	firewalldPending, ufwPending bool
	// firewalldInstalled: firewall-cmd is there.
	firewalldInstalled bool

	// ownNFT, ownIPT, ownIPTLegacy: portwarden's table or chain exists.
	ownNFT, ownIPT, ownIPTLegacy bool
	// legacyRules counts rules and non-ACCEPT policies in iptables-legacy.
	legacyRules int
	// iptInput: the default (nf_tables) iptables' INPUT has rules other
	// than portwarden's jump, or drops.
	iptInput bool
	// nftInput: a native nftables chain other than portwarden's is on the
	// input hook.
	nftInput bool
}

func linuxDetect(lf *linuxFacts) (linuxDetection, error) {
	d := linuxDetection{
		nft:           lf.has("nft"),
		ipt:           lf.has("iptables-save") && lf.has("iptables-restore"),
		defaultLegacy: lf.iptablesVariant() == "legacy",
		firewalld:     lf.firewalldActive(),
		ufw:           lf.ufwActive(),

		firewalldPending:   lf.firewalldPending(),
		ufwPending:         lf.ufwPending(),
		firewalldInstalled: lf.has("firewall-cmd"),
	}
	d.iptLegacy = d.defaultLegacy && d.ipt || lf.has("iptables-legacy-save") && lf.has("iptables-legacy-restore")

	if d.nft {
		text, err := lf.section(linuxSecNFT, "nft -j list ruleset")
		if err != nil {
			// nft that cannot list the ruleset as JSON (no permission, a
			// kernel without nf_tables, a build without JSON) is of no
			// use to the nftables backend.
			d.nft, d.nftErr = false, err.Error()
			text = `{"nftables": []}`
		}
		rs, err := parseNFTRuleset(text)
		if err != nil {
			return d, err
		}
		h := nftAnalyze(rs)
		d.ownNFT = h.table != nil
		for _, t := range rs.tables {
			if t.iptables || t.Family == nftFamily && t.Name == nftTable {
				continue
			}
			for _, c := range t.chains {
				if c.Hook == "input" && (t.Family == "inet" || t.Family == "ip" || t.Family == "ip6") {
					d.nftInput = true
				}
			}
		}
	}

	saves, err := iptLegacySaves(lf)
	if err != nil {
		return d, err
	}
	for _, text := range saves {
		tables, err := parseIptablesSave(text)
		if err != nil {
			return d, fmt.Errorf("parsing iptables-legacy-save output: %w", err)
		}
		for _, t := range tables {
			for _, c := range t.chains {
				if c.name == iptChain {
					if d.defaultLegacy {
						d.ownIPT = true
					} else {
						d.ownIPTLegacy = true
					}
				}
				d.legacyRules += len(c.rules)
				if c.policy != "-" && c.policy != "ACCEPT" {
					d.legacyRules++
				}
			}
		}
	}

	if !d.defaultLegacy {
		for _, sec := range [][2]string{{linuxSecIPT, "iptables-save"}, {linuxSecIP6T, "ip6tables-save"}} {
			text, err := lf.section(sec[0], sec[1])
			if err != nil {
				continue // as good as no iptables rules
			}
			tables, err := parseIptablesSave(text)
			if err != nil {
				return d, fmt.Errorf("parsing %s output: %w", sec[1], err)
			}
			filter := tables["filter"]
			if filter == nil {
				continue
			}
			if filter.chains[iptChain] != nil {
				d.ownIPT = true
			}
			if in := filter.chains[iptInput]; in != nil {
				if in.drops() {
					d.iptInput = true
				}
				for _, l := range in.rules {
					if l.target() != iptChain {
						d.iptInput = true
					}
				}
			}
		}
	}
	return d, nil
}

// pickLinuxBackend is the decision, a pure function of the probed facts.
func pickLinuxBackend(d linuxDetection, want string) (kind string, legacy bool, err error) {
	const (
		nft = "nftables"
		ipt = "iptables"
		fwd = "firewalld"
		ufw = "ufw"
	)
	if d.firewalld && (want == nft || want == ipt) {
		return "", false, &UnsupportedError{Want: want, Manager: fwd,
			Reason: fmt.Sprintf("firewall = %q but firewalld runs on this host: it owns the kernel ruleset, and its reload or restart would remove or override rules written with %s behind its back", want, want),
			Hint:   `set firewall = "firewalld" (or "auto") so that portwarden's rules go into firewalld's own configuration, or stop and disable firewalld ("systemctl disable --now firewalld") to manage the host with ` + want}
	}
	if d.firewalld && d.ufw && want != fwd && want != ufw {
		return "", false, &UnsupportedError{Want: want, Manager: "firewalld",
			Reason: "both firewalld and ufw are active on this host: they overwrite each other's rules, and no backend can keep portwarden's in place",
			Hint:   `disable one of them ("ufw disable" or "systemctl disable --now firewalld"), or set firewall = "firewalld" or "ufw" for this host`}
	}
	switch want {
	case "", "auto":
		switch {
		case d.firewalld:
			return fwd, false, nil
		case d.ufw:
			return ufw, false, nil
		case d.ownNFT && d.nft:
			return nft, false, nil
		case d.ownIPT && d.ipt:
			return ipt, false, nil
		case d.ownIPTLegacy && d.iptLegacy:
			return ipt, true, nil
		case d.legacyRules > 0 && d.iptLegacy:
			return ipt, true, nil
		case !d.nft && d.ipt:
			return ipt, false, nil
		case d.nft && d.ipt && d.iptInput && !d.nftInput:
			return ipt, false, nil
		case d.nft:
			return nft, false, nil
		}
		return "", false, &UnsupportedError{Want: want,
			Reason: "neither nft nor iptables-save and iptables-restore are installed on this host",
			Hint:   "install the nftables package"}
	case nft:
		if !d.nft && d.nftErr != "" {
			return "", false, &UnsupportedError{Want: want,
				Reason: `firewall = "nftables" but nft cannot list the ruleset on this host: ` + d.nftErr,
				Hint:   `check that the facts script runs as root and that nft supports JSON (nft -j list ruleset), or set firewall = "iptables" or "auto"`}
		}
		if !d.nft {
			return "", false, &UnsupportedError{Want: want,
				Reason: `firewall = "nftables" but nft is not installed on this host`,
				Hint:   `install the nftables package, or set firewall = "iptables" or "auto"`}
		}
		return nft, false, nil
	case ipt:
		if !d.ipt && !d.iptLegacy {
			return "", false, &UnsupportedError{Want: want,
				Reason: `firewall = "iptables" but iptables-save and iptables-restore are not installed on this host`,
				Hint:   `install the iptables package, or set firewall = "nftables" or "auto"`}
		}
		legacy := d.iptLegacy && (d.ownIPTLegacy || !d.ownIPT && d.legacyRules > 0 || !d.ipt)
		return ipt, legacy, nil
	case fwd:
		if !d.firewalld {
			reason := `firewall = "firewalld" but firewalld is not installed on this host`
			if d.firewalldInstalled {
				reason = `firewall = "firewalld" but firewalld is not running on this host (no answer on D-Bus)`
			}
			return "", false, &UnsupportedError{Want: want, Manager: fwd, Reason: reason,
				Hint: `start firewalld ("systemctl enable --now firewalld"), or set firewall = "auto"`}
		}
		return fwd, false, nil
	case ufw:
		return ufw, false, nil
	}
	return "", false, fmt.Errorf("unknown firewall %q: want \"auto\", \"nftables\", \"iptables\", \"firewalld\" or \"ufw\"", want)
}

package firewall

import (
	"fmt"
	"sort"
	"strings"

	"github.com/portwarden/portwarden/rule"
)

// UFW is the backend for hosts whose firewall ufw manages. It works
// through ufw's own files and "ufw reload", never behind ufw's back:
//
//   - portwarden's rules are tuples in /etc/ufw/user.rules and
//     user6.rules, written exactly as "ufw allow from SRC to any port
//     PORTS proto P comment 'portwarden:KEY REASON'" writes them (the
//     "### tuple ###" line and the iptables line under it), so "ufw
//     status" and "ufw show added" list them, a later "ufw allow" by the
//     admin keeps them, and ufw loads them at boot;
//   - they come first in the files, so before the host's own deny, reject
//     and limit rules; the host's own tuples are kept verbatim, in their
//     order;
//   - IPv6 sources go to user6.rules when IPV6=yes in /etc/default/ufw;
//     with IPV6=no ufw does not filter IPv6 and a rule with IPv6 sources
//     is refused;
//   - enforce mode sets DEFAULT_INPUT_POLICY="DROP" in /etc/default/ufw
//     (recording the previous value in /etc/ufw/portwarden.conf, which
//     destroy and additive mode put back) and adds the management port
//     from the controller's addresses as the first owned tuples.
//
// Rendering the files in Go and one "ufw reload" costs one Python start
// per apply, where a "ufw allow" per rule would cost one per rule. The
// apply is all or nothing: the script checks that the files are still
// the ones the facts read (sha256), stages the new ones beside them,
// tests them with iptables-restore --test, swaps them in with rename,
// and reloads; if the reload fails, the old files go back and ufw is
// reloaded again, so the host is as it was. See docs/ufw.md.
//
// ufw reads its files at fixed paths, so a persist root does not apply
// (a lab host has its own /etc). Apply rewrites ufw's files from their
// contents in the facts it is given.
type UFW struct{}

// Name implements Backend.
func (*UFW) Name() string { return "ufw" }

// ufwPlan is the files an apply writes, by path, and the ones it removes.
type ufwPlan struct {
	write  map[string]string
	remove []string
	sums   string // expected sha256sum output for the files read
	// existed: the file was there before (a rollback puts it back, else
	// removes it).
	existed map[string]bool
	reload  bool
}

// ufwFileModes are the modes ufw's package gives its files.
var ufwFileModes = map[string]string{
	ufwRulesPath: "0640", ufwRules6Path: "0640", ufwDefaultPath: "0644", ufwRecordPath: "0644",
}

// plan decides what to write: a pure function of the facts and d.
func (h *ufwHost) plan(d linuxDesired) (ufwPlan, error) {
	p := ufwPlan{write: map[string]string{}, existed: map[string]bool{}}
	if !h.defaults.ipv6 {
		for _, r := range d.Rules {
			if _, s6 := rule.SplitFamilies(r.Sources); len(s6) > 0 {
				return p, fmt.Errorf("rule %s has IPv6 sources but IPV6=no in %s: ufw does not filter IPv6 on this host (set IPV6=yes there and run ufw reload)", r.Key(), ufwDefaultPath)
			}
		}
	}
	set := func(path, text string) {
		if text != h.raw[path] {
			p.write[path] = text
		}
	}
	set(ufwRulesPath, h.rules.render(ufwOwnedBlocks(d, false)))
	if h.rules6 != nil {
		set(ufwRules6Path, h.rules6.render(ufwOwnedBlocks(d, true)))
	}
	rec := h.record
	switch {
	case d.Mode == rule.Enforce:
		if rec.mode != rule.Enforce {
			rec = ufwRecord{mode: rule.Enforce, previousInput: h.defaults.inputPolicy}
		}
		set(ufwRecordPath, rec.render())
		if h.defaults.inputPolicy != "DROP" || !h.defaults.hasInputLine {
			set(ufwDefaultPath, setUFWDefault(h.raw[ufwDefaultPath], "DEFAULT_INPUT_POLICY", "DROP"))
		}
	case rec.mode == rule.Enforce:
		// Leaving enforce mode (to additive or to nothing) puts the
		// host's default back.
		if rec.previousInput != "" && rec.previousInput != h.defaults.inputPolicy {
			set(ufwDefaultPath, setUFWDefault(h.raw[ufwDefaultPath], "DEFAULT_INPUT_POLICY", rec.previousInput))
		}
		p.remove = append(p.remove, ufwRecordPath)
	case h.raw[ufwRecordPath] != "":
		p.remove = append(p.remove, ufwRecordPath)
	}
	var sums []string
	for _, path := range []string{ufwRulesPath, ufwRules6Path, ufwDefaultPath, ufwRecordPath} {
		if s := h.sum(path); s != "-" {
			p.existed[path] = true
			sums = append(sums, s+"  "+path)
		}
	}
	p.sums = strings.Join(sums, "\n")
	// Nothing to write and nothing of portwarden's there: no reload (a
	// destroy on a host that has nothing).
	p.reload = len(p.write) > 0 || len(p.remove) > 0 || !d.remove
	return p, nil
}

// Apply implements Backend. The new files travel on standard input.
func (b *UFW) Apply(f Facts, d Desired) (Script, error) {
	dd, err := prepareLinuxDesired(d)
	if err != nil {
		return Script{}, err
	}
	lf, err := parseLinuxFacts(f)
	if err != nil {
		return Script{}, err
	}
	if !lf.has("ufw") {
		return Script{}, fmt.Errorf("ufw is not installed on this host")
	}
	h, err := ufwHostFromFacts(lf)
	if err != nil {
		return Script{}, err
	}
	p, err := h.plan(dd)
	if err != nil {
		return Script{}, err
	}
	var stdin strings.Builder
	paths := make([]string, 0, len(p.write))
	for path := range p.write {
		paths = append(paths, path)
	}
	sort.Strings(paths)
	for _, path := range paths {
		text := p.write[path]
		for line := range strings.Lines(text) {
			if strings.HasPrefix(line, ufwFileMarker) || strings.TrimRight(line, "\n") == iptEndMarker {
				return Script{}, fmt.Errorf("%s has a line %q that portwarden uses to frame the files it sends: remove it", path, strings.TrimSpace(line))
			}
		}
		if !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		stdin.WriteString(ufwFileMarker + path + "\n" + text)
	}
	stdin.WriteString(iptEndMarker + "\n")
	body := linuxPrelude("", true) + ufwGuard.render(d.Guard) + ufwApplyBody(p, paths, lf.ufwActive()) + linuxFactsSections + "exit \"$pw_status\"\n"
	return Script{Shell: "sh", Body: body, Stdin: []byte(stdin.String())}, nil
}

// ufwGuard hands the common frame (lock, saved state, armed revert; see
// Guard) what ufw's state is: its files. The live rules follow from them,
// so restore.sh, after the frame put the files back, reloads ufw where it
// is enabled.
var ufwGuard = linuxGuard{
	save: "\t:\n",
	restore: `trap 'if [ "$pw_rc" = 0 ] && grep -qx "ENABLED=yes" /etc/ufw/ufw.conf 2>/dev/null; then ufw reload >/dev/null 2>&1 || exit 1; fi' EXIT
`,
	files: []string{ufwRulesPath, ufwRules6Path, ufwDefaultPath, ufwRecordPath},
}

// ufwFileMarker starts a file on an apply script's standard input.
const ufwFileMarker = "# portwarden:file "

// ufwApplyBody is the apply script: check, stage, test, swap, reload, and
// on a failed reload swap back and reload again.
func ufwApplyBody(p ufwPlan, paths []string, active bool) string {
	var b strings.Builder
	q := linuxShellQuote
	b.WriteString(linuxApplyHead)
	b.WriteString(`pw_go=1
if [ -z "$pw_tmp" ]; then
	pw_fail "cannot create a temporary directory; nothing was changed"
	pw_go=0
else
	awk -v dir="$pw_tmp" 'index($0, "` + ufwFileMarker + `") == 1 { n++; out = dir "/new" n; next }
		$0 == "` + iptEndMarker + `" { print "ok" > (dir "/end"); out = ""; next }
		out != "" { print > out }'
	if [ ! -f "$pw_tmp/end" ]; then
		pw_fail "the files on standard input are incomplete; nothing was changed"
		pw_go=0
	fi
fi
`)
	// Nobody (an admin's "ufw allow", another run) changed the files since
	// the facts were read: else this apply would undo their change.
	b.WriteString(`if [ "$pw_go" = 1 ]; then
	pw_sums=$(sha256sum ` + ufwRulesPath + " " + ufwRules6Path + " " + ufwDefaultPath + " " + ufwRecordPath + ` 2>/dev/null)
	if [ "$pw_sums" != ` + q(p.sums) + ` ]; then
		pw_fail "ufw's files changed since the facts were read (by ufw or an admin); nothing was changed: plan again"
		pw_go=0
	fi
fi
`)
	for i, path := range paths {
		fam := ""
		switch path {
		case ufwRulesPath:
			fam = "iptables-restore"
		case ufwRules6Path:
			fam = "ip6tables-restore"
		}
		if fam == "" {
			continue
		}
		fmt.Fprintf(&b, `if [ "$pw_go" = 1 ] && ! %[1]s --test -n <"$pw_tmp/new%[2]d" >"$pw_tmp/test.out" 2>&1; then
	pw_fail "%[1]s --test refused the new %[3]s; nothing was changed: $(tr '\n' ' ' <"$pw_tmp/test.out")"
	pw_go=0
fi
`, fam, i+1, path)
	}
	// Stage beside the targets (same file system, so mv is a rename),
	// keep the old files as hard links, then rename the new ones in. The
	// staged names carry this run's id ($pw_runid, the random suffix of its
	// state directory): unique per run. Under the lock no other run is at
	// work, so what earlier, interrupted runs left is removed first.
	var stage, keep, swap, back, drop, clean, stale []string
	for i, path := range paths {
		stage = append(stage, fmt.Sprintf(`cat "$pw_tmp/new%d" >%s.portwarden-new-"$pw_runid" && chmod %s %s.portwarden-new-"$pw_runid"`, i+1, path, ufwFileModes[path], path))
		keep = append(keep, fmt.Sprintf(`{ [ ! -e %[1]s ] || ln -f %[1]s %[1]s.portwarden-old-"$pw_runid"; }`, path))
		swap = append(swap, fmt.Sprintf(`mv -f %[1]s.portwarden-new-"$pw_runid" %[1]s`, path))
		if p.existed[path] {
			back = append(back, fmt.Sprintf(`if [ -e %[1]s.portwarden-old-"$pw_runid" ]; then mv -f %[1]s.portwarden-old-"$pw_runid" %[1]s; fi`, path))
		} else {
			back = append(back, "rm -f "+path)
		}
		clean = append(clean, path+`.portwarden-new-"$pw_runid"`, path+`.portwarden-old-"$pw_runid"`)
		stale = append(stale, path+".portwarden-new*", path+".portwarden-old*")
	}
	for _, path := range p.remove {
		keep = append(keep, fmt.Sprintf(`{ [ ! -e %[1]s ] || ln -f %[1]s %[1]s.portwarden-old-"$pw_runid"; }`, path))
		drop = append(drop, "rm -f "+path)
		back = append(back, fmt.Sprintf(`if [ -e %[1]s.portwarden-old-"$pw_runid" ]; then mv -f %[1]s.portwarden-old-"$pw_runid" %[1]s; fi`, path))
		clean = append(clean, path+`.portwarden-old-"$pw_runid"`)
		stale = append(stale, path+".portwarden-old*")
	}
	and := func(cmds []string) string {
		if len(cmds) == 0 {
			return ":"
		}
		return strings.Join(cmds, " &&\n\t\t")
	}
	semi := func(cmds []string) string {
		if len(cmds) == 0 {
			return ":"
		}
		return strings.Join(cmds, "\n\t")
	}
	reload := `pw_reload() { echo "ufw is not active: the rules are in its files and take effect when ufw is enabled (ufw enable)"; }`
	if active {
		// ufw reload restores every ufw file: on a loaded host it can take
		// longer than the 15 s other host-side commands were once given.
		reload = `pw_reload() {
	if pw_has timeout; then timeout 120 ufw reload; else ufw reload; fi >"$pw_tmp/reload.out" 2>&1
}`
	}
	if !p.reload {
		b.WriteString(`[ "$pw_go" = 1 ] && echo "nothing to change"` + "\n")
		b.WriteString("pw_guard_end\n")
		return b.String()
	}
	b.WriteString("if [ \"$pw_go\" = 1 ] && ! pw_guard_begin; then pw_go=0; fi\n")
	b.WriteString("pw_runid=${pw_state##*.}\n")
	b.WriteString("if [ \"$pw_go\" = 1 ]; then rm -f " + strings.Join(stale, " ") + "; fi\n")
	fmt.Fprintf(&b, `%[1]s
pw_back() {
	%[5]s
}
if [ "$pw_go" = 1 ]; then
	if ! { %[2]s; } 2>"$pw_tmp/stage.err"; then
		rm -f %[6]s
		pw_fail "staging ufw's new files failed; nothing was changed: $(tr '\n' ' ' <"$pw_tmp/stage.err")"
		pw_go=0
	elif ! { %[3]s &&
		%[4]s; } 2>"$pw_tmp/swap.err"; then
		pw_back
		rm -f %[6]s
		pw_fail "swapping ufw's files failed; the old files are back: $(tr '\n' ' ' <"$pw_tmp/swap.err")"
		pw_go=0
	else
		pw_committed=1
	fi
fi
if [ "$pw_go" = 1 ]; then
	if pw_reload; then
		echo "ufw: committed"
		rm -f %[6]s
	else
		pw_back
		rm -f %[6]s
		pw_msg=$(tr '\n' ' ' <"$pw_tmp/reload.out")
		if pw_reload; then
			pw_fail "ufw reload failed with the new files; the old files are back and loaded, nothing was changed: $pw_msg"
		else
			pw_fail "ufw reload failed with the new files and again with the old ones, which are back in place: $pw_msg $(tr '\n' ' ' <"$pw_tmp/reload.out")"
		fi
	fi
fi
pw_guard_end
`, reload, and(stage), and(keep), and(append(swap, drop...)), semi(back), strings.Join(clean, " "))
	return b.String()
}

// Confirm implements Confirmer: the frame's armed revert (ufw's files put
// back, ufw reloaded) is cancelled like every Linux backend's.
func (b *UFW) Confirm(id string) (Script, error) { return linuxConfirmer{""}.Confirm(id) }

// RevertNow implements Confirmer.
func (b *UFW) RevertNow(id string) (Script, error) { return linuxConfirmer{""}.RevertNow(id) }

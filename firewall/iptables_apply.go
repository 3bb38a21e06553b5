package firewall

import (
	"fmt"
	"strings"

	"github.com/portwarden/portwarden/rule"
)

// Apply implements Backend. See IPTables for what the script does. Both
// families' restore input travels on standard input; the script prints
// the facts sections after the change and exits non-zero if a restore or
// persisting failed (the "apply" section and standard error say which).
func (b *IPTables) Apply(f Facts, d Desired) (Script, error) {
	dd, root, lf, err := prepareLinuxApply(f, d, b.Root)
	if err != nil {
		return Script{}, err
	}
	fams, err := b.families(lf)
	if err != nil {
		return Script{}, err
	}
	var stdin strings.Builder
	var v4, v6 *iptFamily
	for i, fam := range fams {
		cur, err := iptReadFamily(lf, fam)
		if err != nil {
			return Script{}, err
		}
		text := iptRender(dd, cur, fam.v6)
		if text == "" {
			continue
		}
		if fam.v6 {
			stdin.WriteString(iptV6Marker + "\n")
			v6 = &fams[i]
		} else {
			stdin.WriteString(iptV4Marker + "\n")
			v4 = &fams[i]
		}
		stdin.WriteString(text)
	}
	if len(fams) == 1 && !dd.remove {
		for _, r := range dd.Rules {
			if _, s6 := rule.SplitFamilies(r.Sources); len(s6) > 0 {
				return Script{}, fmt.Errorf("rule %s has IPv6 sources but ip6tables-save and ip6tables-restore are not both installed", r.Key())
			}
		}
	}
	stdin.WriteString(iptEndMarker + "\n")
	body := linuxPrelude(root, true) + iptGuard(fams).render(d.Guard) + iptApplyBody(v4, v6) + linuxFactsSections + "exit \"$pw_status\"\n"
	return Script{Shell: "sh", Body: body, Stdin: []byte(stdin.String())}, nil
}

// iptGuard saves and restores what the iptables backend owns, per
// family: iptables-save -t filter at the start; restore.sh deletes the
// jumps to PORTWARDEN-INPUT there are now, and refills the chain with the
// saved rules and re-inserts the saved jumps first in INPUT, or deletes
// the chain where there was none, in one --noflush restore per family.
func iptGuard(fams []iptFamily) linuxGuard {
	var save, restore strings.Builder
	jump := `'^-A ` + iptInput + ` .*-j ` + iptChain + `\( \|$\)'`
	var files []string
	for _, f := range fams {
		n := "v4"
		files = append(files, `"$pw_rules4"`)
		if f.v6 {
			n = "v6"
			files[len(files)-1] = `"$pw_rules6"`
		}
		fmt.Fprintf(&save, "\t%[1]s -t filter >\"$pw_state/ipt.%[2]s\" || return 1\n", f.save, n)
		fmt.Fprintf(&restore, `{
	echo "*filter"
	echo ":%[4]s - [0:0]"
	%[1]s -t filter | grep -e %[5]s | sed 's/^-A /-D /'
	if grep -q '^:%[4]s ' "$pw_state/ipt.%[3]s"; then
		grep '^-A %[4]s ' "$pw_state/ipt.%[3]s"
		grep -e %[5]s "$pw_state/ipt.%[3]s" | sed 's/^-A %[6]s /-I %[6]s 1 /'
	else
		echo "-X %[4]s"
	fi
	echo COMMIT
} >"$pw_state/restore.%[3]s" && %[2]s --noflush <"$pw_state/restore.%[3]s" || pw_rc=1
`, f.save, f.restore, n, iptChain, jump, iptInput)
	}
	return linuxGuard{save: save.String(), restore: restore.String() + "[ \"$pw_rc\" = 0 ] || exit 1\n", files: files}
}

func iptApplyBody(v4, v6 *iptFamily) string {
	var b strings.Builder
	b.WriteString(linuxApplyHead)
	// One awk splits standard input into the families' files (a process
	// fewer than saving it first; the shell's read would take a system
	// call per byte, docs/benchmarks.md).
	b.WriteString(`if [ -z "$pw_tmp" ]; then
	pw_fail "cannot create a temporary directory; nothing was changed"
elif ! pw_has awk; then
	pw_fail "awk is not installed; nothing was changed"
else
	awk -v dir="$pw_tmp" '$0 == "` + iptV4Marker + `" { out = dir "/v4"; next }
		$0 == "` + iptV6Marker + `" { out = dir "/v6"; next }
		$0 == "` + iptEndMarker + `" { print "ok" > (dir "/end"); out = ""; next }
		out != "" { print > out }'
	if [ ! -f "$pw_tmp/end" ]; then
		pw_fail "the rules on standard input are incomplete; nothing was changed"
	fi
fi
`)
	type step struct {
		fam  *iptFamily
		file string
	}
	var steps []step
	if v4 != nil {
		steps = append(steps, step{v4, "v4"})
	}
	if v6 != nil {
		steps = append(steps, step{v6, "v6"})
	}
	if len(steps) == 0 {
		b.WriteString("[ \"$pw_status\" = 0 ] && echo \"nothing to change\"\necho \"outcome=unchanged\"\n")
		return b.String()
	}
	// pw_go gates the restores: a refused restore stops the next one (and
	// pw_guard_end rolls back the family already changed), a failed
	// persist stops nothing but rolls everything back at the end.
	b.WriteString("pw_go=$((1 - pw_status))\n")
	b.WriteString("if [ \"$pw_go\" = 1 ] && ! pw_guard_begin; then pw_go=0; fi\n")
	for _, s := range steps {
		fmt.Fprintf(&b, `if [ "$pw_go" = 1 ] && ! %[1]s --noflush --test <"$pw_tmp/%[2]s" >"$pw_tmp/%[2]s.out" 2>&1; then
	pw_fail "%[1]s refused the change; nothing was changed: $(tr '\n' ' ' <"$pw_tmp/%[2]s.out")"
	pw_go=0
fi
`, s.fam.restore, s.file)
	}
	for i, s := range steps {
		nothing := "nothing was changed"
		if i > 0 {
			nothing = "the " + steps[0].fam.name + " rules are rolled back"
		}
		fmt.Fprintf(&b, `if [ "$pw_go" = 1 ]; then
	if %[1]s --noflush <"$pw_tmp/%[2]s" >"$pw_tmp/%[2]s.out" 2>&1; then
		echo "%[1]s: committed"
		pw_committed=1
		if ! { mkdir -p "${pw_rules4%%/*}" && pw_t=$(mktemp "$PW_ROOT%[4]s.XXXXXX") && { %[3]s >"$pw_t" && mv -f "$pw_t" "$PW_ROOT%[4]s" || { rm -f "$pw_t"; false; }; }; } 2>"$pw_tmp/persist.err"; then
			pw_fail "persisting the %[5]s rules to $PW_ROOT%[4]s failed: $(tr '\n' ' ' <"$pw_tmp/persist.err")"
		fi
	else
		pw_fail "%[1]s refused the change; %[6]s: $(tr '\n' ' ' <"$pw_tmp/%[2]s.out")"
		pw_go=0
	fi
fi
`, s.fam.restore, s.file, s.fam.save, s.fam.persist, s.fam.name, nothing)
	}
	b.WriteString("pw_guard_end\n")
	return b.String()
}

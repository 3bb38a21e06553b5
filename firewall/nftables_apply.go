package firewall

import (
	"fmt"
	"slices"
	"strings"

	"github.com/portwarden/portwarden/rule"
)

// Apply implements Backend. See NFTables for what the script does. The
// live transaction and the persisted file travel on standard input; the
// script runs the transaction with one nft -f, persists only if it
// succeeded, prints the facts sections, and exits non-zero if the
// transaction or persisting failed (the "apply" section and standard
// error say which).
func (b *NFTables) Apply(f Facts, d Desired) (Script, error) {
	dd, root, lf, err := prepareLinuxApply(f, d, b.Root)
	if err != nil {
		return Script{}, err
	}
	h, err := nftHostFromFacts(lf)
	if err != nil {
		return Script{}, err
	}
	live, boot, err := nftRender(dd, h)
	if err != nil {
		return Script{}, err
	}
	stdin := live + nftPersistMarker + "\n" + boot + nftEndMarker + "\n"
	g, err := nftGuard(h)
	if err != nil {
		return Script{}, err
	}
	body := linuxPrelude(root, true) + g.render(d.Guard) + nftApplyBody(dd.remove) + linuxNFTReadback + "exit \"$pw_status\"\n"
	return Script{Shell: "sh", Body: body, Stdin: []byte(stdin)}, nil
}

// nftGuard saves and restores what the nftables backend owns: the table
// inet portwarden (listed whole), the portwarden_input chain of each
// foreign table it touches, and the number of jumps to that chain in each
// foreign chain that drops or jumps to it. restore.sh deletes the jumps
// there are now (by the handles it finds then), recreates the table and
// the foreign chains as saved (or deletes them where there were none),
// and inserts the saved number of jumps as each chain's first rules, all
// in one nft -f transaction.
func nftGuard(h *nftHost) (linuxGuard, error) {
	var save, del, chains, jumps strings.Builder
	// A listing that fails (no such table or chain) leaves its file empty:
	// restore.sh reads an empty file as none (truncating is a builtin,
	// rm is a process).
	save.WriteString("\tnft list table inet portwarden >\"$pw_state/table.nft\" 2>/dev/null || : >\"$pw_state/table.nft\"\n")
	n := 0
	for i, f := range h.foreign {
		t := f.table
		if err := nftName(t.Name); err != nil {
			return linuxGuard{}, fmt.Errorf("foreign table %s: %w", t.Family, err)
		}
		ft := t.Family + " " + t.Name
		fmt.Fprintf(&save, "\tnft list chain %[1]s %[2]s >\"$pw_state/fc.%[3]d\" 2>/dev/null || : >\"$pw_state/fc.%[3]d\"\n", ft, nftOwnedChain, i)
		fmt.Fprintf(&chains, `	if [ -s "$pw_state/fc.%[3]d" ]; then
		echo "add chain %[1]s %[2]s"
		echo "flush chain %[1]s %[2]s"
		cat "$pw_state/fc.%[3]d"
	elif nft list chain %[1]s %[2]s >/dev/null 2>&1; then
		echo "delete chain %[1]s %[2]s"
	fi
`, ft, nftOwnedChain, i)
		var cs []*nftChain
		for _, c := range f.drops {
			cs = append(cs, c)
		}
		for _, j := range f.jumps {
			if !slices.Contains(cs, j.chain) {
				cs = append(cs, j.chain)
			}
		}
		for _, c := range cs {
			if err := nftName(c.Name); err != nil {
				return linuxGuard{}, fmt.Errorf("foreign chain in %s: %w", ft, err)
			}
			fc := ft + " " + c.Name
			fmt.Fprintf(&save, "\tpw_nft_jumps %[1]s >\"$pw_state/jc.%[2]d\"\n", fc, n)
			fmt.Fprintf(&del, "\tpw_nft_jumps %[1]s | while IFS= read -r pw_h; do echo \"delete rule %[1]s handle $pw_h\"; done\n", fc)
			fmt.Fprintf(&jumps, `	while IFS= read -r pw_h; do echo "insert rule %[1]s jump %[2]s comment \"%[3]s\""; done <"$pw_state/jc.%[4]d"
`, fc, nftOwnedChain, rule.Tag, n)
			n++
		}
	}
	// pw_nft_jumps prints the handle of each jump to portwarden_input in
	// one chain.
	jumpsFn := `pw_nft_jumps() {
	nft -a list chain "$1" "$2" "$3" 2>/dev/null | while IFS= read -r pw_l; do
		case $pw_l in *"jump ` + nftOwnedChain + `"*"# handle "*) echo "${pw_l##*# handle }" ;; esac
	done
}
`
	restore := jumpsFn + `{
` + del.String() + `	echo "table inet portwarden {}"
	echo "delete table inet portwarden"
	if [ -s "$pw_state/table.nft" ]; then cat "$pw_state/table.nft"; fi
` + chains.String() + jumps.String() + `} >"$pw_state/restore.nft" && nft -f "$pw_state/restore.nft" || exit 1
`
	return linuxGuard{
		save:    "\t" + strings.ReplaceAll(strings.TrimSpace(jumpsFn), "\n", "\n\t") + "\n" + save.String(),
		restore: restore,
		files:   []string{`"$pw_nftfile"`, `"$pw_nftconf"`},
	}, nil
}

func nftApplyBody(remove bool) string {
	persist := `		pw_persist() {
			{ [ -d "${pw_nftfile%/*}" ] || mkdir -p "${pw_nftfile%/*}"; } &&
				pw_t=$(mktemp "$pw_nftfile.XXXXXX") &&
				{ cat "$pw_tmp/boot" >"$pw_t" && mv -f "$pw_t" "$pw_nftfile" || { rm -f "$pw_t"; false; }; } || return 1
			if [ ! -e "$pw_nftconf" ]; then
				mkdir -p "${pw_nftconf%/*}" &&
					printf '#!/usr/sbin/nft -f\n\n%s\n' "$pw_include" >"$pw_nftconf" || return 1
			elif ! pw_contains "$pw_nftconf" "include \"$pw_nftfile\""; then
				printf '\n%s\n' "$pw_include" >>"$pw_nftconf" || return 1
			fi
		}
`
	if remove {
		persist = `		pw_persist() {
			if [ -e "$pw_nftfile" ]; then
				pw_t=$(mktemp "$pw_nftfile.XXXXXX") &&
					{ cat "$pw_tmp/boot" >"$pw_t" && mv -f "$pw_t" "$pw_nftfile" || { rm -f "$pw_t"; false; }; } || return 1
			fi
			if [ -f "$pw_nftconf" ] && grep -qxF "$pw_include" "$pw_nftconf"; then
				grep -vxF "$pw_include" "$pw_nftconf" >"$pw_tmp/conf"
				pw_t=$(mktemp "$pw_nftconf.XXXXXX") &&
					{ cat "$pw_tmp/conf" >"$pw_t" && mv -f "$pw_t" "$pw_nftconf" || { rm -f "$pw_t"; false; }; } || return 1
			fi
		}
`
	}
	return linuxApplyHead + `pw_include="include \"$pw_nftfile\" # portwarden"
if [ -z "$pw_tmp" ]; then
	pw_fail "cannot create a temporary directory; nothing was changed"
elif ! pw_has nft; then
	pw_fail "nft is not installed; nothing was changed"
elif ! pw_has awk; then
	pw_fail "awk is not installed; nothing was changed"
else
	# Split standard input at the persist marker: the live transaction
	# before it, the boot file after it. One awk: the shell's read builtin
	# takes a byte per system call (an 8 KB ruleset cost a host 4 ms).
	pw_end=
	if awk -v live="$pw_tmp/live" -v boot="$pw_tmp/boot" '
		BEGIN { printf "" >live; printf "" >boot; part = 0; complete = 0 }
		part == 0 && $0 == "` + nftPersistMarker + `" { part = 1; next }
		part == 0 { print >live; next }
		{ print >boot; if ($0 == "` + nftEndMarker + `") complete = 1 }
		END { if (close(live) || close(boot)) exit 2; exit complete ? 0 : 3 }'; then
		pw_end=1
	fi
	if [ -z "$pw_end" ]; then
		pw_fail "the ruleset on standard input is incomplete, or could not be split in the scratch directory; nothing was changed"
	elif ! pw_guard_begin; then
		:
	elif nft -f "$pw_tmp/live" >"$pw_tmp/nft.out" 2>&1; then
		echo "nft: transaction committed"
		pw_committed=1
` + persist + `		if ! pw_persist 2>"$pw_tmp/persist.err"; then
			pw_fail "persisting the rules under ${PW_ROOT:-/} failed: $(tr '\n' ' ' <"$pw_tmp/persist.err")"
		fi
	else
		pw_fail "nft refused the transaction; nothing was changed: $(tr '\n' ' ' <"$pw_tmp/nft.out")"
	fi
fi
pw_guard_end
`
}

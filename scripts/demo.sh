#!/usr/bin/env bash
# The demo: a lab of real OpenSSH hosts (and simulated Windows hosts) in
# network namespaces; plan → apply → verify --probe → drift → repair; down.
set -uo pipefail
cd "$(dirname "$0")/.."
LAB=${1:-$PWD/.lab/demo}
PW=./bin/portwarden
PWLAB=./bin/portwarden-lab
INV=$LAB/inventory.hcl

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

if [ "$(id -u)" != 0 ]; then
  echo "make demo needs root: the lab creates network namespaces." >&2
  exit 1
fi
"$PWLAB" down --dir "$LAB" >/dev/null 2>&1 || true
trap 'step "Taking the lab down"; "$PWLAB" down --dir "$LAB"' EXIT

step "Bringing up the lab: 4 hardened Linux hosts (default-drop nftables; lnx04 in enforce mode), 1 firewalld host, 1 ufw host and 2 simulated Windows hosts"
"$PWLAB" up --dir "$LAB" --linux 6 --firewalld 1 --ufw 1 --windows 2 --baseline drop || exit 1
# The ufw host, as the lab's inventory notes it.
UFWHOST=$(sed -n 's/^# \(lnx[0-9]*\): lab manager ufw.*/\1/p' "$INV" | head -n 1)
FWDHOST=$(sed -n 's/^# \(lnx[0-9]*\): lab manager firewalld.*/\1/p' "$INV" | head -n 1)

# One repository is run in enforce mode: portwarden owns its inbound policy.
sed -i '/^host "lnx04"/,/^}/ s/mode *= "additive"/mode     = "enforce"/' "$INV"

step "portwarden rules --host lnx01 (what one host needs, and why)"
"$PW" rules --inventory "$INV" --host lnx01

step "portwarden plan"
"$PW" plan --inventory "$INV"

step "portwarden apply --auto-approve"
"$PW" apply --inventory "$INV" --auto-approve --progress bar || exit 1

step "portwarden verify --probe (read back, then real TCP from the peers)"
"$PW" verify --inventory "$INV" --probe || exit 1

if [ -n "$UFWHOST" ]; then
  step "ufw's own view on $UFWHOST: portwarden's rules are ufw rules, tagged, before the host's own"
  "$PWLAB" exec --dir "$LAB" "$UFWHOST" -- ufw status || exit 1
fi

step "A second apply changes nothing"
"$PW" apply --inventory "$INV" --auto-approve || exit 1

step "Drift by hand: flushing portwarden's chain on lnx01"
"$PWLAB" exec --dir "$LAB" lnx01 -- nft flush chain inet portwarden input || exit 1

step "portwarden plan --detailed-exitcode (2 = drift found)"
"$PW" plan --inventory "$INV" --detailed-exitcode
echo "exit code: $?"

step "portwarden apply --auto-approve (repair)"
"$PW" apply --inventory "$INV" --auto-approve --progress bar || exit 1

if [ -n "$FWDHOST" ]; then
  step "firewalld's own view on $FWDHOST: portwarden's policy and ipsets"
  "$PWLAB" exec --dir "$LAB" "$FWDHOST" -- firewall-cmd --info-policy=portwarden || exit 1
  step "Rebooting $FWDHOST and $UFWHOST: each starts again from its own /etc; verify --probe without applying"
  "$PWLAB" reboot --dir "$LAB" "$FWDHOST" || exit 1
  "$PWLAB" reboot --dir "$LAB" "$UFWHOST" || exit 1
  "$PW" verify --inventory "$INV" --host "$FWDHOST" --host "$UFWHOST" --probe || exit 1
fi

step "portwarden plan --detailed-exitcode (0 = converged)"
"$PW" plan --inventory "$INV" --detailed-exitcode
echo "exit code: $?"

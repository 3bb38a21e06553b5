package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/user"
	"slices"
	"strings"
	"time"

	"github.com/portwarden/portwarden/firewall"
	"github.com/portwarden/portwarden/inventory"
	"github.com/portwarden/portwarden/orchestrator"
	"github.com/portwarden/portwarden/rule"
)

// auditEntry is one line of the audit log: one host's applied change. It
// holds what changed and digests of the owned state, never secrets (the
// plan's changes carry none).
type auditEntry struct {
	FormatVersion string       `json:"format_version"`
	Time          string       `json:"time"`
	Command       string       `json:"command"` // "apply" or "watch"
	Host          string       `json:"host"`
	Address       string       `json:"address"`
	Backend       string       `json:"backend"`
	Mode          string       `json:"mode"`
	Result        string       `json:"result"` // "applied" or "failed"
	Error         string       `json:"error,omitempty"`
	Changes       []jsonChange `json:"changes"`
	// BeforeDigest and AfterDigest are sha256 digests of the owned state
	// read from the host before the change and read back after it (empty
	// when nothing could be read back).
	BeforeDigest string `json:"before_digest"`
	AfterDigest  string `json:"after_digest,omitempty"`
	// Controller is who ran portwarden, from where.
	ControllerUser  string `json:"controller_user"`
	ControllerHost  string `json:"controller_hostname"`
	InventoryDigest string `json:"inventory_digest"`
}

// auditLog appends to an append-only file: each write opens it with
// O_APPEND, writes whole lines in one call, and syncs before closing. It
// never truncates or rewrites what is there.
type auditLog struct {
	path string
}

func (a auditLog) append(entries []auditEntry) error {
	if a.path == "" || len(entries) == 0 {
		return nil
	}
	var buf bytes.Buffer
	for _, e := range entries {
		b, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("writing audit log %s: %w", a.path, err)
		}
		buf.Write(append(b, '\n'))
	}
	f, err := os.OpenFile(a.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("opening audit log: %w", err)
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Close()
		return fmt.Errorf("writing audit log %s: %w", a.path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("syncing audit log %s: %w", a.path, err)
	}
	return f.Close()
}

// auditEntries are the entries of the hosts an apply worked on: the ones
// whose change was applied, and the ones whose change was sent and failed
// (the host kept its state, which the digests show).
func auditEntries(command string, plans []*orchestrator.HostPlan, invDigest string, now time.Time) []auditEntry {
	who, where := controllerIdentity()
	var out []auditEntry
	for _, p := range plans {
		if p.Err != nil || len(p.Changes) == 0 || (!p.Applied && p.ApplyErr == nil) {
			continue
		}
		if p.ApplyErr != nil && !p.Applied && isNotStarted(p.ApplyErr) {
			continue
		}
		e := auditEntry{FormatVersion: formatVersion, Time: now.UTC().Format(time.RFC3339Nano), Command: command,
			Host: p.Host.Name, Address: p.Host.Address, Backend: p.Backend, Mode: string(p.Desired.Mode),
			Result: "applied", Changes: toJSONChanges(p.Changes), BeforeDigest: stateDigest(p.Current),
			ControllerUser: who, ControllerHost: where, InventoryDigest: invDigest}
		if p.ApplyErr != nil {
			e.Result, e.Error = "failed", p.ApplyErr.Error()
		}
		if p.After != nil {
			e.AfterDigest = stateDigest(*p.After)
		}
		out = append(out, e)
	}
	return out
}

// stateDigest digests what portwarden owns on a host: mode, rules,
// management rule and owned-object drift (warnings are about others'
// objects, so they are left out).
func stateDigest(st firewall.State) string {
	b, _ := json.Marshal(struct {
		Installed  bool
		Mode       rule.Mode
		Rules      []rule.Rule
		Management *rule.Rule
		Drift      []string
	}{st.Installed, st.Mode, st.Rules, st.Management, st.Drift})
	return sha256Hex(b)
}

// inventoryDigest digests the inventory's source files, in name order.
func inventoryDigest(inv *inventory.Inventory) string {
	h := sha256.New()
	for _, name := range slices.Sorted(maps.Keys(inv.Files)) {
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(inv.Files[name].Bytes))
		h.Write(inv.Files[name].Bytes)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

func controllerIdentity() (userName, hostname string) {
	if u, err := user.Current(); err == nil {
		userName = u.Username
	} else {
		userName = fmt.Sprintf("uid %d", os.Getuid())
	}
	hostname, _ = os.Hostname()
	return userName, hostname
}

// isNotStarted reports whether err says the host's turn never came (a
// graceful stop or a canceled run): nothing was sent to it.
func isNotStarted(err error) bool {
	return errors.Is(err, orchestrator.ErrStopped) || strings.HasPrefix(err.Error(), "not started")
}

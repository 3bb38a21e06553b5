// Package winfw is a SIMULATED Windows Defender Firewall for the lab. No
// Windows is involved: it keeps a model of the firewall (rules and the
// Domain, Private and Public profiles) in a JSON file, and runs the
// PowerShell scripts that portwarden sends to Windows hosts against that
// model with a small interpreter for the part of the PowerShell language
// and of the NetSecurity module (New-NetFirewallRule and friends) that
// those scripts use. It implements lab/wsman's Interpreter, so a
// simulated WinRM service can stand in for a Windows host.
//
// With Options.Namespace set, the model is also enforced: the inbound
// policy of the active profile becomes an nftables table "inet winfw"
// inside that network namespace, so real TCP probes test the rules.
//
// Anything the simulation does not understand fails loudly, the way a
// real host fails on a script it cannot run: a parse error, a "term is
// not recognized" error, or a "not supported by the PowerShell simulation"
// error, always with a non-zero exit code. See docs/windows.md.
package winfw

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// Options configures a simulated firewall.
type Options struct {
	// StateDir keeps the rule store (winfw.json, which survives restarts
	// and may be edited between runs, e.g. to disable a profile) and the
	// simulated %TEMP%. Required.
	StateDir string
	// Namespace, if set, is the network namespace in which the model is
	// enforced with nftables (table "inet winfw"). The root namespace is
	// never touched.
	Namespace string
	// ManagementPort is the port the simulated WinRM service listens on.
	// A new host gets a pre-existing allow rule for it, as a Windows host
	// that is managed over WinRM has. 0: none.
	ManagementPort int
	// Logf, if set, receives one line per enforcement change.
	Logf func(format string, args ...any)
	// MaxMutexWait, if set, shortens every Mutex.WaitOne timeout to at
	// most this, so that tests of a held lock need not wait the 30 s a
	// script asks for. It changes only how long a wait lasts, never its
	// outcome.
	MaxMutexWait time.Duration
	// Fault, if set, is asked before every NetSecurity cmdlet runs; a
	// non-empty answer makes that cmdlet fail with that message (a
	// CimException, as "Access is denied." would be) without changing
	// anything. For tests of a failure half-way through a script.
	Fault func(cmdlet string) string
	// Language is the simulated host's display language, which names
	// the built-in accounts: "" or "en-US" (NT AUTHORITY\SYSTEM), or
	// "de-DE" (NT-AUTORITÄT\SYSTEM), where a script that names an
	// account in English fails, as on a German Windows.
	Language string
}

// State is the simulated firewall: what winfw.json holds.
type State struct {
	// ActiveProfile is the network category of the host's network
	// ("Domain", "Private" or "Public"): the profile whose settings and
	// rules are enforced.
	ActiveProfile string
	Profiles      []Profile
	Rules         []Rule
}

// Profile is one firewall profile. Values are the PersistentStore's, as
// strings PowerShell prints: Enabled, AllowInboundRules and
// AllowLocalFirewallRules are "True", "False" or "NotConfigured";
// DefaultInboundAction is "Allow", "Block" or "NotConfigured" (which
// Windows treats as Block). A fresh host has NotConfigured everywhere,
// but scripts cannot write NotConfigured to the PersistentStore (see
// Set-NetFirewallProfile in netsec.go). AllowInboundRules False is
// "Block all incoming connections, including those in the list of
// allowed apps": every inbound allow rule is ignored.
type Profile struct {
	Name                    string
	Enabled                 string
	DefaultInboundAction    string
	DefaultOutboundAction   string
	AllowInboundRules       string `json:",omitempty"` // "" reads as NotConfigured
	AllowLocalFirewallRules string
	// GroupPolicy holds what Group Policy sets; it wins in the
	// ActiveStore. Empty fields are not set by policy.
	GroupPolicy ProfilePolicy `json:",omitzero"`
}

// ProfilePolicy is the part of a profile that Group Policy can set.
type ProfilePolicy struct {
	Enabled                 string `json:",omitempty"`
	DefaultInboundAction    string `json:",omitempty"`
	AllowInboundRules       string `json:",omitempty"`
	AllowLocalFirewallRules string `json:",omitempty"`
}

// Rule is one firewall rule, with its port and address filters.
type Rule struct {
	Name        string
	DisplayName string
	Description string `json:",omitempty"`
	Group       string `json:",omitempty"`
	Enabled     string // "True" or "False"
	Direction   string // "Inbound" or "Outbound"
	Action      string // "Allow" or "Block"
	Profile     string // "Any", or profile names joined by ", "
	Protocol    string // "TCP", "UDP", "ICMPv4", "ICMPv6", "Any" or a number
	// LocalPort and RemoteAddress are stored as Get-NetFirewallPortFilter
	// and Get-NetFirewallAddressFilter print them (an IPv4 subnet as
	// "10.0.1.0/255.255.255.0").
	LocalPort     []string
	RemoteAddress []string
	// Store is "PersistentStore" for local rules and "GroupPolicy" for
	// rules from a GPO, which local scripts cannot change.
	Store string
}

// Firewall is one simulated host's firewall. It is safe for concurrent
// use. As on Windows, scripts run concurrently and nothing orders their
// cmdlets: each NetSecurity cmdlet reads and changes the store on its
// own, so two scripts interleave unless they take a named mutex
// (mutex.go).
type Firewall struct {
	opts      Options
	statePath string
	tempDir   string

	mu       sync.Mutex // the rule store, for one cmdlet at a time
	enforced string     // the nftables ruleset last loaded

	mutexes mutexTable
	sched   scheduler
}

// New opens (or creates, with Windows' default rules) the firewall kept
// in opts.StateDir, and enforces it when opts.Namespace is set.
func New(opts Options) (*Firewall, error) {
	if opts.StateDir == "" {
		return nil, errors.New("winfw: StateDir is required")
	}
	if opts.Namespace != "" && (strings.ContainsAny(opts.Namespace, "/\\ \x00") || opts.Namespace == "." || opts.Namespace == "..") {
		return nil, fmt.Errorf("winfw: bad namespace name %q", opts.Namespace)
	}
	if _, ok := accountNames[opts.Language]; !ok && opts.Language != "" {
		return nil, fmt.Errorf("winfw: display language %q is not simulated", opts.Language)
	}
	f := &Firewall{
		opts:      opts,
		statePath: filepath.Join(opts.StateDir, "winfw.json"),
		tempDir:   filepath.Join(opts.StateDir, "temp"),
	}
	if err := os.MkdirAll(f.tempDir, 0o700); err != nil {
		return nil, fmt.Errorf("winfw: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := f.load()
	if errors.Is(err, os.ErrNotExist) {
		st = DefaultState(opts.ManagementPort)
		err = f.save(&st)
	}
	if err != nil {
		return nil, err
	}
	if err := f.enforce(&st); err != nil {
		return nil, err
	}
	if err := f.startScheduler(); err != nil {
		return nil, err
	}
	return f, nil
}

// DefaultState is a fresh Windows Server's firewall: all profiles on with
// Windows' defaults, a few of the built-in rules (none in group
// "portwarden"), and an allow rule for the WinRM listener on
// managementPort (if not 0).
func DefaultState(managementPort int) State {
	st := State{ActiveProfile: "Public"}
	for _, n := range profileNames {
		st.Profiles = append(st.Profiles, Profile{Name: n, Enabled: "True", DefaultInboundAction: "NotConfigured",
			DefaultOutboundAction: "NotConfigured", AllowLocalFirewallRules: "NotConfigured"})
	}
	builtin := func(name, display, group, enabled, profile, proto string, ports, addrs []string) Rule {
		return Rule{Name: name, DisplayName: display, Group: group, Enabled: enabled, Direction: "Inbound", Action: "Allow",
			Profile: profile, Protocol: proto, LocalPort: ports, RemoteAddress: addrs, Store: "PersistentStore"}
	}
	anyAddr := []string{"Any"}
	on, off := "True", "False"
	core, fps, rdp, winrm := "@FirewallAPI.dll,-25000", "@FirewallAPI.dll,-28502", "@FirewallAPI.dll,-28752", "@FirewallAPI.dll,-30267"
	// A representative part of the inbound rules of a fresh Windows
	// Server (names, groups, protocols and ports as Windows ships them):
	// Core Networking enabled; File and Printer Sharing and Remote Desktop
	// disabled until a role or an admin turns them on; Windows Remote
	// Management over HTTP enabled, as Windows Server enables WinRM, the
	// Public-profile rule only for the local subnet.
	st.Rules = []Rule{
		builtin("CoreNet-DHCP-In", "Core Networking - Dynamic Host Configuration Protocol (DHCP-In)", core, on, "Any", "UDP", []string{"68"}, anyAddr),
		builtin("CoreNet-DHCPV6-In", "Core Networking - Dynamic Host Configuration Protocol for IPv6(DHCPV6-In)", core, on, "Any", "UDP", []string{"546"}, anyAddr),
		builtin("CoreNet-IGMP-In", "Core Networking - Internet Group Management Protocol (IGMP-In)", core, on, "Any", "2", anyAddr, anyAddr),
		builtin("CoreNet-IPv6-In", "Core Networking - IPv6 (IPv6-In)", core, on, "Any", "41", anyAddr, anyAddr),
		builtin("CoreNet-ICMP4-DUFRAG-In", "Core Networking - Destination Unreachable Fragmentation Needed (ICMPv4-In)", core, on, "Any", "ICMPv4", anyAddr, anyAddr),
		builtin("CoreNet-ICMP6-DU-In", "Core Networking - Destination Unreachable (ICMPv6-In)", core, on, "Any", "ICMPv6", anyAddr, anyAddr),
		builtin("CoreNet-ICMP6-PTB-In", "Core Networking - Packet Too Big (ICMPv6-In)", core, on, "Any", "ICMPv6", anyAddr, anyAddr),
		builtin("CoreNet-ICMP6-NDS-In", "Core Networking - Neighbor Discovery Solicitation (ICMPv6-In)", core, on, "Any", "ICMPv6", anyAddr, anyAddr),
		builtin("CoreNet-ICMP6-NDA-In", "Core Networking - Neighbor Discovery Advertisement (ICMPv6-In)", core, on, "Any", "ICMPv6", anyAddr, anyAddr),
		builtin("CoreNet-ICMP6-RA-In", "Core Networking - Router Advertisement (ICMPv6-In)", core, on, "Any", "ICMPv6", anyAddr, []string{"fe80::/64"}),
		builtin("CoreNet-Teredo-In", "Core Networking - Teredo (UDP-In)", core, on, "Any", "UDP", []string{"Teredo"}, anyAddr),
		builtin("CoreNet-IPHTTPS-In", "Core Networking - IPHTTPS (TCP-In)", core, on, "Any", "TCP", []string{"IPHTTPSIn"}, anyAddr),
		builtin("FPS-SMB-In-TCP", "File and Printer Sharing (SMB-In)", fps, off, "Any", "TCP", []string{"445"}, anyAddr),
		builtin("FPS-NB_Session-In-TCP", "File and Printer Sharing (NB-Session-In)", fps, off, "Any", "TCP", []string{"139"}, anyAddr),
		builtin("FPS-NB_Name-In-UDP", "File and Printer Sharing (NB-Name-In)", fps, off, "Any", "UDP", []string{"137"}, anyAddr),
		builtin("FPS-NB_Datagram-In-UDP", "File and Printer Sharing (NB-Datagram-In)", fps, off, "Any", "UDP", []string{"138"}, anyAddr),
		builtin("FPS-ICMP4-ERQ-In", "File and Printer Sharing (Echo Request - ICMPv4-In)", fps, off, "Any", "ICMPv4", anyAddr, anyAddr),
		builtin("FPS-ICMP6-ERQ-In", "File and Printer Sharing (Echo Request - ICMPv6-In)", fps, off, "Any", "ICMPv6", anyAddr, anyAddr),
		builtin("RemoteDesktop-UserMode-In-TCP", "Remote Desktop - User Mode (TCP-In)", rdp, off, "Any", "TCP", []string{"3389"}, anyAddr),
		builtin("RemoteDesktop-UserMode-In-UDP", "Remote Desktop - User Mode (UDP-In)", rdp, off, "Any", "UDP", []string{"3389"}, anyAddr),
		builtin("WINRM-HTTP-In-TCP", "Windows Remote Management (HTTP-In)", winrm, on, "Domain, Private", "TCP", []string{"5985"}, anyAddr),
		builtin("WINRM-HTTP-In-TCP-PUBLIC", "Windows Remote Management (HTTP-In)", winrm, on, "Public", "TCP", []string{"5985"}, []string{"LocalSubnet"}),
	}
	if managementPort > 0 && managementPort != 5985 {
		st.Rules = append(st.Rules, builtin("WINRM-HTTPS-In-TCP", "Windows Remote Management (HTTPS-In)", "Windows Remote Management", "True", "Any", "TCP",
			[]string{fmt.Sprint(managementPort)}, anyAddr))
	}
	return st
}

var profileNames = []string{"Domain", "Private", "Public"}

// displayGroups resolves the indirect group strings of built-in rules.
var displayGroups = map[string]string{
	"@FirewallAPI.dll,-25000": "Core Networking",
	"@FirewallAPI.dll,-28502": "File and Printer Sharing",
	"@FirewallAPI.dll,-28752": "Remote Desktop",
	"@FirewallAPI.dll,-30267": "Windows Remote Management",
}

func displayGroup(group string) string {
	if d, ok := displayGroups[group]; ok {
		return d
	}
	return group
}

func (f *Firewall) load() (State, error) {
	b, err := os.ReadFile(f.statePath)
	if err != nil {
		return State{}, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return State{}, fmt.Errorf("winfw: reading %s: %w", f.statePath, err)
	}
	if err := st.validate(); err != nil {
		return State{}, fmt.Errorf("winfw: %s: %w", f.statePath, err)
	}
	return st, nil
}

func (f *Firewall) save(st *State) error {
	if err := writeJSON(f.statePath, st); err != nil {
		return fmt.Errorf("winfw: saving the rule store: %w", err)
	}
	return nil
}

func oneOf(v string, allowed ...string) bool { return slices.Contains(allowed, v) }

func (st *State) validate() error {
	if !oneOf(st.ActiveProfile, profileNames...) {
		return fmt.Errorf("ActiveProfile %q is not Domain, Private or Public", st.ActiveProfile)
	}
	seen := map[string]bool{}
	for _, p := range st.Profiles {
		if !oneOf(p.Name, profileNames...) || seen[p.Name] {
			return fmt.Errorf("bad or repeated profile %q", p.Name)
		}
		seen[p.Name] = true
		gpoBool := []string{"True", "False", "NotConfigured"}
		action := []string{"Allow", "Block", "NotConfigured"}
		switch {
		case !oneOf(p.Enabled, gpoBool...), !oneOf(p.AllowLocalFirewallRules, gpoBool...), !oneOf(p.AllowInboundRules, append(gpoBool, "")...):
			return fmt.Errorf("profile %s: Enabled, AllowInboundRules and AllowLocalFirewallRules must be True, False or NotConfigured", p.Name)
		case !oneOf(p.DefaultInboundAction, action...), !oneOf(p.DefaultOutboundAction, action...):
			return fmt.Errorf("profile %s: default actions must be Allow, Block or NotConfigured", p.Name)
		case !oneOf(p.GroupPolicy.Enabled, append(gpoBool, "")...), !oneOf(p.GroupPolicy.AllowLocalFirewallRules, append(gpoBool, "")...), !oneOf(p.GroupPolicy.AllowInboundRules, append(gpoBool, "")...),
			!oneOf(p.GroupPolicy.DefaultInboundAction, append(action, "")...):
			return fmt.Errorf("profile %s: bad GroupPolicy value", p.Name)
		}
	}
	if len(seen) != 3 {
		return errors.New("the three profiles Domain, Private and Public are required")
	}
	names := map[string]bool{}
	for _, r := range st.Rules {
		ln := strings.ToLower(r.Name)
		if r.Name == "" || names[ln] {
			return fmt.Errorf("rule name %q is empty or repeated", r.Name)
		}
		names[ln] = true
		switch {
		case !oneOf(r.Enabled, "True", "False"):
			return fmt.Errorf("rule %q: Enabled must be True or False", r.Name)
		case !oneOf(r.Direction, "Inbound", "Outbound"):
			return fmt.Errorf("rule %q: bad Direction %q", r.Name, r.Direction)
		case !oneOf(r.Action, "Allow", "Block"):
			return fmt.Errorf("rule %q: bad Action %q", r.Name, r.Action)
		case !oneOf(r.Store, "PersistentStore", "GroupPolicy"):
			return fmt.Errorf("rule %q: Store must be PersistentStore or GroupPolicy", r.Name)
		}
		if _, err := canonicalProfile(r.Profile); err != nil {
			return fmt.Errorf("rule %q: %w", r.Name, err)
		}
		if _, err := canonicalProtocol(r.Protocol); err != nil {
			return fmt.Errorf("rule %q: %w", r.Name, err)
		}
	}
	return nil
}

func (st *State) profile(name string) *Profile {
	for i := range st.Profiles {
		if strings.EqualFold(st.Profiles[i].Name, name) {
			return &st.Profiles[i]
		}
	}
	return nil
}

// effective resolves Group Policy over the local value.
func effective(local, policy string) string {
	if policy != "" {
		return policy
	}
	return local
}

// Snapshot returns the current state.
func (f *Firewall) Snapshot() (State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.load()
}

// Modify changes the state outside of any script, for tests and the lab:
// e.g. disable a profile, or have "Group Policy" turn off local rules.
func (f *Firewall) Modify(fn func(*State) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := f.load()
	if err != nil {
		return err
	}
	if err := fn(&st); err != nil {
		return err
	}
	if err := st.validate(); err != nil {
		return fmt.Errorf("winfw: %w", err)
	}
	if err := f.save(&st); err != nil {
		return err
	}
	return f.enforce(&st)
}

// Run runs a PowerShell script against the firewall, as powershell.exe
// -EncodedCommand would: it returns the output, the error stream as the
// console would show it, and the exit code. It implements
// lab/wsman.Interpreter. Scripts may run concurrently (see Firewall);
// mutexes a script still holds when it ends are abandoned, as when a
// process exits without releasing them.
func (f *Firewall) Run(ctx context.Context, script string) (stdout, stderr string, exitCode int) {
	return f.run(ctx, script, false)
}

// run is Run as the Administrator (system false: a WinRM command) or as
// SYSTEM (a scheduled task's action).
func (f *Firewall) run(ctx context.Context, script string, system bool) (stdout, stderr string, exitCode int) {
	stmts, err := parseScript(script)
	if err != nil {
		var pe *parseError
		if errors.As(err, &pe) {
			return "", formatParseError(pe), 1
		}
		return "", err.Error() + "\r\n", 1
	}
	in := &interp{ctx: ctx, fw: f, system: system}
	defer f.mutexes.abandonAll(in)
	// Enforce before the script even when no cmdlet changes anything, so
	// that edits of winfw.json take effect at the next script (a no-op
	// when the ruleset is unchanged).
	if err := f.withState(func(*State) (bool, error) { return false, nil }); err != nil {
		return "", err.Error() + "\r\n", 1
	}
	out, err := in.execBlock(stmts, newScope(nil))
	code := 0
	var (
		te *throwErr
		ee *exitErr
		fe *fatalErr
	)
	switch {
	case err == nil:
		if in.failed {
			code = 1
		}
	case errors.As(err, &te):
		in.errOut.WriteString(formatError(te.rec))
		code = 1
	case errors.As(err, &ee):
		code = ee.code
	case errors.As(err, &fe):
		in.errOut.WriteString(formatFatal(fe))
		code = 1
	default:
		in.errOut.WriteString(err.Error() + "\r\n")
		code = 1
	}
	return formatOutput(out), in.errOut.String(), code
}

// withState runs one cmdlet's work on the rule store: loaded fresh, so
// that it sees what other scripts did, and saved and enforced at once
// when fn reports a change (Windows applies each cmdlet at once; there
// is no rollback of what ran before an error).
func (f *Firewall) withState(fn func(*State) (changed bool, err error)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := f.load()
	if err != nil {
		return err
	}
	changed, err := fn(&st)
	if changed {
		if serr := f.save(&st); serr != nil {
			return errors.Join(err, serr)
		}
	}
	if eerr := f.enforce(&st); eerr != nil {
		return errors.Join(err, eerr)
	}
	return err
}

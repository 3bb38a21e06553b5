package winfw

// Named mutexes, as [System.Threading.Mutex]::new($false, 'Global\name')
// gives them to a PowerShell script. Windows keeps a "Global\" mutex
// host-wide, so that scripts in different WinRM shells exclude each other;
// a mutex without that prefix (or with "Local\") lives in the caller's
// terminal-services session, and the simulation keeps it per script, so a
// lock that would not protect across sessions on Windows protects nothing
// here either. A mutex is owned by the script that acquired it, counts
// recursive acquisitions, and is abandoned when its owner ends without
// releasing it: the next WaitOne acquires it and throws
// AbandonedMutexException, as .NET does.
//
// A named mutex has a DACL, set when it is created: from the
// MutexSecurity passed to the constructor, or else from the creator's
// token. An Administrator's (elevated) token grants Administrators and
// SYSTEM; SYSTEM's token, as the simulation models it, grants SYSTEM
// only. Windows' usual SYSTEM default DACL also gives Administrators read
// and execute, which .NET Framework's fallback open (SYNCHRONIZE and
// MUTEX_MODIFY_STATE) can use, but a token's default DACL is not the
// script's to choose: the simulation grants the creator only, the least
// it guarantees. Opening an existing mutex that grants none of the
// caller's SIDs throws UnauthorizedAccessException. The mutex (with its
// DACL) lives while a handle is open; the simulation also keeps an
// abandoned one until it is acquired again (Windows destroys it with its
// last handle: stricter here).

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// mutexTable holds a host's named mutexes.
type mutexTable struct {
	mu sync.Mutex
	m  map[string]*hostMutex
}

type hostMutex struct {
	owner     *interp
	count     int
	abandoned bool
	released  chan struct{} // closed and replaced at each release
	// grants are the SIDs the DACL gives full access; handles counts
	// the open handles per script.
	grants  []string
	handles map[*interp]int
}

// psMutex is a script's handle to a named mutex.
type psMutex struct {
	key      string
	name     string
	disposed bool
}

// psMutexSecurity is a System.Security.AccessControl.MutexSecurity.
type psMutexSecurity struct{ sddl string }

// tokenSIDs are the SIDs in the token of a script's account that a
// DACL can grant: SYSTEM's token has the Administrators group too.
func (in *interp) tokenSIDs() []string {
	if in.system {
		return []string{sidSystem, sidAdmins}
	}
	return []string{sidAdministrator, sidAdmins}
}

// defaultMutexGrants is the DACL a mutex created without a
// MutexSecurity gets from its creator's token (see above).
func (in *interp) defaultMutexGrants() []string {
	if in.system {
		return []string{sidSystem}
	}
	return []string{sidAdmins, sidSystem}
}

// parseMutexSDDL reads a MutexSecurity's SDDL as far as the simulation
// models it: an optional owner and a DACL of allow entries with full
// access (GA or MUTEX_ALL_ACCESS); ok is false for anything else.
func parseMutexSDDL(s string) (grants []string, ok bool) {
	m := regexp.MustCompile(`^(?:O:(?:[A-Z]{2}|S-[0-9-]+))?D:P?((?:\([^)]*\))*)$`).FindStringSubmatch(s)
	if m == nil {
		return nil, false
	}
	aces, ok := sddlAllowACEs(m[1])
	if !ok {
		return nil, false
	}
	// An empty DACL grants nobody (not nil: nil means the default DACL).
	grants = []string{}
	for _, f := range aces {
		if f[1] != "" || (f[2] != "GA" && !strings.EqualFold(f[2], "0x1f0001")) {
			return nil, false
		}
		grants = append(grants, sddlSID(f[5]))
	}
	return grants, true
}

func (in *interp) id() string { return fmt.Sprintf("%p", in) }

func (t *mutexTable) get(key string) *hostMutex {
	if t.m == nil {
		t.m = map[string]*hostMutex{}
	}
	m := t.m[key]
	if m == nil {
		m = &hostMutex{released: make(chan struct{}), handles: map[*interp]int{}}
		t.m[key] = m
	}
	return m
}

// open opens a handle to the mutex for in, creating it with grants (nil:
// the creator's default DACL) if it does not exist (created); ok is
// false if it exists and its DACL grants none of in's SIDs.
func (t *mutexTable) open(in *interp, key string, grants []string) (ok, created bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.get(key)
	switch {
	case m.grants == nil && grants != nil:
		m.grants, created = grants, true
	case m.grants == nil:
		m.grants, created = in.defaultMutexGrants(), true
	case !slices.ContainsFunc(in.tokenSIDs(), func(s string) bool { return slices.Contains(m.grants, s) }):
		t.forgetLocked(key, m)
		return false, false
	}
	m.handles[in]++
	return true, created
}

// closeHandle closes one of in's handles.
func (t *mutexTable) closeHandle(in *interp, key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.get(key)
	if m.handles[in]--; m.handles[in] <= 0 {
		delete(m.handles, in)
	}
	t.forgetLocked(key, m)
}

// forgetLocked destroys a mutex nobody has a handle to, owns or has
// abandoned; t.mu is held.
func (t *mutexTable) forgetLocked(key string, m *hostMutex) {
	if len(m.handles) == 0 && m.owner == nil && !m.abandoned {
		delete(t.m, key)
	}
}

// mutexKey scopes a mutex name: Global\ names to the host, every other
// name to the script.
func mutexKey(in *interp, name string) string {
	if rest, ok := strings.CutPrefix(name, `Global\`); ok {
		return "global:" + rest
	}
	return "script:" + strings.TrimPrefix(name, `Local\`) + "@" + in.id()
}

// wait acquires the mutex for in within timeout (negative: no limit but
// ctx). acquired is false on a timeout; abandoned reports that a former
// owner ended without releasing it (the mutex is acquired all the same).
func (t *mutexTable) wait(ctx context.Context, in *interp, key string, timeout time.Duration) (acquired, abandoned bool) {
	var deadline <-chan time.Time
	if timeout >= 0 {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		deadline = timer.C
	}
	for {
		t.mu.Lock()
		m := t.get(key)
		switch m.owner {
		case nil:
			m.owner, m.count = in, 1
			abandoned, m.abandoned = m.abandoned, false
			t.mu.Unlock()
			return true, abandoned
		case in:
			m.count++
			t.mu.Unlock()
			return true, false
		}
		released := m.released
		t.mu.Unlock()
		select {
		case <-released:
		case <-deadline:
			return false, false
		case <-ctx.Done():
			return false, false
		}
	}
}

// release gives up one acquisition; false if in does not own the mutex.
func (t *mutexTable) release(in *interp, key string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.get(key)
	if m.owner != in {
		return false
	}
	m.count--
	if m.count == 0 {
		m.owner = nil
		close(m.released)
		m.released = make(chan struct{})
		t.forgetLocked(key, m)
	}
	return true
}

// abandonAll abandons the mutexes in still owns when its script ends,
// and closes its handles.
func (t *mutexTable) abandonAll(in *interp) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for key, m := range t.m {
		if m.owner == in {
			m.owner, m.count, m.abandoned = nil, 0, true
			close(m.released)
			m.released = make(chan struct{})
		}
		delete(m.handles, in)
		t.forgetLocked(key, m)
	}
}

// HoldMutex acquires a Global\ mutex outside of any script, as another
// process of an Administrator on the host would, until release is
// called. For tests.
func (f *Firewall) HoldMutex(name string) (release func()) {
	return f.holdMutex(name, false)
}

// HoldMutexAsSystem is HoldMutex for a process running as SYSTEM that
// created the mutex without a MutexSecurity, as portwarden's revert
// task did before it passed one: while it holds the mutex, an
// Administrator cannot open it. For tests.
func (f *Firewall) HoldMutexAsSystem(name string) (release func()) {
	return f.holdMutex(name, true)
}

func (f *Firewall) holdMutex(name string, system bool) (release func()) {
	holder := &interp{ctx: context.Background(), fw: f, system: system}
	key := mutexKey(holder, name)
	f.mutexes.open(holder, key, nil)
	f.mutexes.wait(context.Background(), holder, key, -1)
	return func() {
		f.mutexes.release(holder, key)
		f.mutexes.closeHandle(holder, key)
	}
}

// newMutex is [Threading.Mutex]::new(initiallyOwned, name) or, with a
// MutexSecurity, (initiallyOwned, name, [ref]createdNew, security).
func (in *interp) newMutex(args []any, pos position) (any, error) {
	if len(args) != 2 && len(args) != 4 {
		return nil, unsupportedAt(pos, "[Threading.Mutex]::new with %d arguments", len(args))
	}
	if toBool(args[0]) {
		return nil, unsupportedAt(pos, "[Threading.Mutex]::new with initiallyOwned $true")
	}
	name := toString(args[1])
	if name == "" {
		return nil, unsupportedAt(pos, "an unnamed mutex")
	}
	var (
		grants  []string
		created *psRef
	)
	if len(args) == 4 {
		r, isRef := args[2].(*psRef)
		if !isRef {
			return nil, in.runtimeError(pos, "Argument: '3' should be a System.Management.Automation.PSReference. Use [ref].", "NotSpecified", "MethodException", "NonRefArgumentToRefParameterMsg")
		}
		sec, isSec := args[3].(*psMutexSecurity)
		if !isSec {
			return nil, unsupportedAt(pos, "[Threading.Mutex]::new with a %s", typeName(args[3]))
		}
		g, ok := parseMutexSDDL(sec.sddl)
		if !ok {
			return nil, unsupportedAt(pos, "The MutexSecurity %q", sec.sddl)
		}
		grants, created = g, r
	}
	key := mutexKey(in, name)
	ok, createdNew := in.fw.mutexes.open(in, key, grants)
	if !ok {
		return nil, in.runtimeError(pos, "Exception calling \".ctor\" with \""+strconv.Itoa(len(args))+"\" argument(s): \"Access to the path '"+name+"' is denied.\"", "NotSpecified", "MethodInvocationException", "UnauthorizedAccessException")
	}
	if created != nil {
		created.set(createdNew)
	}
	return &psMutex{key: key, name: name}, nil
}

func (in *interp) mutexMethod(m *psMutex, name string, args []any, pos position) (any, error) {
	call := func(msg, exception string) error {
		return in.runtimeError(pos, "Exception calling \""+name+"\" with \""+strconv.Itoa(len(args))+"\" argument(s): \""+msg+"\"", "NotSpecified", "MethodInvocationException", exception)
	}
	switch strings.ToLower(name) {
	case "dispose", "close":
		if !m.disposed {
			in.fw.mutexes.closeHandle(in, m.key)
		}
		m.disposed = true
		return nil, nil
	}
	if m.disposed {
		return nil, call("Safe handle has been closed", "ObjectDisposedException")
	}
	switch strings.ToLower(name) {
	case "waitone":
		timeout := time.Duration(-1)
		if len(args) > 1 {
			return nil, unsupportedAt(pos, "WaitOne with %d arguments", len(args))
		}
		if len(args) == 1 {
			ms, ok := toInt(args[0])
			if !ok || ms < -1 {
				return nil, call("Number must be either non-negative and less than or equal to Int32.MaxValue or -1.\r\nParameter name: millisecondsTimeout", "ArgumentOutOfRangeException")
			}
			if ms >= 0 {
				timeout = time.Duration(ms) * time.Millisecond
			}
		}
		if limit := in.fw.opts.MaxMutexWait; limit > 0 && (timeout < 0 || timeout > limit) {
			timeout = limit
		}
		acquired, abandoned := in.fw.mutexes.wait(in.ctx, in, m.key, timeout)
		if err := in.ctx.Err(); err != nil && !acquired {
			return nil, &fatalErr{msg: "The pipeline has been stopped."}
		}
		if abandoned {
			return nil, call("The wait completed due to an abandoned mutex.", "AbandonedMutexException")
		}
		return acquired, nil
	case "releasemutex":
		if !in.fw.mutexes.release(in, m.key) {
			return nil, call("Object synchronization method was called from an unsynchronized block of code.", "ApplicationException")
		}
		return nil, nil
	}
	return nil, unsupportedAt(pos, "The method [System.Threading.Mutex].%s()", name)
}

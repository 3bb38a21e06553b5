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

import (
	"context"
	"fmt"
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
}

// psMutex is a script's handle to a named mutex.
type psMutex struct {
	key      string
	name     string
	disposed bool
}

func (in *interp) id() string { return fmt.Sprintf("%p", in) }

func (t *mutexTable) get(key string) *hostMutex {
	if t.m == nil {
		t.m = map[string]*hostMutex{}
	}
	m := t.m[key]
	if m == nil {
		m = &hostMutex{released: make(chan struct{})}
		t.m[key] = m
	}
	return m
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
	}
	return true
}

// abandonAll abandons the mutexes in still owns when its script ends.
func (t *mutexTable) abandonAll(in *interp) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, m := range t.m {
		if m.owner == in {
			m.owner, m.count, m.abandoned = nil, 0, true
			close(m.released)
			m.released = make(chan struct{})
		}
	}
}

// HoldMutex acquires a Global\ mutex outside of any script, as another
// process on the host would, until release is called. For tests.
func (f *Firewall) HoldMutex(name string) (release func()) {
	holder := &interp{ctx: context.Background(), fw: f}
	key := mutexKey(holder, name)
	f.mutexes.wait(context.Background(), holder, key, -1)
	return func() { f.mutexes.release(holder, key) }
}

func (in *interp) newMutex(args []any, pos position) (any, error) {
	if len(args) != 2 {
		return nil, unsupportedAt(pos, "[Threading.Mutex]::new with %d arguments", len(args))
	}
	if toBool(args[0]) {
		return nil, unsupportedAt(pos, "[Threading.Mutex]::new with initiallyOwned $true")
	}
	name := toString(args[1])
	if name == "" {
		return nil, unsupportedAt(pos, "an unnamed mutex")
	}
	return &psMutex{key: mutexKey(in, name), name: name}, nil
}

func (in *interp) mutexMethod(m *psMutex, name string, args []any, pos position) (any, error) {
	call := func(msg, exception string) error {
		return in.runtimeError(pos, "Exception calling \""+name+"\" with \""+strconv.Itoa(len(args))+"\" argument(s): \""+msg+"\"", "NotSpecified", "MethodInvocationException", exception)
	}
	switch strings.ToLower(name) {
	case "dispose", "close":
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

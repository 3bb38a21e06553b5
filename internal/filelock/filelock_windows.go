//go:build windows

package filelock

import (
	"errors"
	"math"
	"os"

	"golang.org/x/sys/windows"
)

func lockEx(f *os.File, flags uint32) error {
	return windows.LockFileEx(windows.Handle(f.Fd()), windows.LOCKFILE_EXCLUSIVE_LOCK|flags, 0, math.MaxUint32, math.MaxUint32, new(windows.Overlapped))
}

// Lock waits for an exclusive lock on all of f.
func Lock(f *os.File) error { return lockEx(f, 0) }

// TryLock takes an exclusive lock on f or fails at once with ErrLocked.
func TryLock(f *os.File) error {
	err := lockEx(f, windows.LOCKFILE_FAIL_IMMEDIATELY)
	if errors.Is(err, windows.ERROR_LOCK_VIOLATION) {
		return ErrLocked
	}
	return err
}

// Unlock releases the lock on f.
func Unlock(f *os.File) error {
	return windows.UnlockFileEx(windows.Handle(f.Fd()), 0, math.MaxUint32, math.MaxUint32, new(windows.Overlapped))
}

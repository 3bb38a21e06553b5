// Package filelock takes exclusive advisory locks on open files, the same
// way on every OS the controller runs on: flock(2) on Unix, LockFileEx on
// Windows. The lock goes with the file: closing it (or the process ending,
// however it ends) releases it.
package filelock

import "errors"

// ErrLocked is TryLock's error when another process holds the lock.
var ErrLocked = errors.New("locked by another process")

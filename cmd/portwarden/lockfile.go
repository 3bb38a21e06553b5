package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/portwarden/portwarden/internal/filelock"
)

// instanceLock is watch's one-instance-per-inventory lock: an flock on a
// file in the state directory named after the inventory's absolute path.
// The kernel drops it when the process ends, however it ends, so a stale
// file never blocks a new watch.
type instanceLock struct {
	f    *os.File
	path string
}

// errLocked is the error of a second watch of the same inventory.
type errLocked struct {
	path string
	pid  int
}

func (e *errLocked) Error() string {
	who := "another process"
	if e.pid > 0 {
		who = fmt.Sprintf("process %d", e.pid)
	}
	return fmt.Sprintf("another portwarden watch of this inventory is running: %s holds the lock %s", who, e.path)
}

func lockPath(stateDir, inventoryPath string) (string, error) {
	abs, err := filepath.Abs(inventoryPath)
	if err != nil {
		return "", fmt.Errorf("locating the inventory: %w", err)
	}
	sum := sha256.Sum256([]byte(abs))
	return filepath.Join(stateDir, "watch-"+hex.EncodeToString(sum[:8])+".lock"), nil
}

func acquireLock(path string) (*instanceLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening lock file: %w", err)
	}
	if err := filelock.TryLock(f); err != nil {
		defer f.Close()
		if errors.Is(err, filelock.ErrLocked) {
			b, _ := os.ReadFile(path)
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			return nil, &errLocked{path: path, pid: pid}
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	// The pid is for the message of a second watch; the flock is the lock.
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, fmt.Errorf("writing lock file %s: %w", path, err)
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("writing lock file %s: %w", path, err)
	}
	return &instanceLock{f: f, path: path}, nil
}

func (l *instanceLock) release() { l.f.Close() }

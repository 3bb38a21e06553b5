package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Down stops every server of the lab, deletes its namespaces, veths and
// bridge, and removes the files it wrote (and Dir, if Up created it and it
// is empty then). It works on a partial lab and a second call does
// nothing.
func (l *Lab) Down() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var errs []error

	// A lab whose bridge is gone may have lost its ID to a newer lab, whose
	// objects have the same names: leave those alone.
	if owner := bridgeOwner(ctx, l.Bridge); owner != "" && aliasPrefix+owner != bridgeAlias(l.Dir) {
		if err := l.removeFiles(); err != nil {
			return fmt.Errorf("taking lab %d down: %w", l.ID, err)
		}
		return nil
	}

	// Every process in a lab namespace is the lab's: servers, the sessions
	// they run, and commands tests ran there. The recorded server PIDs are
	// killed too, after checking they are ours, in case a namespace went
	// away under a live process.
	var pids []int
	for _, h := range l.netHosts() {
		pids = append(pids, l.hostPIDs(ctx, h)...)
		if h.PID > 0 && l.ownsPID(h) {
			pids = append(pids, h.PID)
		}
	}
	if err := l.kill(pids); err != nil {
		errs = append(errs, err)
	}
	// The hosts' mount namespaces go with the last reference to them:
	// their bind mounts under DIR/ns (also those of a crashed Up).
	if l.Dir != "" {
		if err := unmountAll(l.nsDir()); err != nil {
			errs = append(errs, err)
		}
	}
	for _, h := range l.netHosts() {
		if netnsExists(ctx, h.Namespace) {
			if err := ip(ctx, "netns", "del", h.Namespace); err != nil {
				errs = append(errs, fmt.Errorf("deleting namespace of %s: %w", h.Name, err))
			}
		}
	}
	// Deleting a namespace deletes its veth pairs, but the kernel does so
	// in the background: wait for them, and delete the ones that stay (a
	// veth made before its peer moved into the namespace).
	for _, h := range l.netHosts() {
		if h.Veth == "" {
			continue
		}
		for i := 0; i < 100 && linkExists(ctx, h.Veth); i++ {
			time.Sleep(10 * time.Millisecond)
		}
		if err := delLink(ctx, h.Veth); err != nil {
			errs = append(errs, fmt.Errorf("deleting veth of %s: %w", h.Name, err))
		}
	}
	if l.Bridge != "" {
		if err := delLink(ctx, l.Bridge); err != nil {
			errs = append(errs, fmt.Errorf("deleting bridge: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		// Keep lab.json so that Down can be tried again.
		return fmt.Errorf("taking lab %d down: %w", l.ID, err)
	}

	if err := l.removeFiles(); err != nil {
		return fmt.Errorf("taking lab %d down: %w", l.ID, err)
	}
	return nil
}

// ownsPID reports whether the recorded server PID of h is still a lab
// server of this host: its command line names the host's directory.
func (l *Lab) ownsPID(h Host) bool {
	if !processAlive(h.PID) {
		return false
	}
	cmdline, err := processCmdline(h.PID)
	return err == nil && h.Dir != "" && strings.Contains(cmdline, h.Dir+string(filepath.Separator))
}

// kill terminates pids, then kills what is left, and waits until they are
// gone (reaping the ones this process started).
func (l *Lab) kill(pids []int) error {
	if len(pids) == 0 {
		return nil
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	if l.waitGone(pids, 3*time.Second) {
		return nil
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	if l.waitGone(pids, 5*time.Second) {
		return nil
	}
	var left []string
	for _, pid := range pids {
		if !l.exited(pid) {
			left = append(left, fmt.Sprint(pid))
		}
	}
	return fmt.Errorf("processes %s did not exit", strings.Join(left, ", "))
}

func (l *Lab) waitGone(pids []int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		alive := false
		for _, pid := range pids {
			if !l.exited(pid) {
				alive = true
				break
			}
		}
		if !alive {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// labFiles are the files Up writes at the top of Dir; lab.json goes last.
var labFiles = []string{
	"inventory.hcl", "known_hosts", "authorized_keys", "id_ed25519", "id_ed25519.pub",
	"ca.pem", "winrm-password", "krb5.conf", stateFile + ".tmp",
}

func (l *Lab) removeFiles() error {
	if l.Dir == "" {
		return nil
	}
	var errs []error
	if err := unmountAll(l.nsDir()); err != nil {
		return fmt.Errorf("removing lab files: %w", err)
	}
	for _, h := range l.netHosts() {
		if h.Dir == "" {
			continue
		}
		if err := os.RemoveAll(h.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	_ = os.Remove(filepath.Join(l.Dir, "hosts")) // only if empty
	if err := os.RemoveAll(l.nsDir()); err != nil {
		errs = append(errs, err)
	}
	for _, f := range labFiles {
		if err := os.Remove(filepath.Join(l.Dir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("removing lab files: %w", err)
	}
	if err := os.Remove(filepath.Join(l.Dir, stateFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing lab files: %w", err)
	}
	if l.CreatedDir {
		_ = os.Remove(l.Dir) // only if empty: files others put there stay
	}
	return nil
}

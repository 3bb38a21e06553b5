package transport

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// knownHostsFile is one reading of a known_hosts file: knownhosts' callback
// over its lines, and its @cert-authority lines (caLines). The callback
// only reads what it parsed, so connections share it.
type knownHostsFile struct {
	cb  ssh.HostKeyCallback
	cas map[string]bool
}

// readKnownHosts reads and parses path; a missing file knows no host.
func readKnownHosts(path string) (*knownHostsFile, error) {
	cb, err := knownhosts.New(path)
	if errors.Is(err, os.ErrNotExist) {
		return &knownHostsFile{cb: func(string, net.Addr, ssh.PublicKey) error { return &knownhosts.KeyError{} }}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading known hosts: %w", err)
	}
	return &knownHostsFile{cb: cb, cas: caLines(path)}, nil
}

// knownHostsCache keeps the last reading of each known_hosts file, so that
// a run over a fleet parses its known_hosts once, not twice per host (a
// 1,000-line file parsed for each of 1,000 hosts cost the controller more
// CPU than the handshakes did). A reading is used while the file has the
// stamp it was read with (the same file, size and modification time): a
// key recorded by --accept-new-host-keys, by ssh or by hand makes the next
// connection read the file again. A file modified shortly before it was
// read may change again within its clock's granularity, keeping its stamp
// (git's "racy" entries): its content is compared instead.
type knownHostsCache struct {
	mu    sync.Mutex
	files map[string]*cachedKnownHosts
}

type cachedKnownHosts struct {
	info    os.FileInfo
	content []byte
	readAt  time.Time
	file    *knownHostsFile
}

// racyWindow is how close to its reading a file's modification time makes
// the stamp untrustworthy: more than any file system's timestamp
// granularity (FAT's is 2 s).
const racyWindow = 3 * time.Second

var knownHostsFiles = &knownHostsCache{}

// get returns the reading of path as the file is now.
func (c *knownHostsCache) get(path string) (*knownHostsFile, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return readKnownHosts(path) // missing (knows no host) or unreadable: as before, uncached
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.files[path]
	if e != nil && e.info.Size() == fi.Size() && e.info.ModTime().Equal(fi.ModTime()) && os.SameFile(e.info, fi) {
		if e.readAt.Sub(fi.ModTime()) > racyWindow {
			return e.file, nil
		}
		if b, err := os.ReadFile(path); err == nil && bytes.Equal(b, e.content) {
			return e.file, nil
		}
	}
	// The content is read before the parse: a change in between makes the
	// next get see a content or stamp other than this one's, and read again.
	readAt := time.Now()
	b, err := os.ReadFile(path)
	if err != nil {
		return readKnownHosts(path)
	}
	f, err := readKnownHosts(path)
	if err != nil {
		return nil, err
	}
	if c.files == nil {
		c.files = map[string]*cachedKnownHosts{}
	}
	c.files[path] = &cachedKnownHosts{info: fi, content: b, readAt: readAt, file: f}
	return f, nil
}

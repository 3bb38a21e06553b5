package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// A Linux host's files. Each Linux host has a mount namespace of its own
// beside its network namespace. In it:
//
//   - /etc, /var/lib and /var/log are overlays whose lower layer is this
//     machine's directory and whose upper (writable) layer is
//     DIR/hosts/NAME/fs/<etc|var-lib|var-log>/upper: what the host writes
//     there (nftables.conf, iptables rules, firewalld's zones, ufw's
//     rules, dbus's state) is its own;
//   - /run is a fresh tmpfs (made again at every boot), so sockets and PID
//     files (dbus's system bus, firewalld's, sshd's privilege separation
//     directory) are the host's own;
//   - /sys is a sysfs of the host's network namespace, as "ip netns exec"
//     gives;
//   - /root is DIR/hosts/NAME/home.
//
// Everything else (/usr, /tmp, the lab directory) is the machine's, shared.
// The namespace is kept by a bind mount of its nsfs file on
// DIR/ns/NAME; DIR/ns is bound on itself with private propagation, as
// unshare(1) requires for that. Every process of the host (its servers,
// the SSH sessions, Exec's commands) runs in both namespaces.

// overlayDirs are the directories a host gets a writable overlay of.
var overlayDirs = []string{"/etc", "/var/lib", "/var/log"}

// nsDir is DIR/ns, the private mount that holds the hosts' mount namespaces.
func (l *Lab) nsDir() string { return filepath.Join(l.Dir, "ns") }

// mountNS is the file the host's mount namespace is bound on.
func (l *Lab) mountNS(h Host) string { return filepath.Join(l.nsDir(), h.Name) }

// fsDir holds the upper layers of the host's overlays.
func fsDir(h Host) string { return filepath.Join(h.Dir, "fs") }

// checkLabDir refuses a lab directory inside a directory that hosts
// overlay or replace: an overlay's upper layer cannot be inside its lower
// one, and the host's /run would hide the lab's files.
func checkLabDir(dir string) error {
	for _, d := range append(slices.Clone(overlayDirs), "/run", "/root", "/sys", "/proc") {
		if dir == d || strings.HasPrefix(dir, d+"/") {
			return fmt.Errorf("the lab directory %s is inside %s, which each lab host replaces with its own", dir, d)
		}
	}
	return nil
}

// setupNSDir makes DIR/ns a private mount point. It is idempotent.
func (l *Lab) setupNSDir() error {
	dir := l.nsDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	if !slices.Contains(mountsUnder(dir), dir) {
		if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("binding %s on itself: %w", dir, err)
		}
	}
	if err := unix.Mount("", dir, "", unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making %s private: %w", dir, err)
	}
	return nil
}

// hostFSScript runs in the new mount namespace, already inside the host's
// network namespace: $1 is the host's fs directory, $2 its home.
const hostFSScript = `set -eu
fs=$1
home=$2
# Mounts under /run are the machine's (its network namespaces among them):
# the host must hold no reference to them. A lazy umount detaches a mount
# with everything below it, so only the topmost mounts under /run are
# named (/run/netns, not each of the thousand namespaces of a large lab).
awk 'NR == FNR { at[$1] = $5; next } $5 ~ "^/run/" && at[$2] !~ "^/run/" { print $5 }' /proc/self/mountinfo /proc/self/mountinfo |
	xargs -r umount -l 2>/dev/null || :
if awk '$5 ~ "^/run/" { found = 1 } END { exit !found }' /proc/self/mountinfo; then
	echo "mounts under /run are left in the host's mount namespace" >&2
	exit 1
fi
umount -l /sys 2>/dev/null || :
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
for d in etc var/lib var/log; do
	n=$(echo "$d" | tr / -)
	mkdir -p "$fs/$n/upper" "$fs/$n/work"
	mount -t overlay -o "lowerdir=/$d,upperdir=$fs/$n/upper,workdir=$fs/$n/work" "pwlab-$n" "/$d"
done
mount --bind "$home" /root
` + freshRunScript

// freshRunScript gives the host an empty /run, as at boot.
const freshRunScript = `if awk '$5 == "/run" { found = 1 } END { exit !found }' /proc/self/mountinfo; then
	umount -l /run
fi
mount -t tmpfs -o nosuid,nodev,mode=0755,size=64m pwlab-run /run
mkdir -p /run/sshd /run/lock /run/dbus
chmod 1777 /run/lock
`

// setupHostFS makes the host's mount namespace. Its network namespace
// must exist.
func (l *Lab) setupHostFS(ctx context.Context, h Host) error {
	home := filepath.Join(h.Dir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return fmt.Errorf("setting up the files of %s: %w", h.Name, err)
	}
	if err := os.MkdirAll(fsDir(h), 0o755); err != nil {
		return fmt.Errorf("setting up the files of %s: %w", h.Name, err)
	}
	target := l.mountNS(h)
	f, err := os.OpenFile(target, os.O_CREATE|os.O_RDONLY, 0o600)
	if err != nil {
		return fmt.Errorf("setting up the files of %s: %w", h.Name, err)
	}
	f.Close()
	err = unshareMount(ctx, target, "nsenter", "--net="+netnsPath(h), "--",
		"/bin/sh", "-c", hostFSScript, "sh", fsDir(h), home)
	if err != nil {
		return fmt.Errorf("setting up the files of %s: %w", h.Name, err)
	}
	return nil
}

// mountCPU is a CPU on which unshareMount succeeded after a refusal, -1
// before.
var mountCPU atomic.Int32

func init() { mountCPU.Store(-1) }

// unshareMount runs argv in a new mount namespace bound on target
// ("unshare --mount=TARGET"). The kernel binds a mount namespace only into
// an older one (a loop check by namespace id). In a mount namespace other
// than the machine's first (a benchmark's own,
// benchlab.PrivateMountNamespace), kernel 6.18 refused that bind with
// EINVAL for some new namespaces, depending on the CPU they were made on:
// namespace ids appear to come in per-CPU batches, so a new namespace can
// have a lower id than the binder's. Then the unshare is retried pinned to
// each CPU in turn (taskset), and the CPU that works is kept: ids on one
// CPU only grow.
func unshareMount(ctx context.Context, target string, argv ...string) error {
	args := append([]string{"--mount=" + target, "--propagation", "private", "--"}, argv...)
	if cpu := mountCPU.Load(); cpu >= 0 {
		return runPinned(ctx, int(cpu), args)
	}
	_, err := run(ctx, nil, "unshare", args...)
	if err == nil || !refusedBind(err) {
		return err
	}
	for _, cpu := range allowedCPUs() {
		if err = runPinned(ctx, cpu, args); err == nil {
			mountCPU.Store(int32(cpu))
			return nil
		}
		if !refusedBind(err) {
			return err
		}
	}
	return err
}

// allowedCPUs are the CPUs this process may run on (its affinity, which
// need not be 0..N-1: a cgroup or taskset may leave any set), else
// 0..NumCPU-1 if the kernel does not say.
func allowedCPUs() []int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err == nil && set.Count() > 0 {
		return cpusOf(&set)
	}
	cpus := make([]int, runtime.NumCPU())
	for i := range cpus {
		cpus[i] = i
	}
	return cpus
}

// cpusOf lists the CPUs in set, in order.
func cpusOf(set *unix.CPUSet) []int {
	var cpus []int
	for cpu := range len(set) * 64 {
		if set.IsSet(cpu) {
			cpus = append(cpus, cpu)
		}
	}
	return cpus
}

func runPinned(ctx context.Context, cpu int, unshareArgs []string) error {
	_, err := run(ctx, nil, "taskset", append([]string{"-c", strconv.Itoa(cpu), "unshare"}, unshareArgs...)...)
	return err
}

// refusedBind reports whether unshare failed to bind the new namespace
// (the kernel's loop check), rather than the command failing.
func refusedBind(err error) bool {
	var ce *CommandError
	return errors.As(err, &ce) && strings.Contains(ce.Stderr, "/ns/mnt on ") && strings.Contains(ce.Stderr, "Invalid argument")
}

func netnsPath(h Host) string { return filepath.Join("/run/netns", h.Namespace) }

// hostArgv is argv run inside both of the host's namespaces.
func (l *Lab) hostArgv(h Host, argv ...string) []string {
	if h.OS != Linux {
		return append([]string{"ip", "netns", "exec", h.Namespace}, argv...)
	}
	return append([]string{"nsenter", "--mount=" + l.mountNS(h), "--net=" + netnsPath(h), "--"}, argv...)
}

// hostRun runs argv in the host and returns its standard output.
func (l *Lab) hostRun(ctx context.Context, h Host, stdin []byte, argv ...string) ([]byte, error) {
	a := l.hostArgv(h, argv...)
	return run(ctx, stdin, a[0], a[1:]...)
}

// hostSh runs a sh script in the host, with args as $1...
func (l *Lab) hostSh(ctx context.Context, h Host, script string, args ...string) ([]byte, error) {
	return l.hostRun(ctx, h, nil, append([]string{"/bin/sh", "-c", script, "sh"}, args...)...)
}

// mountNSID is "mnt:[INODE]" of the host's mount namespace, as
// /proc/PID/ns/mnt reads, or "" if it is not there (an unmounted
// placeholder file is on the lab's file system, not nsfs).
func (l *Lab) mountNSID(h Host) string { return nsfsID("mnt", l.mountNS(h)) }

// hostPIDs lists the processes of a host: those in its network namespace
// and those in its mount namespace.
func (l *Lab) hostPIDs(ctx context.Context, h Host) []int {
	return l.pidsOf([]Host{h})
}

// pidsOf lists the processes of hosts (in one of their network or mount
// namespaces), from one pass over /proc however many hosts there are.
// This process is never the lab's, even while one of its threads visits a
// lab namespace (Listen, DialFrom).
func (l *Lab) pidsOf(hosts []Host) []int {
	ids := map[string]bool{}
	for _, h := range hosts {
		if id := nsfsID("net", netnsPath(h)); id != "" {
			ids[id] = true
		}
		if h.OS == Linux {
			if id := l.mountNSID(h); id != "" {
				ids[id] = true
			}
		}
	}
	if len(ids) == 0 {
		return nil
	}
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 1 || pid == os.Getpid() {
			continue
		}
		for _, ns := range []string{"net", "mnt"} {
			if link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, ns)); err == nil && ids[link] {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// nsfsID is "KIND:[INODE]" of the namespace bound on path, as
// /proc/PID/ns/KIND reads, or "" if no namespace is bound there.
func nsfsID(kind, path string) string {
	var fs unix.Statfs_t
	if err := unix.Statfs(path, &fs); err != nil || fs.Type != unix.NSFS_MAGIC {
		return ""
	}
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return ""
	}
	return fmt.Sprintf("%s:[%d]", kind, st.Ino)
}

// mountsUnder lists the mount points at or under dir in this process's
// mount namespace, from /proc/self/mountinfo, deepest last.
func mountsUnder(dir string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var mounts []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		m := unescapeMountinfo(f[4])
		if m == dir || strings.HasPrefix(m, dir+"/") {
			mounts = append(mounts, m)
		}
	}
	return mounts
}

// unescapeMountinfo undoes the octal escapes (\040 for a space) of
// /proc/self/mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountAll detaches every mount at or under dir (the hosts' namespace
// files and DIR/ns), deepest first; also those of a crashed Up.
func unmountAll(dir string) error {
	var errs []error
	mounts := mountsUnder(dir)
	for i := len(mounts) - 1; i >= 0; i-- {
		if err := unix.Unmount(mounts[i], unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", mounts[i], err))
		}
	}
	if left := mountsUnder(dir); len(left) > 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("still mounted: %s", strings.Join(left, ", ")))
	}
	return errors.Join(errs...)
}

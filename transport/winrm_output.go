package transport

import (
	"errors"
	"io"
	"sync"
)

// MaxWinRMOutput caps what one command may send back, stdout and stderr
// together: a broken or hostile host must not grow the controller without
// bound (768 MiB of "facts" once grew it to 2.6 GiB).
const MaxWinRMOutput = 16 << 20

// maxWinRMAnswer caps one HTTP answer of the host.
const maxWinRMAnswer = 8 << 20

// ErrOutputTooLarge is wrapped by Run's error when a host sent more than
// MaxWinRMOutput.
var ErrOutputTooLarge = errors.New("the host sent more output than portwarden accepts")

// outputBudget counts the bytes of both output streams of one command.
// When they exceed the limit it stops keeping them, and cancels the
// command's requests through stop, so that the host's further output is
// not even received; writes then succeed and discard, so the library's
// pipes never block.
type outputBudget struct {
	mu   sync.Mutex
	left int
	over bool
	stop func(error)
}

func newOutputBudget(limit int, stop func(error)) *outputBudget {
	return &outputBudget{left: limit, stop: stop}
}

func (b *outputBudget) writer(dst io.Writer) io.Writer {
	return budgetWriter{b, dst}
}

func (b *outputBudget) exceeded() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.over
}

type budgetWriter struct {
	b   *outputBudget
	dst io.Writer
}

// copyBufs are the buffers of budgetWriter.ReadFrom. A session's streams
// hold one each while the command runs, so with hundreds of hosts at once
// they are small: a read from an SSH channel returns what has arrived.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 8<<10); return &b }}

// ReadFrom copies r through Write with a buffer from a pool: io.Copy,
// which an SSH session runs for its stdout and its stderr, would otherwise
// allocate 32 KB for each stream of every session on every host.
func (w budgetWriter) ReadFrom(r io.Reader) (n int64, err error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	for {
		nr, rerr := r.Read(*bp)
		if nr > 0 {
			nw, werr := w.Write((*bp)[:nr])
			n += int64(nw)
			if werr != nil {
				return n, werr
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

func (w budgetWriter) Write(p []byte) (int, error) {
	w.b.mu.Lock()
	if w.b.over || len(p) > w.b.left {
		first := !w.b.over
		w.b.over = true
		w.b.mu.Unlock()
		if first {
			w.b.stop(ErrOutputTooLarge)
		}
		return len(p), nil
	}
	w.b.left -= len(p)
	w.b.mu.Unlock()
	return w.dst.Write(p)
}

package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode/utf8"
)

// Everything portwarden prints can carry text a host or a policy supplied:
// rule comments, facts, warnings, error messages, names. A terminal obeys
// the control characters in it: a host answering "\r\x1b[2KNo changes."
// could erase a line of the plan and fake its summary. safeWriter, which
// run puts in front of stdout and stderr, escapes every such character as
// it passes, so no view can forget it; oneLine also escapes newlines, for
// values printed on one line.

// safeWriter escapes terminal control characters in what is written
// through it, keeping newlines and tabs. The escapes it writes are valid
// inside JSON strings (\u001b), and JSON never has these characters
// outside strings, so a JSON view stays JSON. A write that ends inside a
// UTF-8 character keeps that character's first bytes for the next write,
// so a character split across writes passes whole; flush writes (escaped)
// what is left when the output ends.
type safeWriter struct {
	w       io.Writer
	mu      sync.Mutex
	pending []byte // the start of a character the last write ended in
}

func newSafeWriter(w io.Writer) io.Writer {
	if _, ok := w.(*safeWriter); ok {
		return w
	}
	return &safeWriter{w: w}
}

// rawWriter is the writer behind a safeWriter: the progress bar needs its
// terminal, and prints only portwarden's own text.
func rawWriter(w io.Writer) io.Writer {
	if s, ok := w.(*safeWriter); ok {
		return s.w
	}
	return w
}

func (s *safeWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	data := p
	if len(s.pending) > 0 {
		data = append(s.pending, p...)
		s.pending = nil
	}
	if i := incompleteTail(data); i < len(data) {
		s.pending = append([]byte(nil), data[i:]...)
		data = data[:i]
	}
	if err := s.write(data); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (s *safeWriter) write(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if !needsEscape(p, true) {
		_, err := s.w.Write(p)
		return err
	}
	_, err := io.WriteString(s.w, escapeControls(string(p), true))
	return err
}

// flushSafe writes what a safeWriter w still holds of a character that
// never ended (escaped, as invalid UTF-8 is); other writers have nothing
// to flush.
func flushSafe(w io.Writer) {
	s, ok := w.(*safeWriter)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_ = s.write(s.pending)
	s.pending = nil
}

// incompleteTail is where the character that p ends inside begins: len(p)
// when p ends at a character boundary (or in bytes that are invalid
// whatever follows, which are escaped as they are).
func incompleteTail(p []byte) int {
	for i := len(p) - 1; i >= 0 && i >= len(p)-utf8.UTFMax+1; i-- {
		if utf8.RuneStart(p[i]) {
			if p[i] >= utf8.RuneSelf && !utf8.FullRune(p[i:]) {
				return i
			}
			break
		}
	}
	return len(p)
}

// oneLine escapes s for a view that prints it on one line: control
// characters and newlines alike.
func oneLine(s string) string {
	if !needsEscape([]byte(s), false) {
		return s
	}
	return escapeControls(s, false)
}

func needsEscape(p []byte, keepNewline bool) bool {
	for len(p) > 0 {
		c := p[0]
		if c < utf8.RuneSelf {
			if unsafeASCII(c, keepNewline) {
				return true
			}
			p = p[1:]
			continue
		}
		r, n := utf8.DecodeRune(p)
		if r == utf8.RuneError && n == 1 || unsafeRune(r) {
			return true
		}
		p = p[n:]
	}
	return false
}

func unsafeASCII(c byte, keepNewline bool) bool {
	switch {
	case c == '\t', c == '\n' && keepNewline:
		return false
	}
	return c < 0x20 || c == 0x7f
}

// unsafeRune: C1 controls (U+0080-U+009F, 0x9b is CSI on some terminals),
// the bidirectional overrides, embeddings and isolates that reorder what a
// terminal shows (Trojan Source), and the Unicode line separators.
func unsafeRune(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f,
		r == 0x061c, r == 0x200e, r == 0x200f,
		r >= 0x202a && r <= 0x202e,
		r >= 0x2066 && r <= 0x2069,
		r == 0x2028, r == 0x2029:
		return true
	}
	return false
}

func escapeControls(s string, keepNewline bool) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '\n' && !keepNewline:
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case unsafeASCII(c, keepNewline):
				fmt.Fprintf(&b, `\u%04x`, c)
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, c)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

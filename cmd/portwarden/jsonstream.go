package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// jsonField is one top-level key of a document and its value.
type jsonField struct {
	Key   string
	Value any
}

// writeHostsJSON writes {"format_version": ..., "hosts": [...], tail...}
// with host(i) encoded as it is asked for, each host on its own: the same
// bytes as json.Encoder with a two-space indent gives for the whole
// document, while only one host's wire form exists at a time. tail holds
// the keys after "hosts" (a plan's summary, probes), in order.
func writeHostsJSON(stdout, stderr io.Writer, n int, host func(i int) any, tail []jsonField) int {
	w := newHostsWriter(stdout)
	for i := range n {
		w.add(host(i))
	}
	return w.close(stderr, tail)
}

// hostsWriter writes a hosts document one host at a time: nothing is
// written before the first host or close, so a command that fails before
// any host leaves stdout empty. It writes to out whole hosts at a time,
// some 64 KB at once.
type hostsWriter struct {
	out io.Writer
	w   *bytes.Buffer
	n   int
	err error
}

// hostsFlushAt is how much hostsWriter gathers before writing it out.
const hostsFlushAt = 64 << 10

func newHostsWriter(w io.Writer) *hostsWriter {
	return &hostsWriter{out: w, w: &bytes.Buffer{}}
}

// flushHosts writes what is gathered once it is large enough (always, if
// force): only ever between hosts.
func (hw *hostsWriter) flushHosts(force bool) {
	if hw.err != nil || hw.w.Len() < hostsFlushAt && !force {
		return
	}
	_, hw.err = hw.out.Write(hw.w.Bytes())
	hw.w.Reset()
}

func (hw *hostsWriter) value(indent string, v any) {
	if hw.err != nil {
		return
	}
	b, err := json.MarshalIndent(v, indent, "  ")
	if err != nil {
		hw.err = err
		return
	}
	_, hw.err = hw.w.Write(b)
}

func (hw *hostsWriter) head() {
	fmt.Fprintf(hw.w, "{\n  \"format_version\": %q,\n  \"hosts\": [", formatVersion)
}

// add writes one host.
func (hw *hostsWriter) add(v any) {
	hw.addFunc(func(*bytes.Buffer) error {
		hw.value("    ", v)
		return nil
	})
}

// addFunc writes one host with write, which gets the buffer positioned
// where the host's opening brace goes (indented as add indents).
func (hw *hostsWriter) addFunc(write func(w *bytes.Buffer) error) {
	if hw.n == 0 {
		hw.head()
	} else {
		hw.w.WriteByte(',')
	}
	hw.n++
	hw.w.WriteString("\n    ")
	if hw.err == nil {
		hw.err = write(hw.w)
	}
	hw.flushHosts(false)
}

// close ends the hosts list, writes tail and flushes; it returns the exit
// code of a failed write (1, said on stderr) or 0.
func (hw *hostsWriter) close(stderr io.Writer, tail []jsonField) int {
	if hw.n == 0 {
		hw.head()
	} else {
		hw.w.WriteString("\n  ")
	}
	hw.w.WriteByte(']')
	for _, f := range tail {
		k, _ := json.Marshal(f.Key)
		fmt.Fprintf(hw.w, ",\n  %s: ", k)
		hw.value("  ", f.Value)
	}
	hw.w.WriteString("\n}\n")
	hw.flushHosts(true)
	if hw.err != nil {
		fmt.Fprintf(stderr, "Error: writing JSON: %s\n", hw.err)
		return 1
	}
	return 0
}

// writeJSON writes a whole document, indented as every document is.
func writeJSON(stdout, stderr io.Writer, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(stderr, "Error: writing JSON: %s\n", err)
		return 1
	}
	return 0
}

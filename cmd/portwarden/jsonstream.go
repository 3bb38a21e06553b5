package main

import (
	"bufio"
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
	w := bufio.NewWriterSize(stdout, 64<<10)
	err := encodeHosts(w, n, host, tail)
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		fmt.Fprintf(stderr, "Error: writing JSON: %s\n", err)
		return 1
	}
	return 0
}

func encodeHosts(w *bufio.Writer, n int, host func(i int) any, tail []jsonField) error {
	field := func(indent string, v any) error {
		b, err := json.MarshalIndent(v, indent, "  ")
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	fmt.Fprintf(w, "{\n  \"format_version\": %q,\n  \"hosts\": [", formatVersion)
	for i := range n {
		if i > 0 {
			w.WriteByte(',')
		}
		w.WriteString("\n    ")
		if err := field("    ", host(i)); err != nil {
			return err
		}
	}
	if n > 0 {
		w.WriteString("\n  ")
	}
	w.WriteByte(']')
	for _, f := range tail {
		k, _ := json.Marshal(f.Key)
		fmt.Fprintf(w, ",\n  %s: ", k)
		if err := field("  ", f.Value); err != nil {
			return err
		}
	}
	_, err := w.WriteString("\n}\n")
	return err
}

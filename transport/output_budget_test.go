package transport

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestBudgetWriterReadFrom: io.Copy into a budget writer goes through its
// ReadFrom (no 32 KB buffer per stream), copies everything within the
// budget, reports a read error, and past the budget stops once and drops
// the rest.
func TestBudgetWriterReadFrom(t *testing.T) {
	var stops []error
	b := newOutputBudget(1<<20, func(err error) { stops = append(stops, err) })
	var dst bytes.Buffer
	w := b.writer(&dst)
	if _, ok := w.(io.ReaderFrom); !ok {
		t.Fatal("the budget writer is no io.ReaderFrom")
	}
	in := strings.Repeat("facts\n", 20000) // 120 KB: several buffers
	n, err := io.Copy(w, iotest.HalfReader(strings.NewReader(in)))
	if err != nil || n != int64(len(in)) || dst.String() != in || b.exceeded() {
		t.Fatalf("copied %d, %v; same %v, exceeded %v", n, err, dst.String() == in, b.exceeded())
	}

	boom := errors.New("connection lost")
	if _, err := io.Copy(w, io.MultiReader(strings.NewReader("x"), iotest.ErrReader(boom))); !errors.Is(err, boom) {
		t.Errorf("err = %v, want the read's error %v", err, boom)
	}
	if dst.String() != in+"x" {
		t.Error("what was read before the error is lost")
	}

	small := newOutputBudget(10, func(err error) { stops = append(stops, err) })
	var dst2 bytes.Buffer
	if _, err := io.Copy(small.writer(&dst2), iotest.OneByteReader(strings.NewReader(strings.Repeat("y", 50)))); err != nil {
		t.Fatal(err)
	}
	if !small.exceeded() || dst2.Len() != 10 || len(stops) != 1 || !errors.Is(stops[0], ErrOutputTooLarge) {
		t.Errorf("over budget: exceeded %v, kept %d bytes, stops %v", small.exceeded(), dst2.Len(), stops)
	}
}

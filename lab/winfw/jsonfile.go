package winfw

import (
	"encoding/json"
	"os"
	"path/filepath"
)

// writeJSON saves v as indented JSON at path atomically: into a temporary
// file of its own in the same directory, then renamed over path, so that
// a reader (or a crash) sees the old file or the new one, never half of
// one, and concurrent savers never share a temporary file.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after the rename, there is nothing to remove
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

package winfw

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/portwarden/portwarden/firewall"
)

// FuzzRun feeds arbitrary scripts to the interpreter: it may fail, but
// must not panic, hang, or leave a state file it cannot read again.
func FuzzRun(f *testing.F) {
	seeds, _ := filepath.Glob(filepath.Join("..", "..", "firewall", "testdata", "windows", "*.ps1"))
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err == nil {
			f.Add(string(b))
		}
	}
	f.Add(firewall.WindowsFactsScript.Body)
	f.Add("try{throw 'x'}catch{$_.Exception.Message}finally{exit 2}")
	f.Add("$a=@{k=@(1,'2',$null)};$a.k[1] -replace 'x','y'")
	fw, err := New(Options{StateDir: f.TempDir()})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, script string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		fw.Run(ctx, script)
		if _, err := fw.Snapshot(); err != nil {
			t.Fatalf("state unreadable after %q: %v", script, err)
		}
	})
}

package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version and commit are set by make build:
//
//	go build -ldflags "-X main.version=v1.2.0 -X main.commit=abc1234"
//
// Without them (go install, go build), the module version and the VCS
// revision Go records in the binary are used.
var (
	version = "dev"
	commit  = ""
)

// buildInfo is what --version prints: the version, the commit and the Go
// release and platform that built the binary.
type buildInfo struct {
	Version string
	Commit  string
	Go      string
}

func currentBuild() buildInfo {
	b := buildInfo{Version: version, Commit: commit, Go: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	return fillFromBuildInfo(b, bi)
}

// fillFromBuildInfo completes what -ldflags left unset from the build
// information Go embeds. It is pure, for tests.
func fillFromBuildInfo(b buildInfo, bi *debug.BuildInfo) buildInfo {
	if b.Version == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		b.Version = bi.Main.Version
	}
	if b.Commit == "" {
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				b.Commit = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if b.Commit != "" && modified {
			b.Commit += "-dirty"
		}
	}
	if b.Commit == "" {
		b.Commit = "unknown"
	}
	return b
}

func (b buildInfo) String() string {
	return fmt.Sprintf("portwarden %s\ncommit %s\nbuilt with %s\n", b.Version, b.Commit, b.Go)
}

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newPlainFlagSet("version", "version", stderr)
	if code := parsePlain(fs, args); code >= 0 {
		return code
	}
	fmt.Fprint(stdout, currentBuild())
	return 0
}

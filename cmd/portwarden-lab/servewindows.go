// This file is servewindows.go, not serve_windows.go: the "_windows" suffix
// would make it build only for GOOS=windows.

package main

import (
	"context"
	"errors"
	"io"
)

// serveWindows runs one simulated Windows host. It is started by lab.Up
// inside the host's namespace and is not meant to be run by hand.
func serveWindows(ctx context.Context, args []string, stderr io.Writer) error {
	return errors.New("serve-windows: not built yet (waits for packages lab/wsman and lab/winfw)")
}

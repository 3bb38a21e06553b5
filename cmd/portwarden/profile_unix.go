//go:build !windows

package main

import (
	"os"
	"syscall"
)

// heapSignal asks a running command for a heap profile (--memprofile).
var heapSignal os.Signal = syscall.SIGUSR1

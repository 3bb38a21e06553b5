package main

import "os"

// heapSignal: Windows has no SIGUSR1; a heap profile is written at exit
// only.
var heapSignal os.Signal

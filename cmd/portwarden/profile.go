package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"sync"
)

// profileFlags are the developer flags of the commands that contact hosts:
// a CPU profile of the whole run and a heap profile, in runtime/pprof's
// format (go tool pprof reads both). The profiles carry no labels: no host
// name, address or secret reaches them, only the program's own functions.
type profileFlags struct {
	cpu, mem string
}

func addProfileFlags(fs *flag.FlagSet, p *profileFlags) {
	fs.StringVar(&p.cpu, "cpuprofile", "", "developer: write a CPU profile of the run to `file` (go tool pprof reads it)")
	fs.StringVar(&p.mem, "memprofile", "", "developer: write a heap profile to `file` at exit, and again on SIGUSR1 where there is one (not Windows; go tool pprof reads it)")
}

// profiling is the profile a command started; run finishes it when the
// command returns (finishProfiles), whichever way the command ends.
var profiling struct {
	mu   sync.Mutex
	stop func() error
}

// startProfiles starts the CPU profile and arms the heap profile p asks for.
// The files are created now, so that a bad path is an error before any host
// is contacted. Only one command per process profiles.
func startProfiles(p profileFlags) error {
	if p.cpu == "" && p.mem == "" {
		return nil
	}
	profiling.mu.Lock()
	defer profiling.mu.Unlock()
	if profiling.stop != nil {
		return errors.New("starting the profiles: a profile is already being taken")
	}
	var stops []func() error
	if p.cpu != "" {
		f, err := os.Create(p.cpu)
		if err != nil {
			return fmt.Errorf("creating the CPU profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("starting the CPU profile: %w", err)
		}
		stops = append(stops, func() error {
			pprof.StopCPUProfile()
			if err := f.Close(); err != nil {
				return fmt.Errorf("writing the CPU profile: %w", err)
			}
			return nil
		})
	}
	if p.mem != "" {
		// Create the file now: a bad path fails before the run.
		f, err := os.Create(p.mem)
		if err != nil {
			for _, s := range stops {
				s()
			}
			return fmt.Errorf("creating the heap profile: %w", err)
		}
		f.Close()
		usr1 := make(chan os.Signal, 1)
		if heapSignal != nil {
			signal.Notify(usr1, heapSignal)
		}
		done := make(chan struct{})
		var mu sync.Mutex // one heap profile written at a time
		write := func() error {
			mu.Lock()
			defer mu.Unlock()
			return writeHeapProfile(p.mem)
		}
		go func() {
			for {
				select {
				case <-usr1:
					if err := write(); err != nil {
						fmt.Fprintf(os.Stderr, "portwarden: %s\n", err)
					}
				case <-done:
					return
				}
			}
		}()
		stops = append(stops, func() error {
			signal.Stop(usr1)
			close(done)
			return write()
		})
	}
	profiling.stop = func() error {
		var errs []error
		for _, s := range stops {
			errs = append(errs, s())
		}
		return errors.Join(errs...)
	}
	return nil
}

// writeHeapProfile writes the heap profile, after a GC so that it shows
// the live heap as of now, to path (replacing what an earlier SIGUSR1
// wrote).
func writeHeapProfile(path string) error {
	runtime.GC()
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("writing the heap profile: %w", err)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("writing the heap profile: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing the heap profile: %w", err)
	}
	return nil
}

// finishProfiles stops the CPU profile and writes the heap profile, if a
// command started them, and returns code: a profile that could not be
// written is reported on stderr and does not change what the run did on
// the hosts, which code says.
func finishProfiles(stderr io.Writer, code int) int {
	profiling.mu.Lock()
	stop := profiling.stop
	profiling.stop = nil
	profiling.mu.Unlock()
	if stop == nil {
		return code
	}
	if err := stop(); err != nil {
		fmt.Fprintf(stderr, "Error: %s\n", err)
	}
	return code
}

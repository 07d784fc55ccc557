package cli

import (
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// Profiling wavectl's own process, for the benchmarks: WAVECTL_CPUPROFILE
// names a file for a CPU profile of the whole command, WAVECTL_MEMPROFILE
// one for a heap profile taken as it ends (in use then, and allocated in
// all), both read with `go tool pprof`. Neither is a flag: they are for
// whoever profiles wavectl, not part of the command line it offers.
const (
	envCPUProfile = "WAVECTL_CPUPROFILE"
	envMemProfile = "WAVECTL_MEMPROFILE"
)

// startProfiles starts the profiles the environment asks for and returns
// what ends them. A profile that cannot be written is reported on stderr
// and the command runs without it.
func startProfiles() (stop func()) {
	var stops []func()
	if path := os.Getenv(envCPUProfile); path != "" {
		f, err := os.Create(path)
		if err == nil {
			if err = pprof.StartCPUProfile(f); err != nil {
				_ = f.Close()
			}
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "wavectl: %s=%s: no CPU profile: %v\n", envCPUProfile, path, err)
		} else {
			stops = append(stops, func() {
				pprof.StopCPUProfile()
				if err := f.Close(); err != nil {
					fmt.Fprintf(os.Stderr, "wavectl: %s=%s: %v\n", envCPUProfile, path, err)
				}
			})
		}
	}
	if path := os.Getenv(envMemProfile); path != "" {
		stops = append(stops, func() {
			runtime.GC() // the heap in use as the command ends, not garbage
			f, err := os.Create(path)
			if err == nil {
				err = pprof.WriteHeapProfile(f)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "wavectl: %s=%s: no heap profile: %v\n", envMemProfile, path, err)
			}
		})
	}
	return func() {
		for _, s := range stops {
			s()
		}
	}
}

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
)

// startProfile starts a CPU profile into dir/cpu.pprof; the returned stop
// ends it and writes the heap profile, dir/heap.pprof, as the command ends
// (`go tool pprof bin/churn DIR/cpu.pprof`).
func startProfile(dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("--profile: %w", err)
	}
	cpu, err := os.Create(filepath.Join(dir, "cpu.pprof"))
	if err != nil {
		return nil, fmt.Errorf("--profile: %w", err)
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		cpu.Close()
		return nil, fmt.Errorf("--profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		cpu.Close()
		heap, err := os.Create(filepath.Join(dir, "heap.pprof"))
		if err != nil {
			return
		}
		defer heap.Close()
		runtime.GC()
		pprof.Lookup("allocs").WriteTo(heap, 0)
	}, nil
}

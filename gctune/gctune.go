// Package gctune owns a worker process's garbage-collector setting, decided
// once per process from the job configuration: a Dataflow worker's
// environment is not the operator's to set, the job configuration is.
//
// The one idea: a chunk copy allocates fast and keeps little (a few pages
// of rows per chunk in flight), so Go's default — collect whenever the heap
// doubles its small live part — collects every few thousand rows and costs
// a tenth of the extraction's CPU. Collecting at 3× the live heap
// (GOGC=200) halves that for a bounded amount of memory, because the live
// heap itself is bounded by the chunks in flight; and a soft memory limit
// of half the machine's memory makes the collector work harder long before
// that trade could ever cost the process its memory. GOGC and GOMEMLIMIT in
// the worker's environment win over the job.
package gctune

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
)

// Setting is what a worker process's collector runs with, and why.
type Setting struct {
	// Percent is GOGC (-1: off, as GOGC=off says).
	Percent int
	// LimitBytes is the soft memory limit (0: none; -1: the environment's
	// GOMEMLIMIT, which the runtime has applied already).
	LimitBytes int64
	// From says where each came from, for the log: "job", "environment"
	// or "machine" (half of the machine's memory).
	PercentFrom, LimitFrom string
}

func (s Setting) String() string {
	gogc, limit := strconv.Itoa(s.Percent), "none"
	if s.Percent < 0 {
		gogc = "off"
	}
	switch {
	case s.LimitBytes > 0:
		limit = fmt.Sprintf("%d MiB", s.LimitBytes>>20)
	case s.LimitBytes < 0:
		limit = os.Getenv("GOMEMLIMIT")
	}
	return fmt.Sprintf("GOGC=%s (%s), memory limit %s (%s)", gogc, s.PercentFrom, limit, s.LimitFrom)
}

// Decide works out the setting of a process from the job's percent and
// limit (MiB; 0: half of machine bytes), the process environment (getenv)
// and the machine's memory (0: unknown, no limit of the job's own).
func Decide(percent, limitMB int, getenv func(string) string, machine int64) Setting {
	s := Setting{Percent: percent, PercentFrom: "job"}
	if percent <= 0 {
		// A job configuration without the setting (never 0: GOGC=0
		// would collect without pause).
		s.Percent, s.PercentFrom = 100, "Go's default"
	}
	if v := getenv("GOGC"); v != "" {
		s.PercentFrom = "environment"
		if v == "off" {
			s.Percent = -1
		} else if n, err := strconv.Atoi(v); err == nil {
			s.Percent = n
		}
	}
	switch {
	case getenv("GOMEMLIMIT") != "":
		// The runtime has already applied it: leave it alone.
		s.LimitBytes, s.LimitFrom = -1, "environment"
	case limitMB > 0:
		s.LimitBytes, s.LimitFrom = int64(limitMB)<<20, "job"
	case machine > 0:
		s.LimitBytes, s.LimitFrom = machine/2, "machine"
	default:
		s.LimitFrom = "machine memory unknown"
	}
	return s
}

var once sync.Once

// Apply sets this process's collector from the job's percent and limit
// (see Decide) the first time it is called and logs what applied; later
// calls — every DoFn of every job in the process calls it — change
// nothing. It returns the setting in force.
func Apply(percent, limitMB int) Setting {
	once.Do(func() {
		applied = Decide(percent, limitMB, os.Getenv, MachineMemory())
		if applied.PercentFrom != "environment" {
			debug.SetGCPercent(applied.Percent)
		}
		if applied.LimitBytes > 0 {
			debug.SetMemoryLimit(applied.LimitBytes)
		}
		slog.Default().Info("worker garbage collector", "setting", applied.String())
	})
	return applied
}

var applied Setting

// MachineMemory is the memory this process may use: its cgroup's limit
// when it has one, else the machine's (0 when neither can be read).
func MachineMemory() int64 {
	total := meminfoTotal(readFile("/proc/meminfo"))
	if lim := cgroupLimit(readFile("/sys/fs/cgroup/memory.max"), readFile("/sys/fs/cgroup/memory/memory.limit_in_bytes")); lim > 0 && (total == 0 || lim < total) {
		return lim
	}
	return total
}

func readFile(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}

// cgroupLimit reads a cgroup v2 memory.max or v1 memory.limit_in_bytes
// ("max" or an absurdly large v1 value: no limit, 0).
func cgroupLimit(v2, v1 []byte) int64 {
	for _, b := range [][]byte{v2, v1} {
		s := strings.TrimSpace(string(b))
		if s == "" || s == "max" {
			continue
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err == nil && n > 0 && n < 1<<60 {
			return n
		}
	}
	return 0
}

// meminfoTotal reads MemTotal (kB) from /proc/meminfo, in bytes.
func meminfoTotal(b []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			n, err := strconv.ParseInt(f[1], 10, 64)
			if err == nil {
				return n << 10
			}
		}
	}
	return 0
}

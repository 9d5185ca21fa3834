package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// loadAvg is the machine's 1-minute load average (0 when unknown).
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f, _ := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	return f
}

// cpuBusy is the share of the machine's CPU (0–1, all cores) in use over
// window, read from /proc/stat (-1 when unknown). Taken while the harness
// itself is idle between runs, it is the load of everything else — unlike
// the 1-minute load average, which still carries the previous run.
func cpuBusy(window time.Duration) float64 {
	read := func() (busy, total float64, ok bool) {
		b, err := os.ReadFile("/proc/stat")
		if err != nil {
			return 0, 0, false
		}
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line)
		if len(f) < 5 || f[0] != "cpu" {
			return 0, 0, false
		}
		for i, v := range f[1:] {
			x, _ := strconv.ParseFloat(v, 64)
			total += x
			if i != 3 && i != 4 { // idle, iowait
				busy += x
			}
		}
		return busy, total, true
	}
	b0, t0, ok0 := read()
	time.Sleep(window)
	b1, t1, ok1 := read()
	if !ok0 || !ok1 || t1 <= t0 {
		return -1
	}
	return (b1 - b0) / (t1 - t0)
}

// lowerMedian keeps the repetition with the lower median rate and records
// every repetition's rate in it.
func lowerMedian(ms []*Measurement) *Measurement {
	sorted := append([]*Measurement(nil), ms...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].RowsPerSec < sorted[j].RowsPerSec })
	m := sorted[(len(sorted)-1)/2]
	m.Samples = nil
	for _, x := range ms {
		m.Samples = append(m.Samples, x.RowsPerSec)
	}
	return m
}

// freshEmulatorOffset places the benchmark's own emulator above the
// stack's ports (the chaos test's fault-injecting one sits at +300).
const freshEmulatorOffset = 500

// freshEmulator starts a private emulator (scripts/stack.sh up-spanner on
// the stack's ports + 500), points this process and its children at it,
// and returns the function that stops it. A long-lived emulator degrades
// read-write transactions by an order of magnitude (measured: the quick
// benchmark's (4)/(2) fell from ~0.7 to 0.03–0.14 on one that held 18.8 GB),
// so every benchmark measures against a fresh one.
func (s *stack) freshEmulator(ctx context.Context, logw io.Writer) (func(), error) {
	_, portStr, err := net.SplitHostPort(s.EmulatorHost)
	if err != nil {
		return nil, err
	}
	port, _ := strconv.Atoi(portStr)
	grpc, http := port+freshEmulatorOffset, port+freshEmulatorOffset+10
	script := filepath.Join(s.Root, "scripts", "stack.sh")
	env := append(os.Environ(), fmt.Sprintf("SPANNER_GRPC_PORT=%d", grpc), fmt.Sprintf("SPANNER_HTTP_PORT=%d", http),
		"SPANNER_PROJECT="+s.Project, "SPANNER_INSTANCE="+s.Instance)
	if d := os.Getenv("LM_STACK_DIR"); d != "" {
		env = append(env, "STACK_DIR="+d)
	}
	run := func(cmd string) error {
		c := exec.CommandContext(context.WithoutCancel(ctx), script, cmd)
		c.Env = env
		out, err := c.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s %s: %v: %s", script, cmd, err, tail(string(out), 500))
		}
		return nil
	}
	run("down-spanner") // a leftover from an interrupted run
	logf(logw, "starting a fresh emulator on 127.0.0.1:%d", grpc)
	if err := run("up-spanner"); err != nil {
		return nil, err
	}
	s.EmulatorHost = fmt.Sprintf("127.0.0.1:%d", grpc)
	s.EmulatorREST = fmt.Sprintf("http://127.0.0.1:%d", http)
	s.emulatorPort = grpc
	os.Setenv("SPANNER_EMULATOR_HOST", s.EmulatorHost)
	os.Setenv("LM_SPANNER_EMULATOR_REST", s.EmulatorREST)
	s.restartEmulator = func() error {
		if err := run("down-spanner"); err != nil {
			return err
		}
		return run("up-spanner")
	}
	return func() {
		s.restartEmulator = nil
		if err := run("down-spanner"); err != nil {
			logf(logw, "stop the fresh emulator: %v", err)
		}
	}, nil
}

// emulatorRSSMB is the resident memory of the emulator this run uses (its
// gateway and emulator processes), 0 when unknown.
func (s *stack) emulatorRSSMB() float64 {
	port := s.emulatorPort
	if port == 0 {
		_, p, _ := net.SplitHostPort(s.EmulatorHost)
		port, _ = strconv.Atoi(p)
	}
	dir := os.Getenv("LM_STACK_DIR")
	if dir == "" {
		dir = filepath.Join(s.Root, ".stack")
	}
	b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("spanner-%d.pid", port)))
	if err != nil {
		return 0
	}
	var kb float64
	pids := []string{strings.TrimSpace(string(b))}
	if kids, err := os.ReadFile("/proc/" + pids[0] + "/task/" + pids[0] + "/children"); err == nil {
		pids = append(pids, strings.Fields(string(kids))...)
	}
	for _, pid := range pids {
		status, err := os.ReadFile("/proc/" + pid + "/status")
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
				v, _ := strconv.ParseFloat(f[1], 64)
				kb += v
			}
		}
	}
	return kb / 1024
}

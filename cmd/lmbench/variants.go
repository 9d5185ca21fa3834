package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/livemigrate/livemigrate/config"
	"github.com/livemigrate/livemigrate/pii"
	"github.com/livemigrate/livemigrate/ratelimit"
)

// The extraction variants measure what protection and throttling cost on
// the same rows as (3): the same child pipeline with the job configuration
// changed, nothing else.

// piiJob is job with three of items' columns protected: sku
// deterministic, name and note encrypted (AES-SIV and AES-GCM through
// Tink), under a development keyset created in dir.
func piiJob(ctx context.Context, job config.Job, dir string) (config.Job, error) {
	ks := filepath.Join(dir, "lmbench-dev-keyset.json")
	if _, err := os.Stat(ks); err != nil {
		if _, err := pii.CreateKeyset(ctx, ks, "", true); err != nil {
			return job, err
		}
	}
	job.PII = pii.Config{Keyset: pii.Keyset{InsecureCleartextFile: ks}, Tables: map[string]map[string]pii.Column{
		"items": {"sku": {Policy: pii.PolicyDeterministic}, "name": {Policy: pii.PolicyEncrypt}, "note": {Policy: pii.PolicyEncrypt}},
	}}
	return job, nil
}

// throttledJob is job under an adaptive throttle with the probes a careful
// operator turns on (Threads_running and mysqld's CPU) and, when cpuMax >
// 0, a CPU target for mysqld in % of one core.
func throttledJob(job config.Job, pidFile string, cpuMax float64) config.Job {
	job.Throttle = ratelimit.Config{ThreadsRunning: &ratelimit.ThreadsRunningProbe{}}
	cpu := &ratelimit.CPUProbe{Proc: &ratelimit.ProcCPU{PIDFile: pidFile}}
	if cpuMax > 0 {
		cpu.Max, cpu.Critical = cpuMax, cpuMax*3
		// A target can only be held once the controller has sampled a
		// few times: sample 4× a second (the default is 1 s), so a run
		// of a second or two is long enough to judge.
		job.Throttle.SampleInterval = ratelimit.Duration(cpuTargetSample)
	} else {
		cpu.Max, cpu.Critical = 1000, 2000 // on, never limiting: the probe's cost alone
	}
	job.Throttle.CPU = cpu
	return job
}

// cpuTargetSample is the controller's sample interval under (3c); the
// target is judged only where the unthrottled run (3) lasts
// cpuTargetSamples of them.
const (
	cpuTargetSample  = 250 * time.Millisecond
	cpuTargetSamples = 4
)

// mysqldPIDFile is the stack's MariaDB pid file.
func mysqldPIDFile() string {
	if d := os.Getenv("LM_STACK_DIR"); d != "" {
		return filepath.Join(d, "mysql.pid")
	}
	return filepath.Join(".stack", "mysql.pid")
}

// procCPU reads a process's user+system CPU time.
func procCPU(pidFile string) (time.Duration, error) {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, err
	}
	stat, err := os.ReadFile("/proc/" + strings.TrimSpace(string(b)) + "/stat")
	if err != nil {
		return 0, err
	}
	// Fields after the command (which may hold spaces) start after ')'.
	f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc stat")
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100, nil // clock ticks (USER_HZ 100)
}

// withMysqldCPU runs f and records mysqld's average CPU (% of one core)
// over it in the measurement.
func withMysqldCPU(f func() (*Measurement, error)) (*Measurement, error) {
	pf := mysqldPIDFile()
	c0, err0 := procCPU(pf)
	t0 := time.Now()
	m, err := f()
	if err != nil || err0 != nil {
		return m, err
	}
	if c1, err := procCPU(pf); err == nil {
		m.MysqldCPUPercent = 100 * float64(c1-c0) / float64(time.Since(t0))
	}
	return m, nil
}

package ratelimit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/procfs"
)

func numCPU() int { return runtime.NumCPU() }

// counterWindow turns a pair of monotonic counters (a part and its whole)
// into a rate over a window: 100 × Δpart / Δwhole between now and the
// newest sample at least window old. Reading it more often than the window
// (while paused) still gives a rate over the whole window.
type counterWindow struct {
	window  time.Duration
	samples []counterSample
}

type counterSample struct {
	t           time.Time
	part, whole float64
}

func (w *counterWindow) add(s counterSample) (float64, error) {
	if n := len(w.samples); n > 0 {
		last := w.samples[n-1]
		if s.part < last.part || s.whole < last.whole {
			// A counter went back (the exporter or the process restarted).
			w.samples = w.samples[:0]
		}
	}
	w.samples = append(w.samples, s)
	base := -1
	for i := len(w.samples) - 2; i >= 0; i-- {
		if s.t.Sub(w.samples[i].t) >= w.window {
			base = i
			break
		}
	}
	if base < 0 {
		if len(w.samples) < 2 || s.t.Sub(w.samples[0].t) < w.window/4 {
			return 0, errWarming
		}
		base = 0
	}
	w.samples = w.samples[base:]
	b := w.samples[0]
	dw := s.whole - b.whole
	if dw <= 0 {
		return 0, errWarming
	}
	return 100 * (s.part - b.part) / dw, nil
}

// promCPU reads node_exporter's node_cpu_seconds_total: the busy share of
// all the host's cores (every mode but idle, iowait and steal).
type promCPU struct {
	url       string
	max, crit float64
	client    *http.Client
	mu        sync.Mutex
	w         counterWindow
	ncpu      int
}

func newPromCPU(url string, max, crit float64, window, timeout time.Duration) *promCPU {
	return &promCPU{url: url, max: max, crit: crit, client: &http.Client{Timeout: timeout}, w: counterWindow{window: window}}
}

func (p *promCPU) name() string               { return "cpu" }
func (p *promCPU) unit() string               { return "%" }
func (p *promCPU) limits() (float64, float64) { return p.max, p.crit }
func (p *promCPU) close()                     {}
func (p *promCPU) cpus() int                  { p.mu.Lock(); defer p.mu.Unlock(); return p.ncpu }
func (p *promCPU) read(ctx context.Context) (float64, error) {
	busy, total, ncpu, err := scrapeNodeCPU(ctx, p.client, p.url)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		return 0, err
	}
	p.ncpu = ncpu
	return p.w.add(counterSample{t: time.Now(), part: busy, whole: total})
}

// scrapeNodeCPU fetches a Prometheus text endpoint and sums
// node_cpu_seconds_total: busy and total seconds, and how many CPUs.
func scrapeNodeCPU(ctx context.Context, c *http.Client, url string) (busy, total float64, ncpu int, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, 0, 0, err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := c.Do(req)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("scrape %s: %w", redactURL(url), unwrapURLErr(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return 0, 0, 0, fmt.Errorf("scrape %s: HTTP %d", redactURL(url), resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return 0, 0, 0, fmt.Errorf("scrape %s: not Prometheus text format: %v", redactURL(url), err)
	}
	fam, ok := fams["node_cpu_seconds_total"]
	if !ok {
		return 0, 0, 0, fmt.Errorf("scrape %s: no node_cpu_seconds_total (is it node_exporter's /metrics?)", redactURL(url))
	}
	cpus := map[string]bool{}
	for _, m := range fam.GetMetric() {
		var v float64
		switch {
		case m.GetCounter() != nil:
			v = m.GetCounter().GetValue()
		case m.GetUntyped() != nil:
			v = m.GetUntyped().GetValue()
		case m.GetGauge() != nil:
			v = m.GetGauge().GetValue()
		default:
			continue
		}
		mode := ""
		for _, l := range m.GetLabel() {
			switch l.GetName() {
			case "mode":
				mode = l.GetValue()
			case "cpu":
				cpus[l.GetValue()] = true
			}
		}
		total += v
		switch mode {
		case "idle", "iowait", "steal":
		default:
			busy += v
		}
	}
	if total <= 0 {
		return 0, 0, 0, fmt.Errorf("scrape %s: node_cpu_seconds_total has no samples", redactURL(url))
	}
	return busy, total, len(cpus), nil
}

func unwrapURLErr(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if inner := ue.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

// procCPU reads /proc on this machine: one process's CPU in % of one core,
// or (host) the busy share of all cores from /proc/stat.
type procCPU struct {
	max, crit float64
	host      bool
	resolve   func(context.Context) (int, error)
	what      string // for errors: "pid 123", "process mariadbd", …
	fs        procfs.FS
	start     time.Time

	mu  sync.Mutex
	pid int
	w   counterWindow
}

func newProcCPU(ctx context.Context, c ProcCPU, max, crit float64, window time.Duration, pc *probeConn) (*procCPU, error) {
	fsys, err := procfs.NewDefaultFS()
	if err != nil {
		return nil, fmt.Errorf("throttle.cpu.proc: cannot read /proc: %v", err)
	}
	p := &procCPU{max: max, crit: crit, host: c.Host, fs: fsys, start: time.Now(), w: counterWindow{window: window}}
	switch {
	case c.Host:
		p.what = "/proc/stat"
	case c.PID != 0:
		pid := c.PID
		p.what = fmt.Sprintf("pid %d", pid)
		p.resolve = func(context.Context) (int, error) { return pid, nil }
	case c.PIDFile != "":
		f := c.PIDFile
		p.what = "pid_file " + f
		p.resolve = func(context.Context) (int, error) { return readPIDFile(f) }
	case c.ProcessName != "":
		n := c.ProcessName
		p.what = "process " + n
		p.resolve = func(context.Context) (int, error) { return findProcess(fsys, n) }
	default:
		p.what = "the source's @@pid_file"
		p.resolve = func(ctx context.Context) (int, error) { return serverPID(ctx, pc) }
	}
	if p.resolve != nil {
		pid, err := p.resolve(ctx)
		if err != nil {
			return nil, fmt.Errorf("throttle.cpu.proc: %v", err)
		}
		p.pid = pid
	}
	p.read(ctx) // the first sample of the window
	return p, nil
}

func (p *procCPU) name() string               { return "cpu" }
func (p *procCPU) unit() string               { return "%" }
func (p *procCPU) limits() (float64, float64) { return p.max, p.crit }
func (p *procCPU) close()                     {}

func (p *procCPU) read(ctx context.Context) (float64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if p.host {
		st, err := p.fs.Stat()
		if err != nil {
			return 0, fmt.Errorf("read /proc/stat: %v", err)
		}
		c := st.CPUTotal
		total := c.User + c.Nice + c.System + c.Idle + c.Iowait + c.IRQ + c.SoftIRQ + c.Steal
		return p.w.add(counterSample{t: now, part: total - c.Idle - c.Iowait - c.Steal, whole: total})
	}
	cpu, err := p.procSeconds()
	if err != nil && errors.Is(err, fs.ErrNotExist) {
		// The process is gone (restarted?): find it again.
		pid, rerr := p.resolve(ctx)
		if rerr != nil {
			return 0, fmt.Errorf("%s: %v", p.what, rerr)
		}
		p.pid = pid
		p.w.samples = nil
		cpu, err = p.procSeconds()
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %v", p.what, err)
	}
	// part: CPU seconds of the process; whole: wall seconds. 100 × ratio is
	// the % of one core.
	return p.w.add(counterSample{t: now, part: cpu, whole: now.Sub(p.start).Seconds()})
}

func (p *procCPU) procSeconds() (float64, error) {
	pr, err := p.fs.Proc(p.pid)
	if err != nil {
		return 0, err
	}
	st, err := pr.Stat()
	if err != nil {
		return 0, err
	}
	return st.CPUTime(), nil
}

func readPIDFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("pid file: %v", unwrapPath(err))
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s does not hold a process id", path)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
		return 0, fmt.Errorf("pid file %s names pid %d, which is not running on this host", path, pid)
	}
	return pid, nil
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %v", pe.Path, pe.Err)
	}
	return err
}

// findProcess returns the one process whose command name is name (as
// /proc/PID/comm shows it, or the executable's base name).
func findProcess(fsys procfs.FS, name string) (int, error) {
	procs, err := fsys.AllProcs()
	if err != nil {
		return 0, err
	}
	var pids []int
	for _, pr := range procs {
		comm, err := pr.Comm()
		if err != nil {
			continue
		}
		match := comm == name || (len(name) > 15 && strings.HasPrefix(name, comm) && len(comm) == 15)
		if !match {
			if exe, err := pr.Executable(); err == nil && filepath.Base(exe) == name {
				match = true
			}
		}
		if match {
			pids = append(pids, pr.PID)
		}
	}
	sort.Ints(pids)
	switch len(pids) {
	case 0:
		return 0, fmt.Errorf("no process named %s runs on this host", name)
	case 1:
		return pids[0], nil
	}
	return 0, fmt.Errorf("%d processes are named %s (pids %s); name one with pid_file or pid", len(pids), name, joinInts(pids))
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ", ")
}

// serverPID asks the source for its pid file and reads it: the source must
// run on this host.
func serverPID(ctx context.Context, pc *probeConn) (int, error) {
	var pidFile, dataDir sql.NullString
	err := pc.do(ctx, func(c *sql.Conn) error {
		return c.QueryRowContext(ctx, "SELECT @@pid_file, @@datadir").Scan(&pidFile, &dataDir)
	})
	if err != nil {
		return 0, fmt.Errorf("ask the source for @@pid_file: %v", err)
	}
	if !pidFile.Valid || pidFile.String == "" {
		return 0, errors.New("the source reports no @@pid_file; set cpu.proc.pid_file or pid")
	}
	f := pidFile.String
	if !filepath.IsAbs(f) && dataDir.Valid {
		f = filepath.Join(dataDir.String, f)
	}
	pid, err := readPIDFile(f)
	if err != nil {
		return 0, fmt.Errorf("%v (is the source on this host? if not, use cpu.prometheus)", err)
	}
	return pid, nil
}

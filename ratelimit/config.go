package ratelimit

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"gopkg.in/yaml.v3"
)

// Config is the spec's throttle: section. Every key is optional; a zero
// Config is a cheap gate that admits everything (see the package comment).
// It is JSON-serialisable and holds no secret: replica DSNs carry no
// password (replicas are opened with the source's credentials through
// Env.Connect), and a Prometheus URL must not contain one.
type Config struct {
	// RowsPerSecond is the job-wide budget of rows read from the source per
	// second, shared among live workers. 0: no fixed budget.
	RowsPerSecond float64 `yaml:"rows_per_second,omitempty" json:"rows_per_second,omitempty"`
	// QueriesPerSecond is the job-wide budget of source queries per second.
	QueriesPerSecond float64 `yaml:"queries_per_second,omitempty" json:"queries_per_second,omitempty"`
	// MaxConnections caps the source connections the whole job uses at once
	// (queries between Acquire and release), over all workers. 0: no job-wide
	// cap (source.max_connections still caps each worker process).
	MaxConnections int `yaml:"max_connections,omitempty" json:"max_connections,omitempty"`

	// SampleInterval is how often the controller reads the probes (1s).
	SampleInterval Duration `yaml:"sample_interval,omitempty" json:"sample_interval,omitempty"`
	// PauseCheck is how often the probes are re-read while paused, and how
	// soon a critical reading is confirmed (250ms).
	PauseCheck Duration `yaml:"pause_check,omitempty" json:"pause_check,omitempty"`
	// HibernateLimit is how long the gate may stay paused before Acquire
	// fails with a *HibernateError (1h).
	HibernateLimit Duration `yaml:"hibernate_limit,omitempty" json:"hibernate_limit,omitempty"`
	// Heartbeat is how often a worker renews its entry in the worker registry
	// (1s); a worker is gone after 5 heartbeats without one.
	Heartbeat Duration `yaml:"heartbeat,omitempty" json:"heartbeat,omitempty"`
	// ProbeTimeout bounds one probe reading (1s, at most sample_interval);
	// a reading that times out counts as unreadable.
	ProbeTimeout Duration `yaml:"probe_timeout,omitempty" json:"probe_timeout,omitempty"`

	// Hysteresis: the rate rises only while every probe is below
	// max × (1 − hysteresis) and holds between that and max (0.1).
	Hysteresis float64 `yaml:"hysteresis,omitempty" json:"hysteresis,omitempty"`
	// Increase is the additive step per sample, as a fraction of the
	// reference rate (0.05: from half to full speed in 10 samples).
	Increase float64 `yaml:"increase,omitempty" json:"increase,omitempty"`
	// Decrease is the deepest multiplicative cut per sample (0.5: to half);
	// smaller overshoots cut by max/reading, at least 10 %.
	Decrease float64 `yaml:"decrease,omitempty" json:"decrease,omitempty"`
	// CriticalConfirm is how many consecutive critical readings, pause_check
	// apart, pause the copy (2; gh-ost's critical-load-interval does the same).
	CriticalConfirm int `yaml:"critical_confirm,omitempty" json:"critical_confirm,omitempty"`
	// MinRowsPerSecond is the floor the adaptive rate never goes below
	// (default: 1 % of the reference rate). Pausing is the only way to stop.
	MinRowsPerSecond float64 `yaml:"min_rows_per_second,omitempty" json:"min_rows_per_second,omitempty"`

	CPU            *CPUProbe            `yaml:"cpu,omitempty" json:"cpu,omitempty"`
	ThreadsRunning *ThreadsRunningProbe `yaml:"threads_running,omitempty" json:"threads_running,omitempty"`
	ReplicaLag     *ReplicaLagProbe     `yaml:"replica_lag,omitempty" json:"replica_lag,omitempty"`
	HistoryList    *HistoryListProbe    `yaml:"history_list_length,omitempty" json:"history_list_length,omitempty"`
	Latency        *LatencyProbe        `yaml:"latency,omitempty" json:"latency,omitempty"`
	Custom         []CustomProbe        `yaml:"custom,omitempty" json:"custom,omitempty"`
}

// CPUProbe reads the CPU use of the source, from exactly one of two places.
// Readings are rates over sample_interval.
type CPUProbe struct {
	// Max and Critical are percentages. With prometheus or proc.host they
	// are % of all the host's cores (70 / 90); for a process (proc.pid,
	// pid_file, process_name or the server's own pid file) they are % of ONE
	// core, as top shows it (default 70 / 90 × this host's cores).
	Max      float64 `yaml:"max,omitempty" json:"max,omitempty"`
	Critical float64 `yaml:"critical,omitempty" json:"critical,omitempty"`
	// Prometheus is the URL of a node_exporter /metrics endpoint on the
	// source host; the reading is the busy share of node_cpu_seconds_total
	// (every mode but idle, iowait and steal).
	Prometheus string `yaml:"prometheus,omitempty" json:"prometheus,omitempty"`
	// Proc reads /proc on this machine: for a source on the same host
	// (local runs, tests).
	Proc *ProcCPU `yaml:"proc,omitempty" json:"proc,omitempty"`
}

// ProcCPU names what /proc is read for: one of pid, pid_file, process_name
// or host; none of them means the server's own pid file (SELECT @@pid_file).
type ProcCPU struct {
	PID         int    `yaml:"pid,omitempty" json:"pid,omitempty"`
	PIDFile     string `yaml:"pid_file,omitempty" json:"pid_file,omitempty"`
	ProcessName string `yaml:"process_name,omitempty" json:"process_name,omitempty"`
	// Host reads /proc/stat: the whole host's busy share of all cores.
	Host bool `yaml:"host,omitempty" json:"host,omitempty"`
}

// ThreadsRunningProbe reads SHOW GLOBAL STATUS Threads_running (less the
// probe's own thread; the backfill's running queries do count, as in gh-ost).
type ThreadsRunningProbe struct {
	// Max / Critical: 25 / 50 (pt-online-schema-change's defaults); with
	// per_vcpu 1.0 / 2.0 per vCPU (the Vitess throttler's load per core).
	Max      float64 `yaml:"max,omitempty" json:"max,omitempty"`
	Critical float64 `yaml:"critical,omitempty" json:"critical,omitempty"`
	// PerVCPU divides the reading by the source host's vCPU count: vcpus,
	// or the number of CPUs the cpu probe sees (node_exporter, or this host
	// for proc).
	PerVCPU bool `yaml:"per_vcpu,omitempty" json:"per_vcpu,omitempty"`
	VCPUs   int  `yaml:"vcpus,omitempty" json:"vcpus,omitempty"`
}

// ReplicaLagProbe reads SHOW REPLICA STATUS (SHOW SLAVE STATUS on older
// servers) and takes the largest Seconds_Behind_Source over the replicas.
// A replica whose replication is stopped, or a server that is not a replica,
// is unreadable (so: throttle).
type ReplicaLagProbe struct {
	// Max / Critical in seconds: 1.5 (gh-ost's max-lag-millis) / 30.
	Max      float64 `yaml:"max,omitempty" json:"max,omitempty"`
	Critical float64 `yaml:"critical,omitempty" json:"critical,omitempty"`
	// Replicas are go-sql-driver DSNs WITHOUT a password, e.g.
	// "migrator@tcp(replica1:3306)/"; they are opened with the source's
	// password. Empty: the source itself (when the backfill reads a replica).
	Replicas []string `yaml:"replicas,omitempty" json:"replicas,omitempty"`
}

// HistoryListProbe reads InnoDB's history list length (undo records not yet
// purged: it grows behind long transactions and when purge cannot keep up).
type HistoryListProbe struct {
	// Max / Critical: 100,000 / 1,000,000.
	Max      float64 `yaml:"max,omitempty" json:"max,omitempty"`
	Critical float64 `yaml:"critical,omitempty" json:"critical,omitempty"`
}

// LatencyProbe times a cheap query on the probe connection.
type LatencyProbe struct {
	// Max / Critical in milliseconds: 50 / 500.
	Max      float64 `yaml:"max,omitempty" json:"max,omitempty"`
	Critical float64 `yaml:"critical,omitempty" json:"critical,omitempty"`
	// Query is the probe query (SELECT 1).
	Query string `yaml:"query,omitempty" json:"query,omitempty"`
}

// CustomProbe runs a query that returns one number (one row, one column).
type CustomProbe struct {
	// Name labels the probe in status and reasons ([a-z0-9_]+).
	Name  string `yaml:"name" json:"name"`
	Query string `yaml:"query" json:"query"`
	// Max is required; Critical defaults to 2 × max.
	Max      float64 `yaml:"max" json:"max"`
	Critical float64 `yaml:"critical,omitempty" json:"critical,omitempty"`
}

// Defaults.
const (
	DefaultSampleInterval  = time.Second
	DefaultPauseCheck      = 250 * time.Millisecond
	DefaultHibernateLimit  = time.Hour
	DefaultHeartbeat       = time.Second
	DefaultProbeTimeout    = time.Second
	DefaultHysteresis      = 0.1
	DefaultIncrease        = 0.05
	DefaultDecrease        = 0.5
	DefaultCriticalConfirm = 2
)

// Enabled reports whether the config asks for anything: a budget or a probe.
func (c Config) Enabled() bool {
	return c.RowsPerSecond > 0 || c.QueriesPerSecond > 0 || c.MaxConnections > 0 || c.hasProbes()
}

// WorkerTTL is how long a worker counts as live after its last heartbeat
// (5 heartbeats): pass it to checkpoint.Workers.
func (c Config) WorkerTTL() time.Duration { return 5 * c.WithDefaults().Heartbeat.D() }

func (c Config) hasProbes() bool {
	return c.CPU != nil || c.ThreadsRunning != nil || c.ReplicaLag != nil || c.HistoryList != nil || c.Latency != nil || len(c.Custom) > 0
}

func (c Config) hasBudgets() bool {
	return c.RowsPerSecond > 0 || c.QueriesPerSecond > 0 || c.MaxConnections > 0
}

// WithDefaults returns a copy with every unset key filled in. When a probe
// gives only one of max and critical, the other keeps the ratio of the
// defaults (threads_running max 30 → critical 60); a custom probe's missing
// critical is 2 × max.
func (c Config) WithDefaults() Config {
	d := func(v *Duration, def time.Duration) {
		if *v == 0 {
			*v = Duration(def)
		}
	}
	d(&c.SampleInterval, DefaultSampleInterval)
	d(&c.PauseCheck, DefaultPauseCheck)
	d(&c.HibernateLimit, DefaultHibernateLimit)
	d(&c.Heartbeat, DefaultHeartbeat)
	d(&c.ProbeTimeout, min(DefaultProbeTimeout, c.SampleInterval.D()))
	if c.PauseCheck > c.SampleInterval {
		c.PauseCheck = c.SampleInterval
	}
	f := func(v *float64, def float64) {
		if *v == 0 {
			*v = def
		}
	}
	f(&c.Hysteresis, DefaultHysteresis)
	f(&c.Increase, DefaultIncrease)
	f(&c.Decrease, DefaultDecrease)
	if c.CriticalConfirm == 0 {
		c.CriticalConfirm = DefaultCriticalConfirm
	}
	// Given only one threshold, the other keeps the defaults' ratio.
	th := func(max, crit *float64, defMax, defCrit float64) {
		switch {
		case *max == 0 && *crit == 0:
			*max, *crit = defMax, defCrit
		case *crit == 0:
			*crit = *max * defCrit / defMax
		case *max == 0:
			*max = *crit * defMax / defCrit
		}
	}
	if c.CPU != nil {
		p := *c.CPU
		if p.Proc != nil {
			pc := *p.Proc
			p.Proc = &pc
		}
		if p.Proc != nil && !p.Proc.Host {
			n := float64(runtime.NumCPU())
			th(&p.Max, &p.Critical, 70*n, 90*n)
		} else {
			derived := p.Critical == 0
			th(&p.Max, &p.Critical, 70, 90)
			if derived && p.Critical > 100 && p.Max < 100 {
				p.Critical = 100 // a share of all cores cannot exceed 100 %
			}
		}
		c.CPU = &p
	}
	if c.ThreadsRunning != nil {
		p := *c.ThreadsRunning
		if p.PerVCPU {
			th(&p.Max, &p.Critical, 1, 2)
		} else {
			th(&p.Max, &p.Critical, 25, 50)
		}
		c.ThreadsRunning = &p
	}
	if c.ReplicaLag != nil {
		p := *c.ReplicaLag
		p.Replicas = append([]string(nil), p.Replicas...)
		th(&p.Max, &p.Critical, 1.5, 30)
		c.ReplicaLag = &p
	}
	if c.HistoryList != nil {
		p := *c.HistoryList
		th(&p.Max, &p.Critical, 100_000, 1_000_000)
		c.HistoryList = &p
	}
	if c.Latency != nil {
		p := *c.Latency
		th(&p.Max, &p.Critical, 50, 500)
		if strings.TrimSpace(p.Query) == "" {
			p.Query = "SELECT 1"
		}
		c.Latency = &p
	}
	if c.Custom != nil {
		cs := make([]CustomProbe, len(c.Custom))
		for i, p := range c.Custom {
			if p.Critical == 0 {
				p.Critical = 2 * p.Max
			}
			cs[i] = p
		}
		c.Custom = cs
	}
	return c
}

var probeName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Validate checks the config (with its defaults filled in). Errors are one
// line, name the key and say how to fix it.
func (c Config) Validate() error {
	c = c.WithDefaults()
	pos := func(key string, v float64, unit string) error {
		if v < 0 {
			return fmt.Errorf("throttle.%s is %v; use a positive number of %s, or leave it out for no budget", key, v, unit)
		}
		return nil
	}
	if err := errors.Join(pos("rows_per_second", c.RowsPerSecond, "rows per second"),
		pos("queries_per_second", c.QueriesPerSecond, "queries per second"),
		pos("max_connections", float64(c.MaxConnections), "connections"),
		pos("min_rows_per_second", c.MinRowsPerSecond, "rows per second")); err != nil {
		return firstErr(err)
	}
	if c.RowsPerSecond > 0 && c.MinRowsPerSecond > c.RowsPerSecond {
		return fmt.Errorf("throttle.min_rows_per_second (%v) is above rows_per_second (%v); lower it", c.MinRowsPerSecond, c.RowsPerSecond)
	}
	dur := func(key string, v Duration, lo, hi time.Duration) error {
		if v.D() < lo || v.D() > hi {
			return fmt.Errorf("throttle.%s is %s; use a duration between %s and %s", key, v.D(), lo, hi)
		}
		return nil
	}
	if err := firstErr(errors.Join(
		dur("sample_interval", c.SampleInterval, 100*time.Millisecond, time.Minute),
		dur("pause_check", c.PauseCheck, 10*time.Millisecond, c.SampleInterval.D()),
		dur("hibernate_limit", c.HibernateLimit, c.SampleInterval.D(), 30*24*time.Hour),
		dur("heartbeat", c.Heartbeat, 100*time.Millisecond, time.Minute),
		dur("probe_timeout", c.ProbeTimeout, 10*time.Millisecond, c.SampleInterval.D()))); err != nil {
		return err
	}
	if c.Hysteresis < 0 || c.Hysteresis > 0.5 {
		return fmt.Errorf("throttle.hysteresis is %v; use a fraction of max between 0.01 and 0.5 (default 0.1)", c.Hysteresis)
	}
	if c.Increase < 0 || c.Increase > 1 {
		return fmt.Errorf("throttle.increase is %v; use a fraction between 0.01 and 1 (default 0.05)", c.Increase)
	}
	if c.Decrease < 0 || c.Decrease >= 1 {
		return fmt.Errorf("throttle.decrease is %v; use a factor between 0.1 and 0.9 (default 0.5: cut to half)", c.Decrease)
	}
	if c.CriticalConfirm < 0 || c.CriticalConfirm > 20 {
		return fmt.Errorf("throttle.critical_confirm is %d; use 1 (pause on the first critical reading) to 20", c.CriticalConfirm)
	}
	thr := func(key string, max, crit float64) error {
		if max <= 0 || crit <= 0 {
			return fmt.Errorf("throttle.%s: max and critical must be positive (max %v, critical %v)", key, max, crit)
		}
		if crit <= max {
			return fmt.Errorf("throttle.%s.critical (%v) must be above max (%v); raise critical or lower max", key, crit, max)
		}
		return nil
	}
	if p := c.CPU; p != nil {
		if err := thr("cpu", p.Max, p.Critical); err != nil {
			return err
		}
		if (p.Proc == nil || p.Proc.Host) && p.Critical > 100 {
			return fmt.Errorf("throttle.cpu.critical is %v; the host's CPU is a share of all its cores, at most 100 (%%)", p.Critical)
		}
		switch {
		case p.Prometheus != "" && p.Proc != nil:
			return errors.New("throttle.cpu: set prometheus (a node_exporter URL) or proc (a process on this host), not both")
		case p.Prometheus == "" && p.Proc == nil:
			return errors.New("throttle.cpu: say where to read the CPU: prometheus: http://DB-HOST:9100/metrics (node_exporter), or proc: {pid_file: FILE} for a source on this host")
		case p.Prometheus != "":
			u, err := url.Parse(p.Prometheus)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Errorf("throttle.cpu.prometheus %q is not an http(s) URL; use e.g. http://db-host:9100/metrics", redactURL(p.Prometheus))
			}
			if _, has := u.User.Password(); has {
				return errors.New("throttle.cpu.prometheus contains a password; the spec holds no secrets: expose node_exporter without one or through a local proxy")
			}
		default:
			n := 0
			if p.Proc.PID != 0 {
				n++
			}
			if p.Proc.PIDFile != "" {
				n++
			}
			if p.Proc.ProcessName != "" {
				n++
			}
			if p.Proc.Host {
				n++
			}
			if n > 1 {
				return errors.New("throttle.cpu.proc: set one of pid, pid_file, process_name or host (none: the server's own @@pid_file)")
			}
			if p.Proc.PID < 0 {
				return fmt.Errorf("throttle.cpu.proc.pid is %d; use a process id", p.Proc.PID)
			}
		}
	}
	if p := c.ThreadsRunning; p != nil {
		if err := thr("threads_running", p.Max, p.Critical); err != nil {
			return err
		}
		if p.VCPUs < 0 {
			return fmt.Errorf("throttle.threads_running.vcpus is %d; use the source host's vCPU count", p.VCPUs)
		}
		if p.VCPUs > 0 && !p.PerVCPU {
			return errors.New("throttle.threads_running.vcpus is set without per_vcpu: true; add per_vcpu: true or remove vcpus")
		}
		if p.PerVCPU && p.VCPUs == 0 && c.CPU == nil {
			return errors.New("throttle.threads_running.per_vcpu needs the source's vCPU count: set vcpus: N, or configure a cpu probe that sees the host")
		}
	}
	if p := c.ReplicaLag; p != nil {
		if err := thr("replica_lag", p.Max, p.Critical); err != nil {
			return err
		}
		for i, dsn := range p.Replicas {
			cfg, err := mysql.ParseDSN(dsn)
			if err != nil {
				return fmt.Errorf("throttle.replica_lag.replicas[%d] is not a MySQL DSN; use user@tcp(host:3306)/", i)
			}
			if cfg.Passwd != "" {
				return fmt.Errorf("throttle.replica_lag.replicas[%d] contains a password; remove it: replicas are opened with the source's password (source.password_env or password_file)", i)
			}
		}
	}
	if p := c.HistoryList; p != nil {
		if err := thr("history_list_length", p.Max, p.Critical); err != nil {
			return err
		}
	}
	if p := c.Latency; p != nil {
		if err := thr("latency", p.Max, p.Critical); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	for i, p := range c.Custom {
		key := fmt.Sprintf("custom[%d]", i)
		if !probeName.MatchString(p.Name) {
			return fmt.Errorf("throttle.%s.name %q must be lower case letters, digits and _ (it labels the probe in status)", key, p.Name)
		}
		if seen[p.Name] || builtinProbe[p.Name] {
			return fmt.Errorf("throttle.%s.name %q is used twice; give each probe its own name", key, p.Name)
		}
		seen[p.Name] = true
		if strings.TrimSpace(p.Query) == "" {
			return fmt.Errorf("throttle.%s.query is empty; give a query that returns one number", key)
		}
		if p.Max <= 0 {
			return fmt.Errorf("throttle.%s.max is required: the reading above which the copy slows down", key)
		}
		if err := thr(key, p.Max, p.Critical); err != nil {
			return err
		}
	}
	return nil
}

var builtinProbe = map[string]bool{"cpu": true, "threads_running": true, "replica_lag": true, "history_list_length": true, "latency": true}

func firstErr(err error) error {
	if err == nil {
		return nil
	}
	if u, ok := err.(interface{ Unwrap() []error }); ok {
		return u.Unwrap()[0]
	}
	return err
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		if i := strings.Index(s, "@"); i >= 0 {
			return "…" + s[i:]
		}
		return s
	}
	u.User = url.User(u.User.Username())
	return u.String()
}

// YAMLSection maps a Go type name of this package to its place in the spec
// (e.g. "CPUProbe" → "throttle.cpu"), so the spec can name the section of an
// unknown key. ok is false for a type not in the throttle section.
func YAMLSection(goType string) (section string, ok bool) {
	s, ok := yamlSections[goType]
	return s, ok
}

var yamlSections = map[string]string{
	"Config":              "throttle",
	"CPUProbe":            "throttle.cpu",
	"ProcCPU":             "throttle.cpu.proc",
	"ThreadsRunningProbe": "throttle.threads_running",
	"ReplicaLagProbe":     "throttle.replica_lag",
	"HistoryListProbe":    "throttle.history_list_length",
	"LatencyProbe":        "throttle.latency",
	"CustomProbe":         "throttle.custom",
}

// Duration is a time.Duration written as "1s", "250ms" or "1h" in YAML and
// JSON.
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalText writes the duration as Go prints it.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads a Go duration ("1s", "250ms", "1h30m").
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("%q is not a duration; use e.g. 1s, 250ms or 1h", string(b))
	}
	*d = Duration(v)
	return nil
}

// UnmarshalYAML reads a duration and names the line when it is not one.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: expected a duration such as 1s or 250ms", n.Line)
	}
	if err := d.UnmarshalText([]byte(n.Value)); err != nil {
		return fmt.Errorf("line %d: %v", n.Line, err)
	}
	return nil
}

package ratelimit

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// State is what the gate is doing.
type State string

// States of a Throttle.
const (
	Running   State = "running"   // admitting at the budget (or without limit)
	Throttled State = "throttled" // the controller holds the rate below the budget
	Paused    State = "paused"    // admitting nothing: a probe is critical, or the worker registry is unreachable
	Joining   State = "joining"   // waiting for the other workers to make room for this one (2 heartbeats)
	Failed    State = "failed"    // paused longer than hibernate_limit; Acquire returns a *HibernateError
)

// Status is a snapshot of a Throttle, for the live progress, `status`, the
// final report and metrics. It is JSON-serialisable; rates are rows (or
// queries) per second and 0 means "no limit" where Unlimited says so.
type Status struct {
	State State `json:"state"`
	// Since is when the gate entered State.
	Since time.Time `json:"since"`
	// Reason is why the gate is throttled or paused, e.g. "cpu 83 % > 70 %",
	// "threads_running 80 > 50", "cpu unreadable: …"; empty when running.
	Reason string `json:"reason,omitempty"`
	// AllowedRowsPerSecond is this worker's current rows/s limit: the
	// smaller of its budget share and the controller's rate. Unlimited is
	// true (and the number 0) when neither limits it.
	AllowedRowsPerSecond float64 `json:"allowed_rows_per_second"`
	Unlimited            bool    `json:"unlimited,omitempty"`
	// RowsPerSecond is what this worker actually read over the last sample.
	RowsPerSecond float64 `json:"rows_per_second"`
	// Probes are the last readings, in configuration order.
	Probes []ProbeStatus `json:"probes,omitempty"`
	// ThrottledFor and PausedFor are cumulative times in those states;
	// WaitedFor is the total time callers spent waiting in Acquire.
	ThrottledFor time.Duration `json:"throttled_ns"`
	PausedFor    time.Duration `json:"paused_ns"`
	WaitedFor    time.Duration `json:"waited_ns"`
	// Workers is how many live workers share the budget (1 without a
	// registry); Share is this worker's part of it.
	Workers int   `json:"workers"`
	Share   Share `json:"share"`
	// InFlight is how many admitted queries have not been released.
	InFlight int `json:"in_flight"`
	// Kinds counts admitted queries and rows read per kind.
	Kinds map[Kind]KindStats `json:"kinds,omitempty"`
	// Registry is the last worker-registry error, if any.
	Registry string `json:"registry,omitempty"`
	// Error is the hibernate error's text once the gate has failed.
	Error string    `json:"error,omitempty"`
	At    time.Time `json:"at"`
}

// ProbeStatus is one probe's last reading.
type ProbeStatus struct {
	Name     string    `json:"name"`
	Value    float64   `json:"value"`
	Unit     string    `json:"unit,omitempty"`
	Max      float64   `json:"max"`
	Critical float64   `json:"critical"`
	Level    string    `json:"level"` // ok, high (in the hysteresis band), over, critical, error, warming
	Error    string    `json:"error,omitempty"`
	At       time.Time `json:"at"`
}

// Share is this worker's part of the job's budgets; 0 means no budget
// (unlimited) for rates, -1 no cap for connections.
type Share struct {
	RowsPerSecond    float64 `json:"rows_per_second"`
	QueriesPerSecond float64 `json:"queries_per_second"`
	Connections      int     `json:"connections"`
}

// KindStats counts one kind of query.
type KindStats struct {
	Queries int64 `json:"queries"`
	Rows    int64 `json:"rows"`
}

// Text renders a reading: "83 %", "80", "2.0 s", "12 ms".
func (p ProbeStatus) Text() string {
	if p.Error != "" {
		return p.Name + " unreadable"
	}
	if p.Level == "warming" {
		return p.Name + " …"
	}
	return p.Name + " " + fmtValue(p.Value, p.Unit)
}

// String is the one-line form for the live progress and logs, e.g.
//
//	throttled: cpu 83 % > 70 % · allowed 12,400 rows/s · read 12,100 rows/s · cpu 83 %, threads_running 7 · throttled 1m5s, paused 0s · worker share 1/3
func (s Status) String() string {
	var b strings.Builder
	b.WriteString(string(s.State))
	if s.Reason != "" {
		b.WriteString(": " + s.Reason)
	}
	if s.Unlimited {
		b.WriteString(" · allowed unlimited")
	} else {
		b.WriteString(" · allowed " + Thousands(s.AllowedRowsPerSecond) + " rows/s")
	}
	b.WriteString(" · read " + Thousands(s.RowsPerSecond) + " rows/s")
	if len(s.Probes) > 0 {
		ps := make([]string, len(s.Probes))
		for i, p := range s.Probes {
			ps[i] = p.Text()
		}
		b.WriteString(" · " + strings.Join(ps, ", "))
	}
	fmt.Fprintf(&b, " · throttled %s, paused %s", s.ThrottledFor.Round(time.Second), s.PausedFor.Round(time.Second))
	if s.Workers > 1 {
		fmt.Fprintf(&b, " · worker share 1/%d", s.Workers)
	}
	if s.Registry != "" {
		b.WriteString(" · registry: " + s.Registry)
	}
	return b.String()
}

// Thousands formats a rate with thousands separators: 12400.3 → "12,400".
func Thousands(v float64) string {
	if math.IsInf(v, 0) || math.IsNaN(v) {
		return "∞"
	}
	n := int64(math.Round(v))
	neg := n < 0
	if neg {
		n = -n
	}
	s := fmt.Sprint(n)
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

// Sum adds the statuses of several workers into one job-wide line for a
// report: rates and times add up (times are per worker, so they add worker
// time), the state is the worst, the reason that of the worst.
func Sum(ss []Status) Status {
	var out Status
	rank := map[State]int{Running: 0, Joining: 1, Throttled: 2, Paused: 3, Failed: 4}
	out.State = Running
	out.Kinds = map[Kind]KindStats{}
	out.Workers = len(ss)
	allUnlimited := len(ss) > 0
	for _, s := range ss {
		if rank[s.State] > rank[out.State] || (rank[s.State] == rank[out.State] && out.Reason == "") {
			out.State, out.Reason = s.State, s.Reason
		}
		if s.Error != "" {
			out.Error = s.Error
		}
		allUnlimited = allUnlimited && s.Unlimited
		out.AllowedRowsPerSecond += s.AllowedRowsPerSecond
		out.RowsPerSecond += s.RowsPerSecond
		out.ThrottledFor += s.ThrottledFor
		out.PausedFor += s.PausedFor
		out.WaitedFor += s.WaitedFor
		out.InFlight += s.InFlight
		for k, v := range s.Kinds {
			t := out.Kinds[k]
			t.Queries += v.Queries
			t.Rows += v.Rows
			out.Kinds[k] = t
		}
		if s.At.After(out.At) {
			out.At = s.At
			out.Probes = s.Probes
		}
	}
	out.Unlimited = allUnlimited
	if allUnlimited {
		out.AllowedRowsPerSecond = 0
	}
	return out
}

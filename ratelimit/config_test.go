package ratelimit

import (
	"encoding/json"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestConfigDefaults(t *testing.T) {
	n := float64(runtime.NumCPU())
	cases := []struct {
		name string
		in   Config
		get  func(Config) [2]float64
		want [2]float64
	}{
		{"threads_running", Config{ThreadsRunning: &ThreadsRunningProbe{}}, func(c Config) [2]float64 { return [2]float64{c.ThreadsRunning.Max, c.ThreadsRunning.Critical} }, [2]float64{25, 50}},
		{"threads_running per vcpu", Config{ThreadsRunning: &ThreadsRunningProbe{PerVCPU: true, VCPUs: 8}}, func(c Config) [2]float64 { return [2]float64{c.ThreadsRunning.Max, c.ThreadsRunning.Critical} }, [2]float64{1, 2}},
		{"only max: critical 2×", Config{ThreadsRunning: &ThreadsRunningProbe{Max: 30}}, func(c Config) [2]float64 { return [2]float64{c.ThreadsRunning.Max, c.ThreadsRunning.Critical} }, [2]float64{30, 60}},
		{"only critical: max ½", Config{ThreadsRunning: &ThreadsRunningProbe{Critical: 40}}, func(c Config) [2]float64 { return [2]float64{c.ThreadsRunning.Max, c.ThreadsRunning.Critical} }, [2]float64{20, 40}},
		{"cpu from node_exporter", Config{CPU: &CPUProbe{Prometheus: "http://db:9100/metrics"}}, func(c Config) [2]float64 { return [2]float64{c.CPU.Max, c.CPU.Critical} }, [2]float64{70, 90}},
		{"cpu of /proc/stat", Config{CPU: &CPUProbe{Proc: &ProcCPU{Host: true}}}, func(c Config) [2]float64 { return [2]float64{c.CPU.Max, c.CPU.Critical} }, [2]float64{70, 90}},
		{"cpu of a process: % of one core", Config{CPU: &CPUProbe{Proc: &ProcCPU{PID: 1}}}, func(c Config) [2]float64 { return [2]float64{c.CPU.Max, c.CPU.Critical} }, [2]float64{70 * n, 90 * n}},
		{"replica lag", Config{ReplicaLag: &ReplicaLagProbe{}}, func(c Config) [2]float64 { return [2]float64{c.ReplicaLag.Max, c.ReplicaLag.Critical} }, [2]float64{1.5, 30}},
		{"history list", Config{HistoryList: &HistoryListProbe{}}, func(c Config) [2]float64 { return [2]float64{c.HistoryList.Max, c.HistoryList.Critical} }, [2]float64{100000, 1000000}},
		{"latency", Config{Latency: &LatencyProbe{}}, func(c Config) [2]float64 { return [2]float64{c.Latency.Max, c.Latency.Critical} }, [2]float64{50, 500}},
		{"custom", Config{Custom: []CustomProbe{{Name: "q", Query: "SELECT 1", Max: 7}}}, func(c Config) [2]float64 { return [2]float64{c.Custom[0].Max, c.Custom[0].Critical} }, [2]float64{7, 14}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := c.in
			before, _ := json.Marshal(in)
			got := c.get(c.in.WithDefaults())
			if got != c.want {
				t.Fatalf("max/critical %v, want %v", got, c.want)
			}
			if after, _ := json.Marshal(in); string(after) != string(before) {
				t.Fatal("WithDefaults changed its receiver's probes")
			}
		})
	}
	d := Config{}.WithDefaults()
	if d.SampleInterval.D() != time.Second || d.PauseCheck.D() != 250*time.Millisecond || d.HibernateLimit.D() != time.Hour ||
		d.Heartbeat.D() != time.Second || d.ProbeTimeout.D() != time.Second || d.Hysteresis != 0.1 || d.Increase != 0.05 ||
		d.Decrease != 0.5 || d.CriticalConfirm != 2 {
		t.Fatalf("defaults %+v", d)
	}
	if d.Enabled() || !(Config{MaxConnections: 1}).Enabled() || !(Config{Latency: &LatencyProbe{}}).Enabled() {
		t.Fatal("Enabled")
	}
	if q := (Config{Latency: &LatencyProbe{}}).WithDefaults().Latency.Query; q != "SELECT 1" {
		t.Fatalf("latency query %q", q)
	}
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want string // "" = valid
	}{
		{"empty", Config{}, ""},
		{"budgets", Config{RowsPerSecond: 5000, QueriesPerSecond: 50, MaxConnections: 8}, ""},
		{"negative rows", Config{RowsPerSecond: -1}, "throttle.rows_per_second is -1"},
		{"negative connections", Config{MaxConnections: -2}, "throttle.max_connections is -2"},
		{"floor above budget", Config{RowsPerSecond: 10, MinRowsPerSecond: 20}, "throttle.min_rows_per_second (20) is above rows_per_second (10)"},
		{"sample too short", Config{SampleInterval: Duration(time.Millisecond)}, "throttle.sample_interval is 1ms; use a duration between 100ms and 1m0s"},
		{"pause check above sample", Config{SampleInterval: Duration(time.Second), PauseCheck: Duration(2 * time.Second)}, ""}, // clamped to the interval
		{"hibernate below sample", Config{HibernateLimit: Duration(time.Millisecond)}, "throttle.hibernate_limit is 1ms"},
		{"hysteresis", Config{Hysteresis: 0.9}, "throttle.hysteresis is 0.9"},
		{"decrease", Config{Decrease: 1.5}, "throttle.decrease is 1.5"},
		{"critical below max", Config{ThreadsRunning: &ThreadsRunningProbe{Max: 30, Critical: 20}}, "throttle.threads_running.critical (20) must be above max (30)"},
		{"cpu without source", Config{CPU: &CPUProbe{}}, "throttle.cpu: say where to read the CPU"},
		{"cpu with both", Config{CPU: &CPUProbe{Prometheus: "http://h:9100/metrics", Proc: &ProcCPU{}}}, "not both"},
		{"cpu bad url", Config{CPU: &CPUProbe{Prometheus: "db:9100"}}, "throttle.cpu.prometheus \"db:9100\" is not an http(s) URL"},
		{"cpu url with password", Config{CPU: &CPUProbe{Prometheus: "http://u:hunter2@db:9100/metrics"}}, "throttle.cpu.prometheus contains a password"},
		{"proc two ways", Config{CPU: &CPUProbe{Proc: &ProcCPU{PID: 1, ProcessName: "mysqld"}}}, "throttle.cpu.proc: set one of"},
		{"per vcpu without count", Config{ThreadsRunning: &ThreadsRunningProbe{PerVCPU: true}}, "throttle.threads_running.per_vcpu needs the source's vCPU count"},
		{"per vcpu with cpu probe", Config{ThreadsRunning: &ThreadsRunningProbe{PerVCPU: true}, CPU: &CPUProbe{Prometheus: "http://db:9100/metrics"}}, ""},
		{"vcpus without per_vcpu", Config{ThreadsRunning: &ThreadsRunningProbe{VCPUs: 4}}, "add per_vcpu: true"},
		{"replica with password", Config{ReplicaLag: &ReplicaLagProbe{Replicas: []string{"u@tcp(r1:3306)/", "u:hunter2@tcp(r2:3306)/"}}}, "throttle.replica_lag.replicas[1] contains a password"},
		{"replica not a dsn", Config{ReplicaLag: &ReplicaLagProbe{Replicas: []string{"u@tcp(r1:3306"}}}, "throttle.replica_lag.replicas[0] is not a MySQL DSN"},
		{"custom without max", Config{Custom: []CustomProbe{{Name: "q", Query: "SELECT 1"}}}, "throttle.custom[0].max is required"},
		{"custom bad name", Config{Custom: []CustomProbe{{Name: "Queue Depth", Query: "SELECT 1", Max: 1}}}, "throttle.custom[0].name \"Queue Depth\" must be lower case"},
		{"custom duplicate", Config{Custom: []CustomProbe{{Name: "q", Query: "SELECT 1", Max: 1}, {Name: "q", Query: "SELECT 2", Max: 1}}}, "throttle.custom[1].name \"q\" is used twice"},
		{"custom named like a builtin", Config{Custom: []CustomProbe{{Name: "cpu", Query: "SELECT 1", Max: 1}}}, "used twice"},
		{"host cpu critical above 100", Config{CPU: &CPUProbe{Prometheus: "http://db:9100/metrics", Max: 80, Critical: 120}}, "throttle.cpu.critical is 120"},
		{"host cpu only max: critical capped at 100", Config{CPU: &CPUProbe{Prometheus: "http://db:9100/metrics", Max: 85}}, ""},
		{"custom empty query", Config{Custom: []CustomProbe{{Name: "q", Query: "  ", Max: 1}}}, "throttle.custom[0].query is empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			if c.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to contain %q", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error not one line, or leaks a password: %q", err)
			}
		})
	}
}

// TestConfigJSON: the config survives JSON (it rides inside Beam DoFns),
// durations as text.
func TestConfigJSON(t *testing.T) {
	in := Config{RowsPerSecond: 5000, MaxConnections: 6, SampleInterval: Duration(500 * time.Millisecond), HibernateLimit: Duration(10 * time.Minute),
		CPU:            &CPUProbe{Max: 60, Prometheus: "http://db:9100/metrics"},
		ThreadsRunning: &ThreadsRunningProbe{PerVCPU: true, VCPUs: 16},
		ReplicaLag:     &ReplicaLagProbe{Replicas: []string{"m@tcp(r1:3306)/"}},
		Custom:         []CustomProbe{{Name: "queue", Query: "SELECT COUNT(*) FROM jobs", Max: 100}}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"sample_interval":"500ms"`) || !strings.Contains(string(b), `"hibernate_limit":"10m0s"`) {
		t.Fatalf("json %s", b)
	}
	var out Config
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip\n in %+v\nout %+v", in, out)
	}
	if err := json.Unmarshal([]byte(`{"sample_interval":"fast"}`), &out); err == nil || !strings.Contains(err.Error(), `"fast" is not a duration`) {
		t.Fatalf("bad duration: %v", err)
	}
}

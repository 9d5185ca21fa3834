package ratelimit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCounterWindow(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	w := counterWindow{window: time.Second}
	steps := []struct {
		ms          int
		part, whole float64
		want        float64 // -1: warming
	}{
		{0, 0, 0, -1},
		{100, 5, 10, -1},     // younger than a quarter window
		{300, 30, 100, 30},   // no sample a window old yet: from the oldest
		{1000, 60, 200, 30},  // still from the oldest
		{1300, 130, 300, 50}, // base: the t=300 sample (exactly a window old)
		{1400, 100, 50, -1},  // counters went back: restart
		{1800, 150, 150, 50},
	}
	for _, s := range steps {
		v, err := w.add(counterSample{t: at(s.ms), part: s.part, whole: s.whole})
		if s.want < 0 {
			if !errors.Is(err, errWarming) {
				t.Fatalf("t=%dms: %v %v, want warming", s.ms, v, err)
			}
			continue
		}
		if err != nil || v != s.want {
			t.Fatalf("t=%dms: %v %v, want %v", s.ms, v, err, s.want)
		}
	}
}

func TestInterpretReplicaStatus(t *testing.T) {
	ns := func(vs ...any) []sql.NullString {
		out := make([]sql.NullString, len(vs))
		for i, v := range vs {
			if v != nil {
				out[i] = sql.NullString{String: fmt.Sprint(v), Valid: true}
			}
		}
		return out
	}
	mysql8 := []string{"Replica_IO_Running", "Replica_SQL_Running", "Last_Error", "Seconds_Behind_Source", "Channel_Name"}
	maria := []string{"Connection_name", "Slave_IO_Running", "Slave_SQL_Running", "Last_Error", "Seconds_Behind_Master"}
	cases := []struct {
		name string
		cols []string
		rows [][]sql.NullString
		want float64
		err  string
	}{
		{"not a replica", mysql8, nil, 0, "not a replica"},
		{"mysql 8 in sync", mysql8, [][]sql.NullString{ns("Yes", "Yes", "", 0, "")}, 0, ""},
		{"mysql 8 behind", mysql8, [][]sql.NullString{ns("Yes", "Yes", "", 7, "")}, 7, ""},
		{"channels: the worst", mysql8, [][]sql.NullString{ns("Yes", "Yes", "", 2, "a"), ns("Yes", "Yes", "", 12, "b")}, 12, ""},
		{"mariadb behind", maria, [][]sql.NullString{ns("", "Yes", "Yes", "", 3)}, 3, ""},
		{"sql thread stopped", mysql8, [][]sql.NullString{ns("Yes", "No", "Duplicate entry 'alice@example.com' for key 'email'", nil, "")}, 0,
			"replication is not running: IO thread Yes, SQL thread No; lag unknown"},
		{"stopped channel named", maria, [][]sql.NullString{ns("east", "No", "No", "", nil)}, 0, `replication is not running (channel "east")`},
		{"no lag column", []string{"Foo"}, [][]sql.NullString{ns("x")}, 0, "no Seconds_Behind_Source"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := interpretReplicaStatus(c.cols, c.rows)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				if strings.Contains(err.Error(), "alice") {
					t.Fatalf("error quotes Last_Error (row values): %v", err)
				}
				return
			}
			if err != nil || v != c.want {
				t.Fatalf("%v %v, want %v", v, err, c.want)
			}
		})
	}
}

// nodeExporter serves node_exporter-format text whose counters the test sets.
type nodeExporter struct {
	mu     sync.Mutex
	idle   float64 // per CPU
	user   float64
	system float64
	iowait float64
	status int
	body   string // overrides the metrics when set
}

func (n *nodeExporter) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.status != 0 {
		w.WriteHeader(n.status)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	if n.body != "" {
		fmt.Fprint(w, n.body)
		return
	}
	fmt.Fprint(w, "# HELP node_cpu_seconds_total Seconds the CPUs spent in each mode.\n# TYPE node_cpu_seconds_total counter\n")
	for cpu := 0; cpu < 2; cpu++ {
		for _, m := range []struct {
			mode string
			v    float64
		}{{"idle", n.idle}, {"iowait", n.iowait}, {"irq", 0}, {"nice", 0}, {"softirq", 0}, {"steal", 0}, {"system", n.system}, {"user", n.user}} {
			fmt.Fprintf(w, "node_cpu_seconds_total{cpu=\"%d\",mode=\"%s\"} %g\n", cpu, m.mode, m.v)
		}
	}
	fmt.Fprint(w, "# HELP node_load1 1m load average.\n# TYPE node_load1 gauge\nnode_load1 0.5\n")
}

func (n *nodeExporter) add(idle, user, system, iowait float64) {
	n.mu.Lock()
	n.idle += idle
	n.user += user
	n.system += system
	n.iowait += iowait
	n.mu.Unlock()
}

// TestPromCPU: the busy share of node_cpu_seconds_total over the window, and
// every way the endpoint can fail is an error (never a zero reading).
func TestPromCPU(t *testing.T) {
	ne := &nodeExporter{idle: 1000, user: 500, system: 100, iowait: 10}
	srv := httptest.NewServer(ne)
	defer srv.Close()
	ctx := context.Background()
	p := newPromCPU(srv.URL+"/metrics", 70, 90, 50*time.Millisecond, time.Second)
	if _, err := p.read(ctx); !errors.Is(err, errWarming) {
		t.Fatalf("first scrape: %v, want warming", err)
	}
	time.Sleep(60 * time.Millisecond)
	ne.add(20, 60, 15, 5) // per CPU: busy 75 of 100
	v, err := p.read(ctx)
	if err != nil || v != 75 || p.cpus() != 2 {
		t.Fatalf("reading %v %v cpus %d, want 75 %% of 2 CPUs", v, err, p.cpus())
	}
	for _, c := range []struct {
		name string
		set  func()
		want string
	}{
		{"HTTP error", func() { ne.status = 503 }, "HTTP 503"},
		{"not node_exporter", func() { ne.status, ne.body = 0, "# TYPE up gauge\nup 1\n" }, "no node_cpu_seconds_total"},
		{"not Prometheus text", func() { ne.body = "<html>login</html>\n" }, "not Prometheus text format"},
	} {
		ne.mu.Lock()
		c.set()
		ne.mu.Unlock()
		if _, err := p.read(ctx); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	srv.Close()
	if _, err := p.read(ctx); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("endpoint down: %v", err)
	}
}

// TestUnreadableProbeThrottles: a Throttle whose CPU endpoint is down
// reports the error in Status and throttles — it never reads it as no load.
func TestUnreadableProbeThrottles(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/metrics"
	srv.Close()
	th, err := New(context.Background(), Config{SampleInterval: Duration(100 * time.Millisecond), CPU: &CPUProbe{Prometheus: url}}, Env{Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer th.Close()
	for i := 0; i < 20; i++ { // some traffic, so there is a rate to cut
		rel, err := th.Acquire(context.Background(), Page, 100)
		if err != nil {
			t.Fatal(err)
		}
		rel(100)
	}
	waitFor(t, func() bool { return len(th.Status().Probes) == 1 })
	st := th.Status()
	if st.State != Throttled || st.Unlimited || !strings.HasPrefix(st.Reason, "cpu unreadable: scrape http://127.0.0.1:") {
		t.Fatalf("status %s", st)
	}
	if p := st.Probes[0]; p.Level != "error" || !strings.Contains(p.Error, "connection refused") {
		t.Fatalf("probe %+v", p)
	}
}

// spawn runs a copy of a system binary under a name of our own, so the
// process can be found by name; it is killed when the test ends.
func spawn(t *testing.T, name, bin string, args ...string) int {
	t.Helper()
	src, err := exec.LookPath(bin)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd.Process.Pid
}

// procTicks reads a process's utime+stime from /proc/PID/stat by hand (a
// measurement independent of procfs), in seconds at USER_HZ 100.
func procTicks(t *testing.T, pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	var u, s float64
	fmt.Sscan(f[11], &u) // fields 14 and 15 of the line, after pid and comm
	fmt.Sscan(f[12], &s)
	return (u + s) / 100
}

// TestProcCPU: /proc readings of a busy and an idle process, found by pid,
// pid file and name, agree with an independent reading of /proc/PID/stat
// (the machine is shared, so the busy one is not assumed to get a core).
func TestProcCPU(t *testing.T) {
	suffix := fmt.Sprint(os.Getpid())
	burner := spawn(t, "lmburn"+suffix, "sh", "-c", "while :; do :; done")
	idle := spawn(t, "lmidle"+suffix, "sleep", "60")
	pidFile := filepath.Join(t.TempDir(), "burn.pid")
	os.WriteFile(pidFile, []byte(fmt.Sprintf("%d\n", burner)), 0o644)
	ctx := context.Background()
	const window = 500 * time.Millisecond
	cases := []struct {
		name string
		proc ProcCPU
		pid  int
	}{
		{"busy by name", ProcCPU{ProcessName: "lmburn" + suffix}, burner},
		{"busy by pid file", ProcCPU{PIDFile: pidFile}, burner},
		{"idle by pid", ProcCPU{PID: idle}, idle},
		{"host", ProcCPU{Host: true}, 0},
	}
	t0, busy0 := time.Now(), procTicks(t, burner)
	var ps []*procCPU
	for _, c := range cases {
		p, err := newProcCPU(ctx, c.proc, 70, 90, window, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		ps = append(ps, p)
	}
	time.Sleep(window + 50*time.Millisecond)
	var got []float64
	for i, c := range cases {
		v, err := ps[i].read(ctx)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got = append(got, v)
	}
	indep := 100 * (procTicks(t, burner) - busy0) / time.Since(t0).Seconds()
	for i, c := range cases[:2] {
		if got[i] < 5 || got[i] < indep-15 || got[i] > indep+15 {
			t.Errorf("%s: %.1f %% of a core; measured independently %.1f %%", c.name, got[i], indep)
		}
	}
	if got[2] > 3 {
		t.Errorf("idle process: %.1f %%", got[2])
	}
	if got[3] <= 0 || got[3] > 100 {
		t.Errorf("host: %.1f %%, want a share of all cores in (0, 100]", got[3])
	}
	spawn(t, "lmtwin"+suffix, "sleep", "60")
	spawn(t, "lmtwin"+suffix, "sleep", "60")
	for _, c := range []struct {
		proc ProcCPU
		want string
	}{
		{ProcCPU{ProcessName: "lmtwin" + suffix}, "2 processes are named lmtwin" + suffix},
		{ProcCPU{ProcessName: "lmnone" + suffix}, "no process named lmnone" + suffix},
		{ProcCPU{PIDFile: filepath.Join(t.TempDir(), "missing.pid")}, "missing.pid: no such file"},
	} {
		if _, err := newProcCPU(ctx, c.proc, 70, 90, window, nil); err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "throttle.cpu.proc: ") {
			t.Errorf("%+v: %v, want %q", c.proc, err, c.want)
		}
	}
}

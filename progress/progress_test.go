package progress

import (
	"testing"
	"time"
)

func TestState(t *testing.T) {
	for _, c := range []struct {
		t        Table
		stopping bool
		want     string
	}{
		{Table{}, false, "planning"},
		{Table{Chunks: 4}, false, "waiting"},
		{Table{Chunks: 4, Running: 1}, false, "copying"},
		{Table{Chunks: 4, Done: 2}, false, "copying"},
		{Table{Chunks: 4, Done: 2}, true, "stopping"},
		{Table{Chunks: 4, Done: 4}, true, "done"},
		{Table{Chunks: 1, Done: 1}, false, "done"},
	} {
		if got := c.t.State(c.stopping); got != c.want {
			t.Errorf("%+v stopping=%v: %s, want %s", c.t, c.stopping, got, c.want)
		}
	}
}

func TestMeterAndETA(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var m meter
	if m.rate() != 0 {
		t.Fatal("rate without samples")
	}
	m.add(t0, 0)
	m.add(t0.Add(2*time.Second), 2000)
	if r := m.rate(); r != 1000 {
		t.Fatalf("rate %v, want 1000", r)
	}
	// Samples older than the window drop out: the rate follows the recent
	// pace, not the whole run's.
	m.add(t0.Add(40*time.Second), 2000)
	m.add(t0.Add(42*time.Second), 12000)
	if r := m.rate(); r <= 1000 {
		t.Fatalf("rate %v still dominated by old samples", r)
	}
	for _, c := range []struct {
		t    Table
		rate float64
		want string
	}{
		{Table{Chunks: 2, Planned: 10000, Rows: 4000}, 1000, "6s"},
		{Table{Chunks: 2, Planned: 10000, Rows: 4000}, 0, "-"},
		{Table{Chunks: 2, Planned: 0}, 10, "-"},
		{Table{Chunks: 2, Done: 2, Planned: 10, Rows: 10}, 0, "0s"},
		{Table{Chunks: 2, Planned: 10, Rows: 12}, 5, "<1s"},
		{Table{Chunks: 9, Planned: 3_600_000, Rows: 0}, 1000, "1h0m0s"},
	} {
		if got := ETA(c.t, c.rate); got != c.want {
			t.Errorf("ETA(%+v, %v) = %s, want %s", c.t, c.rate, got, c.want)
		}
	}
}

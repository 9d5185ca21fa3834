package ratelimit

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func cpuAt(v float64) reading {
	return reading{Name: "cpu", Unit: "%", Value: v, Max: 70, Critical: 90}
}

func cpuErr() reading {
	return reading{Name: "cpu", Unit: "%", Err: errors.New("scrape http://db:9100/metrics: connection refused"), Max: 70, Critical: 90}
}

func testController() *controller {
	return newController(Config{}.WithDefaults())
}

// snap is the controller after one step.
type snap struct {
	at     time.Duration // since the start
	rate   float64
	paused bool
	reason string
	next   time.Duration
	failed *HibernateError
}

// drive feeds the readings one after another, each at the time the
// previous step asked for, with observed rows/s as given (or the rate in
// force when observed < 0).
func drive(c *controller, rs []reading, observed float64) []snap {
	start := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	now := start
	var out []snap
	for _, r := range rs {
		obs := observed
		if obs < 0 {
			obs = c.rate
			if math.IsInf(obs, 1) || c.paused {
				obs = 0
			}
		}
		next := c.step(now, []reading{r}, obs)
		out = append(out, snap{at: now.Sub(start), rate: c.rate, paused: c.paused, reason: c.reason, next: next, failed: c.failed})
		now = now.Add(next)
	}
	return out
}

func repeat(r reading, n int) []reading {
	out := make([]reading, n)
	for i := range out {
		out[i] = r
	}
	return out
}

// TestControllerBackOff: one reading over max cuts the rate multiplicatively
// by the overshoot (at least 10 %, at most to half), an unreadable probe cuts
// to half, and the cut starts from the rate that was actually observed.
func TestControllerBackOff(t *testing.T) {
	cases := []struct {
		name    string
		reading reading
		want    float64 // rate after one step, observed 1000 rows/s
		reason  string
	}{
		{"slightly over: 10 % cut", cpuAt(72), 900, "cpu 72 % > 70 %"},
		{"proportional to the overshoot", cpuAt(80), 875, "cpu 80 % > 70 %"},
		{"far over: to half at most", cpuAt(89), 786.5, "cpu 89 % > 70 %"},
		{"unreadable counts as over, deepest cut", cpuErr(), 500, "cpu unreadable: scrape http://db:9100/metrics: connection refused"},
		{"critical once: cut to half, not yet paused", cpuAt(95), 500, "cpu 95 % > 90 %"},
		{"in the hysteresis band: no change", cpuAt(65), math.Inf(1), ""},
		{"below the band: nothing to raise", cpuAt(20), math.Inf(1), ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctl := testController()
			s := drive(ctl, []reading{c.reading}, 1000)[0]
			if math.Abs(s.rate-c.want) > 1 && !(math.IsInf(c.want, 1) && math.IsInf(s.rate, 1)) {
				t.Fatalf("rate %v, want %v", s.rate, c.want)
			}
			if s.reason != c.reason {
				t.Fatalf("reason %q, want %q", s.reason, c.reason)
			}
			if s.paused {
				t.Fatal("paused after one reading")
			}
		})
	}
}

// TestControllerRampUp: after a cut, readings below max × (1 − hysteresis)
// raise the rate by a constant step (5 % of the reference rate) per sample,
// until it reaches the reference and the controller stops limiting.
func TestControllerRampUp(t *testing.T) {
	ctl := testController()
	rs := append([]reading{cpuAt(140)}, repeat(cpuAt(30), 12)...)
	ss := drive(ctl, rs, 1000)
	if ss[0].rate != 500 {
		t.Fatalf("cut to %v, want 500", ss[0].rate)
	}
	for i := 1; i <= 9; i++ {
		if want := 500 + 50*float64(i); math.Abs(ss[i].rate-want) > 1e-9 {
			t.Fatalf("sample %d: rate %v, want %v (additive +50)", i, ss[i].rate, want)
		}
		if ss[i].next != time.Second {
			t.Fatalf("sample %d: next check in %v, want the 1s sample interval", i, ss[i].next)
		}
	}
	if !math.IsInf(ss[10].rate, 1) || ss[10].reason != "" {
		t.Fatalf("after 10 raises: rate %v reason %q, want unlimited again", ss[10].rate, ss[10].reason)
	}
	// Up slowly, down fast: the way down took one sample, the way up ten.
}

// TestControllerRampUpToBudget: with a budget share the ramp ends at the
// share (the controller stops limiting there).
func TestControllerRampUpToBudget(t *testing.T) {
	ctl := testController()
	ctl.ceiling = 800
	ss := drive(ctl, append([]reading{cpuAt(140)}, repeat(cpuAt(30), 10)...), 800)
	if ss[0].rate != 400 {
		t.Fatalf("cut to %v, want half the share", ss[0].rate)
	}
	n := 0
	for _, s := range ss[1:] {
		if !math.IsInf(s.rate, 1) {
			n++
			if s.rate > 800 {
				t.Fatalf("rate %v above the share", s.rate)
			}
		}
	}
	if n != 9 || !math.IsInf(ss[len(ss)-1].rate, 1) {
		t.Fatalf("limited for %d samples (want 9), last rate %v", n, ss[len(ss)-1].rate)
	}
}

// TestControllerCutOncePerInterval: readings that stay over max cut once
// per sample interval, never twice on the re-check that confirms a
// critical reading (the reading still covers the time before the cut).
func TestControllerCutOncePerInterval(t *testing.T) {
	ctl := testController()
	ss := drive(ctl, []reading{cpuAt(95), cpuAt(85), cpuAt(85), cpuAt(85)}, 1000)
	if ss[0].next != 250*time.Millisecond {
		t.Fatalf("critical reading: next check in %v, want pause_check 250ms", ss[0].next)
	}
	if ss[0].rate != 500 || ss[1].rate != 500 {
		t.Fatalf("rates %v, %v: the confirming re-check 250ms later must not cut again", ss[0].rate, ss[1].rate)
	}
	if ss[1].at != 250*time.Millisecond || ss[2].at != 1250*time.Millisecond {
		t.Fatalf("sample times %v %v", ss[1].at, ss[2].at)
	}
	if want := 500 * 70.0 / 85; math.Abs(ss[2].rate-want) > 1e-6 {
		t.Fatalf("a full interval after the cut: rate %v, want %v", ss[2].rate, want)
	}
}

// TestControllerPauseResumeHibernate: two consecutive critical readings
// pause; readings between max and critical keep it paused (hysteresis);
// under max resumes; a pause longer than hibernate_limit fails with a
// *HibernateError naming the reading.
func TestControllerPauseResumeHibernate(t *testing.T) {
	t.Run("pause and resume", func(t *testing.T) {
		ctl := testController()
		rs := []reading{cpuAt(95), cpuAt(96), cpuAt(85), cpuAt(80), cpuAt(71), cpuAt(60), cpuAt(60)}
		ss := drive(ctl, rs, 1000)
		want := []bool{false, true, true, true, true, false, false}
		for i, s := range ss {
			if s.paused != want[i] {
				t.Fatalf("step %d (reading %v): paused=%v, want %v", i, rs[i].Value, s.paused, want[i])
			}
		}
		if ss[1].reason != "cpu 96 % > 90 %" || ss[1].next != 250*time.Millisecond {
			t.Fatalf("pause: reason %q next %v", ss[1].reason, ss[1].next)
		}
		if ss[3].reason != "cpu 80 % > 70 %" {
			t.Fatalf("while paused the reason follows the reading: %q", ss[3].reason)
		}
		if ss[5].next != time.Second || !strings.HasPrefix(ss[5].reason, "resumed after cpu 71 % > 70 %") {
			t.Fatalf("resume: next %v reason %q", ss[5].next, ss[5].reason)
		}
		if ss[5].rate >= 1000 || ss[5].rate <= 0 {
			t.Fatalf("resumed at %v rows/s: it must restart below the pre-pause rate", ss[5].rate)
		}
	})
	t.Run("hibernate limit", func(t *testing.T) {
		cfg := Config{HibernateLimit: Duration(10 * time.Second)}.WithDefaults()
		ctl := newController(cfg)
		ss := drive(ctl, repeat(reading{Name: "threads_running", Value: 80, Max: 25, Critical: 50}, 60), 1000)
		var failedAt time.Duration = -1
		for _, s := range ss {
			if s.failed != nil {
				failedAt = s.at
				break
			}
		}
		// Paused at 250ms (second reading); fails at the first check ≥ 10s later.
		if failedAt != 10250*time.Millisecond {
			t.Fatalf("failed at %v, want 10.25s", failedAt)
		}
		err := error(ctl.failed)
		if !IsHibernate(err) {
			t.Fatal("not recognisable as a hibernate error")
		}
		want := "source critical for 10s: threads_running 80 > 50; raise throttle.hibernate_limit (now 10s)"
		if !strings.HasPrefix(err.Error(), want) {
			t.Fatalf("error %q\nwant prefix %q", err, want)
		}
	})
	t.Run("recovering before the limit does not fail", func(t *testing.T) {
		cfg := Config{HibernateLimit: Duration(10 * time.Second)}.WithDefaults()
		ctl := newController(cfg)
		rs := append(repeat(cpuAt(95), 38), cpuAt(50)) // paused 9.25 s
		rs = append(rs, repeat(cpuAt(95), 38)...)      // again 9.25 s
		for _, s := range drive(ctl, rs, 1000) {
			if s.failed != nil {
				t.Fatalf("failed at %v though no pause lasted 10s", s.at)
			}
		}
	})
}

// TestControllerHysteresis: noise must not make the controller flap.
func TestControllerHysteresis(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	noise := func(lo, hi float64, n int) []reading {
		out := make([]reading, n)
		for i := range out {
			out[i] = cpuAt(lo + rnd.Float64()*(hi-lo))
		}
		return out
	}
	t.Run("noise inside the band holds the rate", func(t *testing.T) {
		ctl := testController()
		ss := drive(ctl, append([]reading{cpuAt(100)}, noise(63.5, 70, 200)...), 1000)
		for _, s := range ss[1:] {
			if s.rate != ss[0].rate || s.paused {
				t.Fatalf("at %v: rate %v (was %v), paused %v: noise inside [63, 70] moved it", s.at, s.rate, ss[0].rate, s.paused)
			}
		}
	})
	t.Run("noise below the band never limits", func(t *testing.T) {
		ctl := testController()
		for _, s := range drive(ctl, noise(0, 62.9, 200), 1000) {
			if ctl.limiting() || s.reason != "" {
				t.Fatalf("at %v: limited to %v on readings below the band", s.at, s.rate)
			}
		}
	})
	t.Run("isolated critical spikes do not pause", func(t *testing.T) {
		ctl := testController()
		var rs []reading
		for i := 0; i < 100; i++ {
			rs = append(rs, cpuAt(88+rnd.Float64()*1.9), cpuAt(91+rnd.Float64()*5))
		}
		for _, s := range drive(ctl, rs, 1000) {
			if s.paused {
				t.Fatalf("paused at %v on single spikes above critical", s.at)
			}
		}
	})
	t.Run("noise between max and critical does not resume a pause", func(t *testing.T) {
		ctl := testController()
		rs := append([]reading{cpuAt(95), cpuAt(95)}, noise(70.5, 89.9, 100)...)
		ss := drive(ctl, rs, 1000)
		for _, s := range ss[1:] {
			if !s.paused {
				t.Fatalf("resumed at %v while readings were still above max", s.at)
			}
		}
	})
}

// TestControllerUnreadableNeverMeansNoLoad: a probe that cannot be read
// keeps cutting to the floor and never lets the rate rise.
func TestControllerUnreadableNeverMeansNoLoad(t *testing.T) {
	ctl := testController()
	ctl.ref = 10000
	ss := drive(ctl, append([]reading{cpuAt(30)}, repeat(cpuErr(), 20)...), 10000)
	last := ss[len(ss)-1]
	if last.rate != 100 { // the floor: 1 % of the reference rate
		t.Fatalf("after 20 unreadable samples rate %v, want the floor 100", last.rate)
	}
	for i := 2; i < len(ss); i++ {
		if ss[i].rate > ss[i-1].rate {
			t.Fatalf("rate rose from %v to %v while the probe was unreadable", ss[i-1].rate, ss[i].rate)
		}
	}
	if !strings.Contains(last.reason, "unreadable") {
		t.Fatalf("reason %q", last.reason)
	}
}

// TestControllerWorstProbeWins: with several probes the worst decides, and
// a warming-up probe holds.
func TestControllerWorstProbeWins(t *testing.T) {
	ctl := testController()
	tr := reading{Name: "threads_running", Value: 30, Max: 25, Critical: 50}
	ctl.step(time.Now(), []reading{cpuAt(10), tr, {Name: "cpu2", Warming: true, Max: 1, Critical: 2}}, 1000)
	if ctl.reason != "threads_running 30 > 25" || ctl.rate != 1000*25.0/30 {
		t.Fatalf("reason %q rate %v", ctl.reason, ctl.rate)
	}
	ctl = testController()
	ctl.step(time.Now(), []reading{cpuAt(10), {Name: "cpu2", Warming: true, Max: 1, Critical: 2}}, 1000)
	if ctl.limiting() {
		t.Fatal("a warming probe limited the rate")
	}
}

func TestFmtValue(t *testing.T) {
	cases := []struct {
		v    float64
		unit string
		want string
	}{
		{83.4, "%", "83 %"}, {80, "", "80"}, {1.75, "", "1.75"}, {1.5, "s", "1.5 s"}, {12.34, "ms", "12 ms"}, {0.168, "ms", "0.2 ms"}, {123456.7, "", "123457"},
	}
	for _, c := range cases {
		if got := fmtValue(c.v, c.unit); got != c.want {
			t.Errorf("fmtValue(%v, %q) = %q, want %q", c.v, c.unit, got, c.want)
		}
	}
}

// TestControllerRecoversFromAColdCut: the source is critical from the very
// first sample, before any rate was observed and before the budget share is
// known. After the pause the rate must climb back in a bounded number of
// samples, not crawl from 1 row/s by 5 % of nothing (a real run stayed at
// 1 row/s for minutes with 500-row pages).
func TestControllerRecoversFromAColdCut(t *testing.T) {
	for _, ceiling := range []float64{math.Inf(1), 4000} {
		c := testController()
		c.ceiling = ceiling
		rs := append(repeat(cpuAt(95), 3), repeat(cpuAt(10), 40)...)
		snaps := drive(c, rs, 0)
		if !snaps[2].paused {
			t.Fatalf("ceiling %v: never paused: %+v", ceiling, snaps[:3])
		}
		if f := c.floor(); f < 10 {
			t.Errorf("ceiling %v: floor %.1f rows/s after a cold cut; want a floor measured against a real reference", ceiling, f)
		}
		recovered := -1
		for i, s := range snaps {
			if i > 2 && math.IsInf(s.rate, 1) {
				recovered = i
				break
			}
		}
		if recovered < 0 || recovered > 30 {
			t.Errorf("ceiling %v: rate not back to unlimited within 28 samples of the load ending (at %d): last %+v", ceiling, recovered, snaps[len(snaps)-1])
		}
	}
}

package ratelimit

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// reading is one probe's value at one sample.
type reading struct {
	Name     string
	Unit     string // "%", "s", "ms" or ""
	Value    float64
	Err      error
	Warming  bool // a rate probe without enough history yet: no opinion
	Max      float64
	Critical float64
}

type level int

const (
	levelOK       level = iota // below max × (1 − hysteresis): may speed up
	levelHold                  // in the hysteresis band (or warming up): keep the rate
	levelOver                  // above max: slow down
	levelError                 // unreadable: slow down, as if over
	levelCritical              // at or above critical: pause once confirmed
)

func (r reading) level(hysteresis float64) level {
	switch {
	case r.Err != nil:
		return levelError
	case r.Warming:
		return levelHold
	case r.Value >= r.Critical:
		return levelCritical
	case r.Value > r.Max:
		return levelOver
	case r.Value > r.Max*(1-hysteresis):
		return levelHold
	}
	return levelOK
}

// cut is the multiplicative factor for a reading over max: the overshoot
// max/value, at least a 10 % cut, at most down to deepest.
func (r reading) cut(deepest float64) float64 {
	if r.Err != nil || r.Value <= 0 {
		return deepest
	}
	return math.Max(deepest, math.Min(0.9, r.Max/r.Value))
}

// text is the reason line: "cpu 83 % > 70 %", "threads_running 80 > 50"
// (against critical when it is critical), "cpu unreadable: …".
func (r reading) text(hysteresis float64) string {
	switch r.level(hysteresis) {
	case levelError:
		return r.Name + " unreadable: " + r.Err.Error()
	case levelCritical:
		return fmt.Sprintf("%s %s > %s", r.Name, fmtValue(r.Value, r.Unit), fmtValue(r.Critical, r.Unit))
	case levelOver:
		return fmt.Sprintf("%s %s > %s", r.Name, fmtValue(r.Value, r.Unit), fmtValue(r.Max, r.Unit))
	}
	return fmt.Sprintf("%s %s", r.Name, fmtValue(r.Value, r.Unit))
}

func fmtValue(v float64, unit string) string {
	var s string
	switch unit {
	case "%":
		s = strconv.FormatFloat(v, 'f', 0, 64)
	case "ms":
		if v < 10 {
			s = strconv.FormatFloat(v, 'f', 1, 64)
		} else {
			s = strconv.FormatFloat(v, 'f', 0, 64)
		}
	case "s":
		s = strconv.FormatFloat(v, 'f', 1, 64)
	default:
		if v == math.Trunc(v) || math.Abs(v) >= 100 {
			s = strconv.FormatFloat(v, 'f', 0, 64)
		} else {
			s = strings.TrimRight(strings.TrimRight(strconv.FormatFloat(v, 'f', 2, 64), "0"), ".")
		}
	}
	if unit != "" {
		s += " " + unit
	}
	return s
}

// controller is the adaptive part of the gate, as a pure state machine: it
// is given the probe readings and the observed rate at each sample and
// decides the allowed rows/s and whether to pause. It knows no clock of its
// own, so tests drive it with scripted readings and fake times.
type controller struct {
	hysteresis float64
	increase   float64 // additive step, fraction of ref
	decrease   float64 // deepest multiplicative cut
	confirm    int     // consecutive critical readings that pause
	minRate    float64
	interval   time.Duration
	pauseCheck time.Duration
	hibernate  time.Duration

	// ceiling is the fixed budget's share (+Inf without one): once the
	// adaptive rate climbs back to it, the controller stops limiting.
	ceiling float64

	paused      bool
	rate        float64 // allowed rows/s; +Inf while not limiting
	ref         float64 // reference rate: the highest rows/s observed
	reason      string
	critStreak  int
	lastCut     time.Time
	pausedSince time.Time
	failed      *HibernateError
}

func newController(c Config) *controller {
	return &controller{
		hysteresis: c.Hysteresis, increase: c.Increase, decrease: c.Decrease, confirm: c.CriticalConfirm,
		minRate: c.MinRowsPerSecond, interval: c.SampleInterval.D(), pauseCheck: c.PauseCheck.D(),
		hibernate: c.HibernateLimit.D(), ceiling: math.Inf(1), rate: math.Inf(1),
	}
}

// limiting reports whether the controller currently holds the rate below
// the budget (state "throttled").
func (c *controller) limiting() bool { return !math.IsInf(c.rate, 1) }

// fallbackRef is the reference rate while nothing is known: no budget,
// and no rate observed yet (a probe over max from the very first sample).
const fallbackRef = 1000.0

// reference is the rate steps and floors are measured against: the
// highest rate observed, or the budget share when that is higher, or
// fallbackRef when neither is known — never 0, or a cut before the first
// observed rate would leave the gate crawling at 1 row/s for good.
func (c *controller) reference() float64 {
	r := c.ref
	if !math.IsInf(c.ceiling, 1) {
		r = math.Max(r, c.ceiling)
	}
	if r <= 0 {
		r = fallbackRef
	}
	return r
}

func (c *controller) floor() float64 {
	return math.Max(1, math.Max(c.minRate, 0.01*c.reference()))
}

// step takes one round of readings at now, with observed rows/s over the
// last sample, and returns when the probes should be read next.
func (c *controller) step(now time.Time, rs []reading, observed float64) time.Duration {
	if c.failed != nil {
		return c.pauseCheck
	}
	if observed > c.ref {
		c.ref = observed
	}
	worst, wr, factor := levelOK, reading{}, 1.0
	for _, r := range rs {
		l := r.level(c.hysteresis)
		f := 1.0
		if l >= levelOver {
			f = r.cut(c.decrease)
		}
		if l > worst || (l == worst && f < factor) {
			worst, wr, factor = l, r, f
		}
	}
	if c.paused {
		if worst >= levelOver {
			c.reason = wr.text(c.hysteresis)
			if d := now.Sub(c.pausedSince); d >= c.hibernate {
				c.failed = &HibernateError{Reason: c.reason, For: d, Limit: c.hibernate}
			}
			return c.pauseCheck
		}
		// Every probe is back under its max (not merely under critical).
		c.paused, c.pausedSince, c.critStreak = false, time.Time{}, 0
		c.reason = "resumed after " + c.reason
		return c.interval
	}
	switch worst {
	case levelCritical:
		c.critStreak++
		if c.critStreak >= c.confirm {
			c.cutTo(now, c.decrease, observed)
			c.paused, c.pausedSince = true, now
			c.reason = wr.text(c.hysteresis)
			return c.pauseCheck
		}
		c.maybeCut(now, c.decrease, observed)
		c.reason = wr.text(c.hysteresis)
		return c.pauseCheck // confirm soon
	case levelOver, levelError:
		c.critStreak = 0
		c.maybeCut(now, factor, observed)
		c.reason = wr.text(c.hysteresis)
	case levelHold:
		c.critStreak = 0
	case levelOK:
		c.critStreak = 0
		c.raise()
	}
	return c.interval
}

// maybeCut cuts at most once per sample interval: a reading is a rate over
// the last interval, so the next one must first show the effect of a cut.
func (c *controller) maybeCut(now time.Time, factor, observed float64) {
	if !c.lastCut.IsZero() && now.Sub(c.lastCut) < c.interval*9/10 {
		return
	}
	c.cutTo(now, factor, observed)
}

func (c *controller) cutTo(now time.Time, factor, observed float64) {
	base := c.rate
	if math.IsInf(base, 1) {
		// Not limiting yet: start from what actually went through.
		base = observed
		if base <= 0 {
			base = c.reference()
		}
	}
	base = math.Min(base, c.ceiling)
	c.rate = math.Max(c.floor(), base*factor)
	if math.IsInf(c.rate, 1) || math.IsNaN(c.rate) {
		c.rate = c.floor()
	}
	c.lastCut = now
}

func (c *controller) raise() {
	if !c.limiting() {
		return
	}
	c.rate += c.increase * math.Max(c.reference(), c.rate)
	top := c.ceiling
	if math.IsInf(top, 1) {
		top = c.reference()
	}
	if c.rate >= top {
		c.rate = math.Inf(1)
		c.reason = ""
	}
}

package ratelimit

import (
	"sort"
	"sync"
	"time"
)

// fakeClock is a Clock whose time moves only when the test says so. With
// auto set, After moves time forward to its deadline at once (for tests
// where one goroutine waits and nothing else needs to happen meanwhile).
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	auto    bool
	waiters []fakeWaiter
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	at := c.now.Add(d)
	if c.auto && d > 0 {
		c.now = at
	}
	if !at.After(c.now) {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, fakeWaiter{at, ch})
	sort.SliceStable(c.waiters, func(i, j int) bool { return c.waiters[i].at.Before(c.waiters[j].at) })
	return ch
}

// Advance moves time forward by d, firing the timers due, in order.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	i := 0
	for ; i < len(c.waiters) && !c.waiters[i].at.After(c.now); i++ {
		c.waiters[i].ch <- c.now
	}
	c.waiters = c.waiters[i:]
}

// Waiters is how many timers are pending.
func (c *fakeClock) Waiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

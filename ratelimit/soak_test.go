//go:build soak

package ratelimit_test

import (
	"testing"
	"time"

	"github.com/livemigrate/livemigrate/internal/testenv"
)

// TestSoakThrottle runs the long variants (make soak): the CPU target for a
// minute, and five worker processes sharing a budget over 30 s.
func TestSoakThrottle(t *testing.T) {
	e := testenv.New(t)
	createBig(t, e)
	probeDB := openDB(t, e.MySQLAddr, e.MySQLUser, e.Password(t), e.Name, 2)
	t.Run("cpu target for a minute", func(t *testing.T) { cpuTarget(t, e, probeDB, 10*time.Second, time.Minute) })
	t.Run("five worker processes", func(t *testing.T) { workerProcesses(t, e, 5, 10000, 6, 30*time.Second) })
}

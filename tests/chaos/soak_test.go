//go:build soak

package chaos

import (
	"os"
	"strconv"
	"testing"
)

// TestSoakChaos runs the chaos scenario over many more seeds (LM_SOAK_SEEDS,
// default 10), starting where TestChaos's seeds end: `make soak`.
func TestSoakChaos(t *testing.T) {
	n := 10
	if v, err := strconv.Atoi(os.Getenv("LM_SOAK_SEEDS")); err == nil && v > 0 {
		n = v
	}
	list := make([]int64, n)
	for i := range list {
		list[i] = 100 + int64(i)
	}
	chaosSeeds(t, list)
}

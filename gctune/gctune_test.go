package gctune

import (
	"runtime/metrics"
	"testing"
)

func TestDecide(t *testing.T) {
	const gib = int64(1) << 30
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	for _, tc := range []struct {
		name             string
		percent, limitMB int
		getenv           func(string) string
		machine          int64
		want             Setting
	}{
		{"job's percent, half the machine", 200, 0, env(), 24 * gib,
			Setting{Percent: 200, PercentFrom: "job", LimitBytes: 12 * gib, LimitFrom: "machine"}},
		{"job's limit", 200, 512, env(), 24 * gib,
			Setting{Percent: 200, PercentFrom: "job", LimitBytes: 512 << 20, LimitFrom: "job"}},
		{"GOGC in the environment wins", 200, 0, env("GOGC", "400"), 8 * gib,
			Setting{Percent: 400, PercentFrom: "environment", LimitBytes: 4 * gib, LimitFrom: "machine"}},
		{"GOGC=off", 200, 0, env("GOGC", "off"), 8 * gib,
			Setting{Percent: -1, PercentFrom: "environment", LimitBytes: 4 * gib, LimitFrom: "machine"}},
		{"GOMEMLIMIT in the environment wins over the job's", 100, 512, env("GOMEMLIMIT", "2GiB"), 8 * gib,
			Setting{Percent: 100, PercentFrom: "job", LimitBytes: -1, LimitFrom: "environment"}},
		{"a job without the setting keeps Go's default", 0, 0, env(), 8 * gib,
			Setting{Percent: 100, PercentFrom: "Go's default", LimitBytes: 4 * gib, LimitFrom: "machine"}},
		{"machine memory unknown: no limit", 200, 0, env(), 0,
			Setting{Percent: 200, PercentFrom: "job", LimitFrom: "machine memory unknown"}},
	} {
		if got := Decide(tc.percent, tc.limitMB, tc.getenv, tc.machine); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestMachineMemoryParsing(t *testing.T) {
	meminfo := []byte("MemTotal:       24555284 kB\nMemFree:        20000000 kB\n")
	if got := meminfoTotal(meminfo); got != 24555284<<10 {
		t.Errorf("meminfoTotal = %d", got)
	}
	if got := meminfoTotal([]byte("garbage")); got != 0 {
		t.Errorf("meminfoTotal(garbage) = %d", got)
	}
	for _, tc := range []struct {
		v2, v1 string
		want   int64
	}{
		{"max\n", "", 0},
		{"4294967296\n", "", 4 << 30},
		{"", "2147483648\n", 2 << 30},
		{"", "9223372036854771712\n", 0}, // v1's "no limit"
		{"", "", 0},
	} {
		if got := cgroupLimit([]byte(tc.v2), []byte(tc.v1)); got != tc.want {
			t.Errorf("cgroupLimit(%q, %q) = %d, want %d", tc.v2, tc.v1, got, tc.want)
		}
	}
	if MachineMemory() <= 0 {
		t.Error("MachineMemory found no memory on this machine")
	}
}

// Apply sets the runtime once: the first job's setting stays.
func TestApplyOnce(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	first := Apply(321, 777)
	second := Apply(150, 999)
	if first != second || first.Percent != 321 || first.LimitBytes != 777<<20 {
		t.Fatalf("Apply: first %+v, second %+v", first, second)
	}
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}}
	metrics.Read(s)
	if got := s[0].Value.Uint64(); got != 321 {
		t.Errorf("runtime GOGC = %d, want 321", got)
	}
	if got := s[1].Value.Uint64(); got != 777<<20 {
		t.Errorf("runtime memory limit = %d, want %d", got, 777<<20)
	}
}

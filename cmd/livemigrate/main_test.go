package main

import (
	"errors"
	"testing"
)

func TestRootCause(t *testing.T) {
	err := errors.New("job job-001 failed: bundle inst002 stage-002 failed:process bundle failed for instruction inst002 using plan stage-002 : while executing Process for Plan[stage-002]:\n1: DataSource[S[x], i0] Out:6\n\tcaused by:\nsource failed processing data\n\tcaused by:\nDoFn[UID:6, PID:e5, Name: github.com/livemigrate/livemigrate/transforms.CopyChunkFn] failed:\nwrite 100 rows to T: boom")
	if got := rootCause(err); got != "write 100 rows to T: boom" {
		t.Fatalf("rootCause = %q", got)
	}
	if got := rootCause(errors.New("plain")); got != "plain" {
		t.Fatalf("rootCause = %q", got)
	}
}

func TestIsWorker(t *testing.T) {
	for _, c := range []struct {
		args []string
		want bool
	}{
		{[]string{"--worker=true", "--id=1"}, true},
		{[]string{"-worker"}, true},
		{[]string{"backfill", "--spec", "x"}, false},
		{[]string{"backfill", "--workers", "3"}, false},
	} {
		if got := isWorker(c.args); got != c.want {
			t.Errorf("isWorker(%v) = %v", c.args, got)
		}
	}
}

// Command lmbench is livemigrate's benchmark: on generated tables it
// measures, in one run, livemigrate next to the physical limits of both
// ends and next to the pipeline a Beam user would write by hand.
//
// The one idea: a speed claim is a ratio between measurements taken in the
// same run on the same data — raw source scan, raw Spanner sink,
// livemigrate extraction only, livemigrate end to end, and Beam's
// databaseio → spannerio — so a noisy machine moves every figure together
// and the ratios stay meaningful. Each livemigrate (and Beam) run happens in
// a child process, re-executing this binary, so its peak resident memory is
// its own.
//
//	make bench                                  # sizes 100000,1000000
//	go run ./cmd/lmbench --quick                # 20000,100000
//	go run ./cmd/lmbench --sizes 50000 --only scan,extract --cpuprofile
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if os.Getenv(childEnv) == "1" {
		os.Exit(childMain(os.Args[1:]))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := benchMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

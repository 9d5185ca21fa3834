package copier_test

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/livemigrate/livemigrate/chunking"
	"github.com/livemigrate/livemigrate/copier"
	"github.com/livemigrate/livemigrate/internal/testenv"
	"github.com/livemigrate/livemigrate/job"
)

// BenchmarkExtract reads and converts a 100,000-row table shaped like the
// benchmark's items table (one op = one row), single chunk, default page:
// the per-row CPU and allocations of the extraction path, measured in a
// way the machine's load hardly affects (allocs/op, and CPU profiles).
//
//	go test ./copier -run '^$' -bench Extract -benchmem -cpuprofile cpu.out
func BenchmarkExtract(b *testing.B) {
	ctx := context.Background()
	e := testenv.New(b)
	const n = 100000
	e.Exec(b, `CREATE TABLE items (id BIGINT NOT NULL PRIMARY KEY, account_id INT NOT NULL, sku VARCHAR(32) NOT NULL,
  name VARCHAR(100) NOT NULL, price DECIMAL(12,2) NOT NULL, qty INT NOT NULL, weight DOUBLE NOT NULL,
  created_at DATETIME(6) NOT NULL, note TEXT NOT NULL) CHARSET=utf8mb4`,
		`INSERT INTO items SELECT seq, seq % 1000, CONCAT('SKU-', LPAD(seq, 10, '0')), CONCAT('item ', MD5(seq)),
       (seq % 100000) / 100, seq % 50, (seq % 997) * 0.37,
       TIMESTAMP('2020-01-01 00:00:00') + INTERVAL seq SECOND + INTERVAL (seq * 7919) % 1000000 MICROSECOND,
       REPEAT(MD5(seq), 1 + seq % 6) FROM seq_1_to_100000`)
	j, err := job.Load(ctx, e.SpecYAML(b, "  - source: items\n"), job.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer j.DB.Close()
	eng, err := copier.New(ctx, j.Config, j.DB, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer eng.Close()
	b.ResetTimer()
	cpu0 := processCPU()
	for done := 0; done < b.N; {
		st, err := eng.Read(ctx, chunking.Chunk{Table: "items", Of: 1}, func(copier.Row) error { return nil }, nil)
		if err != nil || st.DeadLettered > 0 || st.Read.Rows != n {
			b.Fatalf("read %d rows, %d dead letters: %v", st.Read.Rows, st.DeadLettered, err)
		}
		done += n
	}
	// This process's CPU per row: unlike ns/op, not moved by mysqld (another
	// process) competing for the same cores.
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU is the user + system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

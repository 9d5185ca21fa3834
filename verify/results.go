package verify

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/bits"
	"sort"
	"time"

	"cloud.google.com/go/spanner"
	"google.golang.org/api/iterator"
	"google.golang.org/grpc/codes"

	"github.com/livemigrate/livemigrate/target"
)

// Sides of a unit of work.
const (
	// SideSource is a source chunk: its rows looked up in Spanner by key.
	SideSource = "source"
	// SideTarget is a Spanner key range: its keys looked up in the source.
	SideTarget = "target"
)

// Kinds of a reported difference: rowdiff's three, and unsettled.
const (
	Missing   = "missing"   // in the source, not in the target
	Extra     = "extra"     // in the target, not in the source
	Different = "different" // in both, with different values
	// Unsettled: still different after every re-check round, and the live
	// path touched the key in each; not counted as drift.
	Unsettled = "unsettled"
)

// Repair outcomes of a difference.
const (
	Repaired = "repaired" // rewritten (or removed), and now equal
	Deferred = "deferred" // a live write touched the key since: it stands
	Failed   = "failed"   // still different after the repair
)

// Difference is one key whose rows disagree. It never holds a value: the
// key is printed by Verifier.Key (a token where the key is protected) and
// Columns are names.
type Difference struct {
	Kind    string   `json:"kind"`
	Key     string   `json:"key"`
	Columns []string `json:"columns,omitempty"`
	Note    string   `json:"note,omitempty"`
	Repair  string   `json:"repair,omitempty"`
}

// Result is what one unit found.
type Result struct {
	Table string `json:"table"`
	Side  string `json:"side"`
	Unit  int    `json:"unit"`
	Of    int    `json:"of"`
	// Rows is the number of source rows looked up in Spanner (source side)
	// or of Spanner keys looked up in the source (target side).
	Rows int64 `json:"rows"`
	// DeadLettered source rows cannot be written, so are not compared;
	// SkippedOlder rows are older than --since.
	DeadLettered int64 `json:"dead_lettered,omitempty"`
	SkippedOlder int64 `json:"skipped_older,omitempty"`
	// Persistent differences, by kind.
	Missing   int64 `json:"missing"`
	Extra     int64 `json:"extra"`
	Different int64 `json:"different"`
	Unsettled int64 `json:"unsettled,omitempty"`
	// Unconfirmed differences were beyond max_diffs: counted, not
	// re-checked, not listed.
	Unconfirmed int64 `json:"unconfirmed,omitempty"`
	// Settled first-pass differences were in flight: equal when re-read.
	Settled  int64 `json:"settled,omitempty"`
	Repaired int64 `json:"repaired,omitempty"`
	// Hash is the order-independent 128-bit sum of SHA-256/128 over the
	// canonical encodings of the target rows the source side found (as
	// stored: ciphertexts stay ciphertexts), hex.
	Hash    string       `json:"hash,omitempty"`
	Diffs   []Difference `json:"differences,omitempty"`
	Started time.Time    `json:"started"`
	Ended   time.Time    `json:"ended"`
}

// Drift counts the persistent differences of r not repaired.
func (r *Result) Drift() int64 {
	return r.Missing + r.Extra + r.Different + r.Unconfirmed - r.Repaired
}

// hash128 is an order-independent 128-bit sum.
type hash128 struct{ hi, lo uint64 }

func (h *hash128) add(b []byte) {
	lo, c := bits.Add64(h.lo, binary.BigEndian.Uint64(b[8:16]), 0)
	h.hi, _ = bits.Add64(h.hi, binary.BigEndian.Uint64(b[0:8]), c)
	h.lo = lo
}

func (h *hash128) addSum(o hash128) {
	lo, c := bits.Add64(h.lo, o.lo, 0)
	h.hi, _ = bits.Add64(h.hi, o.hi, c)
	h.lo = lo
}

func (h *hash128) addHex(s string) {
	if b, err := hex.DecodeString(s); err == nil && len(b) == 16 {
		h.add(b)
	}
}

func (h hash128) String() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], h.hi)
	binary.BigEndian.PutUint64(b[8:], h.lo)
	return hex.EncodeToString(b[:])
}

// Engine tables of verify in the target database. `livemigrate plan
// --apply` creates them; verify never runs DDL next to live traffic.
const (
	// RunsTable holds one row per run and table: the history.
	RunsTable = "livemigrate_verify"
	// UnitsTable holds one row per finished unit: what a resumed run
	// skips and the run's report is summed from.
	UnitsTable = "livemigrate_verify_units"
)

// DDL creates the engine tables of verify.
var DDL = []string{
	`CREATE TABLE ` + RunsTable + ` (
  RunId STRING(128) NOT NULL,
  TableName STRING(256) NOT NULL,
  StartedAt TIMESTAMP NOT NULL,
  EndedAt TIMESTAMP,
  Status STRING(16) NOT NULL,
  Since STRING(256),
  SourceRows INT64,
  TargetKeys INT64,
  DeadLettered INT64,
  SkippedOlder INT64,
  Missing INT64,
  Extra INT64,
  Different INT64,
  Unsettled INT64,
  Unconfirmed INT64,
  Settled INT64,
  Repaired INT64,
  RowsHash STRING(32),
) PRIMARY KEY (RunId, TableName)`,
	`CREATE TABLE ` + UnitsTable + ` (
  RunId STRING(128) NOT NULL,
  TableName STRING(256) NOT NULL,
  Side STRING(8) NOT NULL,
  UnitId INT64 NOT NULL,
  UnitOf INT64 NOT NULL,
  Result STRING(MAX) NOT NULL,
  DoneAt TIMESTAMP NOT NULL OPTIONS (allow_commit_timestamp = true),
) PRIMARY KEY (RunId, TableName, Side, UnitId)`,
}

// Run statuses of a table.
const (
	StatusRunning  = "running"
	StatusClean    = "clean"
	StatusDrift    = "drift"
	StatusRepaired = "repaired" // drift found and every difference repaired
	StatusError    = "error"
)

// Summary is one table's line of a run: the sum of its units.
type Summary struct {
	Run          string       `json:"run"`
	Table        string       `json:"table"`
	Started      time.Time    `json:"started"`
	Ended        time.Time    `json:"ended,omitempty"`
	Status       string       `json:"status"`
	Since        string       `json:"since,omitempty"`
	SourceRows   int64        `json:"source_rows"`
	TargetKeys   int64        `json:"target_keys"`
	DeadLettered int64        `json:"dead_lettered"`
	SkippedOlder int64        `json:"skipped_older,omitempty"`
	Missing      int64        `json:"missing"`
	Extra        int64        `json:"extra"`
	Different    int64        `json:"different"`
	Unsettled    int64        `json:"unsettled"`
	Unconfirmed  int64        `json:"unconfirmed"`
	Settled      int64        `json:"settled"`
	Repaired     int64        `json:"repaired"`
	Hash         string       `json:"hash,omitempty"`
	SourceUnits  int          `json:"source_units,omitempty"`
	TargetUnits  int          `json:"target_units,omitempty"`
	Diffs        []Difference `json:"differences,omitempty"`
}

// Drift counts the table's persistent differences not repaired.
func (s *Summary) Drift() int64 {
	return s.Missing + s.Extra + s.Different + s.Unconfirmed - s.Repaired
}

// Summarize sums unit results per table (tables in the given order) and
// decides each table's status.
func Summarize(run string, tables []string, results []Result) []Summary {
	by := map[string]*Summary{}
	hashes := map[string]*hash128{}
	out := make([]Summary, len(tables))
	for i, t := range tables {
		out[i] = Summary{Run: run, Table: t}
		by[t] = &out[i]
		hashes[t] = &hash128{}
	}
	sort.Slice(results, func(i, j int) bool {
		a, b := results[i], results[j]
		if a.Side != b.Side {
			return a.Side > b.Side // source first
		}
		return a.Unit < b.Unit
	})
	for _, r := range results {
		s, ok := by[r.Table]
		if !ok {
			continue
		}
		if r.Side == SideSource {
			s.SourceRows += r.Rows
			s.SourceUnits++
			hashes[r.Table].addHex(r.Hash)
		} else {
			s.TargetKeys += r.Rows
			s.TargetUnits++
		}
		s.DeadLettered += r.DeadLettered
		s.SkippedOlder += r.SkippedOlder
		s.Missing += r.Missing
		s.Extra += r.Extra
		s.Different += r.Different
		s.Unsettled += r.Unsettled
		s.Unconfirmed += r.Unconfirmed
		s.Settled += r.Settled
		s.Repaired += r.Repaired
		s.Diffs = append(s.Diffs, r.Diffs...)
		if s.Started.IsZero() || r.Started.Before(s.Started) {
			s.Started = r.Started
		}
		if r.Ended.After(s.Ended) {
			s.Ended = r.Ended
		}
	}
	for i := range out {
		s := &out[i]
		s.Hash = hashes[s.Table].String()
		switch {
		case s.Drift() > 0:
			s.Status = StatusDrift
		case s.Repaired > 0:
			s.Status = StatusRepaired
		default:
			s.Status = StatusClean
		}
	}
	return out
}

// SaveUnit stores a finished unit's result (a rerun overwrites it).
func SaveUnit(ctx context.Context, c *spanner.Client, run string, r Result) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	key := spanner.Key{run, r.Table, r.Side, int64(r.Unit)}
	m := spanner.InsertOrUpdate(UnitsTable, []string{"RunId", "TableName", "Side", "UnitId", "UnitOf", "Result", "DoneAt"},
		[]any{run, r.Table, r.Side, int64(r.Unit), int64(r.Of), string(data), spanner.CommitTimestamp})
	_, err = target.ReadWrite(ctx, c, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		// A read first, so the transaction begins inline (a mutation-only
		// commit begins explicitly, which the emulator mishandles).
		if _, err := tx.ReadRow(ctx, UnitsTable, key, []string{"UnitOf"}); err != nil && spanner.ErrCode(err) != codes.NotFound {
			return err
		}
		return tx.BufferWrite([]*spanner.Mutation{m})
	})
	if err != nil {
		return fmt.Errorf("store the result of %s %s unit %d: %w", r.Table, r.Side, r.Unit, err)
	}
	return nil
}

// Units reads every stored unit result of a run.
func Units(ctx context.Context, c *spanner.Client, run string) ([]Result, error) {
	var out []Result
	err := c.Single().Read(ctx, UnitsTable, spanner.Key{run}.AsPrefix(), []string{"Result"}).Do(func(row *spanner.Row) error {
		var s string
		if err := row.Column(0, &s); err != nil {
			return err
		}
		var r Result
		if err := json.Unmarshal([]byte(s), &r); err != nil {
			return fmt.Errorf("%s: %w", UnitsTable, err)
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", UnitsTable, err)
	}
	return out, nil
}

// doneUnits lists the finished units of one table and side of a run.
func doneUnits(ctx context.Context, c *spanner.Client, run, table, side string) (map[int]bool, error) {
	out := map[int]bool{}
	err := c.Single().Read(ctx, UnitsTable, spanner.Key{run, table, side}.AsPrefix(), []string{"UnitId"}).Do(func(row *spanner.Row) error {
		var id int64
		if err := row.Column(0, &id); err != nil {
			return err
		}
		out[int(id)] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", UnitsTable, err)
	}
	return out, nil
}

var runCols = []string{"RunId", "TableName", "StartedAt", "EndedAt", "Status", "Since", "SourceRows", "TargetKeys", "DeadLettered",
	"SkippedOlder", "Missing", "Extra", "Different", "Unsettled", "Unconfirmed", "Settled", "Repaired", "RowsHash"}

func runRow(s Summary) []any {
	var ended any
	if !s.Ended.IsZero() {
		ended = s.Ended
	}
	var since any
	if s.Since != "" {
		since = s.Since
	}
	return []any{s.Run, s.Table, s.Started, ended, s.Status, since, s.SourceRows, s.TargetKeys, s.DeadLettered,
		s.SkippedOlder, s.Missing, s.Extra, s.Different, s.Unsettled, s.Unconfirmed, s.Settled, s.Repaired, s.Hash}
}

// StartRun records that run has started on tables (status running); a
// resumed run keeps its first start time.
func StartRun(ctx context.Context, c *spanner.Client, run string, tables []string, since string, started time.Time) error {
	_, err := target.ReadWrite(ctx, c, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		var muts []*spanner.Mutation
		for _, t := range tables {
			row, err := tx.ReadRow(ctx, RunsTable, spanner.Key{run, t}, []string{"StartedAt"})
			switch {
			case spanner.ErrCode(err) == codes.NotFound:
				muts = append(muts, spanner.Insert(RunsTable, runCols, runRow(Summary{Run: run, Table: t, Started: started, Status: StatusRunning, Since: since})))
			case err != nil:
				return err
			default:
				_ = row
				muts = append(muts, spanner.Update(RunsTable, []string{"RunId", "TableName", "Status", "EndedAt"}, []any{run, t, StatusRunning, nil}))
			}
		}
		return tx.BufferWrite(muts)
	})
	if err != nil {
		return fmt.Errorf("record the run in %s: %w", RunsTable, err)
	}
	return nil
}

// RunExists reports whether run has been recorded as a verify run.
func RunExists(ctx context.Context, c *spanner.Client, run string) (bool, error) {
	found := false
	err := c.Single().Read(ctx, RunsTable, spanner.Key{run}.AsPrefix(), []string{"TableName"}).Do(func(*spanner.Row) error {
		found = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("read %s: %w", RunsTable, err)
	}
	return found, nil
}

// FinishRun stores the final summaries of a run (Started is kept from
// StartRun when the summary has none).
func FinishRun(ctx context.Context, c *spanner.Client, sums []Summary) error {
	_, err := target.ReadWrite(ctx, c, func(ctx context.Context, tx *spanner.ReadWriteTransaction) error {
		var muts []*spanner.Mutation
		for _, s := range sums {
			row, err := tx.ReadRow(ctx, RunsTable, spanner.Key{s.Run, s.Table}, []string{"StartedAt", "Since"})
			if err != nil && spanner.ErrCode(err) != codes.NotFound {
				return err
			}
			if err == nil {
				var started time.Time
				var since spanner.NullString
				if err := row.Columns(&started, &since); err != nil {
					return err
				}
				s.Started, s.Since = started, since.StringVal
			}
			if s.Started.IsZero() {
				s.Started = s.Ended
			}
			muts = append(muts, spanner.InsertOrUpdate(RunsTable, runCols, runRow(s)))
		}
		return tx.BufferWrite(muts)
	})
	if err != nil {
		return fmt.Errorf("record the run in %s: %w", RunsTable, err)
	}
	return nil
}

// History reads the latest runs, newest first: at most limit runs, every
// table of each.
func History(ctx context.Context, c *spanner.Client, limit int) ([]Summary, error) {
	stmt := spanner.Statement{SQL: `SELECT r.RunId, r.TableName, r.StartedAt, r.EndedAt, r.Status, r.Since, r.SourceRows, r.TargetKeys,
	  r.DeadLettered, r.SkippedOlder, r.Missing, r.Extra, r.Different, r.Unsettled, r.Unconfirmed, r.Settled, r.Repaired, r.RowsHash
	FROM ` + RunsTable + ` r JOIN (SELECT RunId, MIN(StartedAt) AS S FROM ` + RunsTable + ` GROUP BY RunId ORDER BY S DESC LIMIT @n) l
	  ON r.RunId = l.RunId
	ORDER BY l.S DESC, r.RunId, r.TableName`, Params: map[string]any{"n": int64(limit)}}
	it := c.Single().Query(ctx, stmt)
	defer it.Stop()
	var out []Summary
	for {
		row, err := it.Next()
		if err == iterator.Done {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", RunsTable, err)
		}
		var s Summary
		var ended spanner.NullTime
		var since, hash spanner.NullString
		var n [11]spanner.NullInt64
		if err := row.Columns(&s.Run, &s.Table, &s.Started, &ended, &s.Status, &since, &n[0], &n[1], &n[2], &n[3], &n[4], &n[5],
			&n[6], &n[7], &n[8], &n[9], &n[10], &hash); err != nil {
			return nil, err
		}
		s.Ended, s.Since, s.Hash = ended.Time, since.StringVal, hash.StringVal
		for i, p := range []*int64{&s.SourceRows, &s.TargetKeys, &s.DeadLettered, &s.SkippedOlder, &s.Missing, &s.Extra,
			&s.Different, &s.Unsettled, &s.Unconfirmed, &s.Settled, &s.Repaired} {
			*p = n[i].Int64
		}
		out = append(out, s)
	}
}

package verify

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/civil"

	"github.com/livemigrate/livemigrate/schema"
)

// InputError is a verify setting the operator must fix (exit code 2).
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }

// BadInput marks the error as the operator's to fix.
func (e *InputError) BadInput() bool { return true }

func inputf(format string, a ...any) error { return &InputError{Msg: fmt.Sprintf(format, a...)} }

// SinceValue turns --since into a value of the table's version column, as
// the converter produces it: for a DATETIME, TIMESTAMP or DATE column a
// duration back from now ("36h", "7d"), an RFC 3339 time or a MySQL-style
// "2006-01-02[ 15:04:05[.ffffff]]" (DATETIME in the source zone); for a
// numeric column a number; for a string column the string itself. A table
// without a version column gives nil: it cannot tell recent rows, so it is
// verified in full.
func SinceValue(p *schema.TablePlan, s string, now time.Time, loc *time.Location) (any, error) {
	if p.VersionColumn < 0 || s == "" {
		return nil, nil
	}
	c := &p.Cols[p.VersionColumn]
	fail := func(want string) error {
		return inputf("--since %q: the version column %s of %s is %s; give %s", s, c.Source, p.Source, c.Column.ColumnType, want)
	}
	switch c.Mapping.Kind {
	case schema.KindDatetime, schema.KindTimestamp:
		if d, ok := ago(s); ok {
			return now.Add(-d).UTC(), nil
		}
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t.UTC(), nil
		}
		if c.Mapping.Kind == schema.KindTimestamp {
			loc = time.UTC
		}
		for _, f := range []string{"2006-01-02 15:04:05.999999", "2006-01-02"} {
			if t, err := time.ParseInLocation(f, s, loc); err == nil {
				return t.UTC(), nil
			}
		}
		return nil, fail("a duration back from now (36h, 7d), an RFC 3339 time or 2006-01-02 15:04:05")
	case schema.KindDate:
		if d, ok := ago(s); ok {
			return civil.DateOf(now.Add(-d).UTC()), nil
		}
		if d, err := civil.ParseDate(s); err == nil {
			return d, nil
		}
		return nil, fail("a duration back from now (7d) or a date 2006-01-02")
	case schema.KindInt64, schema.KindYear, schema.KindBitInt64:
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, nil
		}
		return nil, fail("an integer")
	case schema.KindNumeric, schema.KindUint64Numeric:
		if r, ok := new(big.Rat).SetString(s); ok {
			return r, nil
		}
		return nil, fail("a number")
	case schema.KindFloat64:
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f, nil
		}
		return nil, fail("a number")
	case schema.KindFloat32:
		if f, err := strconv.ParseFloat(s, 32); err == nil {
			return float32(f), nil
		}
		return nil, fail("a number")
	case schema.KindString, schema.KindTextString, schema.KindDecimalString, schema.KindUint64String:
		return s, nil
	}
	return nil, inputf("--since: the version column %s of %s (%s) cannot order versions; use an integer, timestamp, date, numeric or string column", c.Source, p.Source, c.Column.ColumnType)
}

// ago parses a duration back from now: Go's ("36h", "90m") or days ("7d").
func ago(s string) (time.Duration, bool) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if d, err := strconv.Atoi(n); err == nil && d >= 0 {
			return time.Duration(d) * 24 * time.Hour, true
		}
		return 0, false
	}
	d, err := time.ParseDuration(s)
	return d, err == nil && d >= 0
}

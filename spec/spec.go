// Package spec owns the migration spec: the YAML file that says which MySQL
// tables go to which Spanner tables and how.
//
// The one idea: the spec is strict and secret-free. An unknown key is an error
// naming its line, and the MySQL password is never in the file, the DSN, a
// flag or a pipeline option; the spec only says where to fetch it (an
// environment variable, a file, or a Secret Manager version for Dataflow
// workers), and the fetch happens where the connection is opened, on the
// worker.
package spec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"gopkg.in/yaml.v3"

	"github.com/livemigrate/livemigrate/pii"
	"github.com/livemigrate/livemigrate/ratelimit"
	"github.com/livemigrate/livemigrate/secret"
)

// Spec is a whole migration: one source, one target, the tables to move.
type Spec struct {
	Source   Source   `yaml:"source" json:"source"`
	Target   Target   `yaml:"target" json:"target"`
	Defaults Defaults `yaml:"defaults" json:"defaults"`
	Tables   []Table  `yaml:"tables" json:"tables"`
	// Throttle is how fast the source may be read (package ratelimit).
	Throttle *ratelimit.Config `yaml:"throttle,omitempty" json:"throttle,omitempty"`
	// PII is how personal columns are protected (package pii).
	PII *pii.Config `yaml:"pii,omitempty" json:"pii,omitempty"`
}

// Source is the MySQL server the rows come from.
type Source struct {
	// DSN is a go-sql-driver DSN without a password, e.g.
	// "migrator@tcp(db.internal:3306)/shop". ${VAR} references are expanded.
	DSN string `yaml:"dsn" json:"dsn"`
	// PasswordEnv names an environment variable that holds the password.
	PasswordEnv string `yaml:"password_env,omitempty" json:"password_env,omitempty"`
	// PasswordFile names a file whose first line is the password.
	PasswordFile string `yaml:"password_file,omitempty" json:"password_file,omitempty"`
	// PasswordSecret names a Secret Manager version whose payload's first
	// line is the password: projects/P/secrets/S/versions/V. Each process
	// (launcher, Dataflow worker) fetches it itself, with its own
	// credentials. ${VAR} references are expanded.
	PasswordSecret string `yaml:"password_secret,omitempty" json:"password_secret,omitempty"`
	// TimeZone is the zone DATETIME values are read in (default UTC).
	TimeZone string `yaml:"time_zone,omitempty" json:"time_zone,omitempty"`
	// MaxConnections caps concurrent source connections per worker process
	// (nil: the default; the resolver rejects values below 1).
	MaxConnections *int `yaml:"max_connections,omitempty" json:"max_connections,omitempty"`
}

// Target is the Spanner database the rows go to.
type Target struct {
	// Database is projects/P/instances/I/databases/D. ${VAR} is expanded.
	Database string `yaml:"database" json:"database"`
}

// Defaults apply to every table unless the table overrides them.
type Defaults struct {
	WriteMode string `yaml:"write_mode,omitempty" json:"write_mode,omitempty"`
	// UnsignedBigint is "numeric" (default) or "string".
	UnsignedBigint string `yaml:"unsigned_bigint,omitempty" json:"unsigned_bigint,omitempty"`
	// Set is "array" (default) or "string".
	Set string `yaml:"set,omitempty" json:"set,omitempty"`
	// Bit is "bytes" (default) or "int64" for BIT(n>1).
	Bit      string    `yaml:"bit,omitempty" json:"bit,omitempty"`
	Chunking *Chunking `yaml:"chunking,omitempty" json:"chunking,omitempty"`
	// Fulltext is what a MySQL FULLTEXT index becomes: "skip" (default: not
	// created, with a warning) or "search" (TOKENLIST columns and a Spanner
	// SEARCH INDEX).
	Fulltext string `yaml:"fulltext,omitempty" json:"fulltext,omitempty"`
	// LargeIndexKeys decides indexes whose key can exceed Spanner's 8 KiB
	// key limit: "keep" (default) or "skip".
	LargeIndexKeys string `yaml:"large_index_keys,omitempty" json:"large_index_keys,omitempty"`
	// Acknowledge lists warning codes the operator has read; `plan --quiet`
	// hides them.
	Acknowledge []string `yaml:"acknowledge,omitempty" json:"acknowledge,omitempty"`
}

// Table maps one MySQL table to one Spanner table.
type Table struct {
	Source  string  `yaml:"source" json:"source"`
	Target  string  `yaml:"target,omitempty" json:"target,omitempty"`
	Columns Columns `yaml:"columns,omitempty" json:"columns,omitempty"`
	// VersionColumn names a source column whose value orders row versions
	// (e.g. updated_at DATETIME(6) or a counter) for the version write mode.
	VersionColumn string `yaml:"version_column,omitempty" json:"version_column,omitempty"`
	WriteMode     string `yaml:"write_mode,omitempty" json:"write_mode,omitempty"`
	// Key names a non-null unique key to chunk by when the table has no
	// primary key (its column list, in order).
	Key      []string  `yaml:"key,omitempty" json:"key,omitempty"`
	Chunking *Chunking `yaml:"chunking,omitempty" json:"chunking,omitempty"`
	// InterleaveIn names the source table this table is interleaved in
	// (INTERLEAVE IN PARENT); `plan --interleave` does it for every
	// suggested pair.
	InterleaveIn string `yaml:"interleave_in,omitempty" json:"interleave_in,omitempty"`
	// Acknowledge lists warning codes acknowledged for this table only.
	Acknowledge []string `yaml:"acknowledge,omitempty" json:"acknowledge,omitempty"`
}

// Columns selects and renames columns of a table.
type Columns struct {
	Include   []string                  `yaml:"include,omitempty" json:"include,omitempty"`
	Exclude   []string                  `yaml:"exclude,omitempty" json:"exclude,omitempty"`
	Rename    map[string]string         `yaml:"rename,omitempty" json:"rename,omitempty"`
	Overrides map[string]ColumnOverride `yaml:"overrides,omitempty" json:"overrides,omitempty"`
}

// ColumnOverride changes how one column maps.
type ColumnOverride struct {
	// Type forces the Spanner type, e.g. STRING(MAX).
	Type string `yaml:"type,omitempty" json:"type,omitempty"`
	// OnInvalid is "dead-letter" (default) or "null": what to do with a value
	// that cannot be converted.
	OnInvalid string `yaml:"on_invalid,omitempty" json:"on_invalid,omitempty"`
}

// Chunking sizes the primary-key chunks a table is split into.
// Unset fields are nil; package config resolves them (table > defaults >
// built-in) and rejects values below 1.
type Chunking struct {
	TargetRows *int   `yaml:"target_rows,omitempty" json:"target_rows,omitempty"`
	MaxBytes   *int64 `yaml:"max_bytes,omitempty" json:"max_bytes,omitempty"`
	PageRows   *int   `yaml:"page_rows,omitempty" json:"page_rows,omitempty"`
}

// Error is a spec problem: bad input the operator must fix.
type Error struct{ Msg string }

func (e *Error) Error() string { return e.Msg }

// BadInput marks the error as the operator's to fix (exit 2).
func (e *Error) BadInput() bool { return true }

func errf(format string, a ...any) error { return &Error{Msg: fmt.Sprintf(format, a...)} }

// Load reads and validates a local spec file (LoadWith reads gs:// too).
func Load(path string) (*Spec, error) { return LoadWith(path, nil) }

// ReadFunc reads a whole file by path or URL (gs://...).
type ReadFunc func(path string) ([]byte, error)

// LoadWith reads and validates a spec file; read, when set, reads paths
// with a scheme (gs://...), which a Flex Template launch passes. The CLI
// hands it Beam's filesystems; this package stays free of Beam.
func LoadWith(path string, read ReadFunc) (*Spec, error) {
	data, err := readSpec(path, read)
	if err != nil {
		return nil, errf("cannot read spec %s: %v", path, unwrapPathErr(err))
	}
	return Parse(path, data)
}

func readSpec(path string, read ReadFunc) ([]byte, error) {
	if !strings.Contains(path, "://") {
		return os.ReadFile(path)
	}
	if read == nil {
		return nil, fmt.Errorf("no reader for %s here; give a local path", path)
	}
	data, err := read(path)
	if err != nil {
		return nil, errors.New(strings.ReplaceAll(err.Error(), "\n", " "))
	}
	return data, nil
}

var yamlLine = regexp.MustCompile(`line (\d+): field (\S+) not found in type (\w+)\.(\w+)`)

// section names the spec section a Go type stands for in yaml's errors.
func section(pkg, typ string) string {
	switch pkg {
	case "ratelimit":
		if s, ok := ratelimit.YAMLSection(typ); ok {
			return s
		}
	case "pii":
		if s, ok := map[string]string{"Config": "pii", "Keyset": "pii.keyset", "Column": "a pii column (policy, reason, domain, value)"}[typ]; ok {
			return s
		}
	}
	return strings.ToLower(typ)
}

// Parse decodes a spec strictly: unknown keys are errors naming their line.
func Parse(name string, data []byte) (*Spec, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var s Spec
	if err := dec.Decode(&s); err != nil {
		if errors.Is(err, errEOF) || err.Error() == "EOF" {
			return nil, errf("spec %s is empty: it needs source, target and tables", name)
		}
		msg := err.Error()
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			return nil, errf("spec %s:%s: unknown key %q in %s; remove it or fix its spelling", name, m[1], m[2], section(m[3], m[4]))
		}
		msg = strings.TrimPrefix(msg, "yaml: ")
		msg = strings.ReplaceAll(msg, "\n", "; ")
		return nil, errf("spec %s: %s", name, msg)
	}
	if err := s.validate(); err != nil {
		return nil, errf("spec %s: %v", name, err)
	}
	return &s, nil
}

var errEOF = errors.New("EOF")

func (s *Spec) validate() error {
	s.Source.DSN = os.ExpandEnv(s.Source.DSN)
	s.Target.Database = os.ExpandEnv(s.Target.Database)
	s.Source.PasswordFile = os.ExpandEnv(s.Source.PasswordFile)
	s.Source.PasswordSecret = os.ExpandEnv(s.Source.PasswordSecret)
	if s.Source.DSN == "" {
		return errors.New("source.dsn is required, e.g. user@tcp(host:3306)/db")
	}
	cfg, err := mysql.ParseDSN(s.Source.DSN)
	if err != nil {
		return fmt.Errorf("source.dsn is not a valid MySQL DSN (%v); use user@tcp(host:port)/db", redactDSNErr(err))
	}
	if cfg.Passwd != "" {
		return errors.New("source.dsn contains a password; remove it and set source.password_env or source.password_file")
	}
	if cfg.DBName == "" {
		return errors.New("source.dsn names no database; end it with /dbname")
	}
	if n := countSet(s.Source.PasswordEnv, s.Source.PasswordFile, s.Source.PasswordSecret); n > 1 {
		return errors.New("source: set one of password_env, password_file, password_secret, not several")
	}
	if s.Source.PasswordSecret != "" {
		if err := secret.CheckName("source.password_secret", s.Source.PasswordSecret); err != nil {
			return err
		}
	}
	if s.Source.TimeZone != "" {
		if _, err := time.LoadLocation(s.Source.TimeZone); err != nil {
			return fmt.Errorf("source.time_zone %q is not a known IANA zone; use e.g. UTC or Europe/Berlin", s.Source.TimeZone)
		}
	}
	if !dbPath.MatchString(s.Target.Database) {
		return fmt.Errorf("target.database %q must look like projects/P/instances/I/databases/D", s.Target.Database)
	}
	if len(s.Tables) == 0 {
		return errors.New("tables is empty; list at least one table with source: NAME")
	}
	if err := oneOf("defaults.write_mode", s.Defaults.WriteMode, "", WriteInsertIfAbsent, WriteVersion); err != nil {
		return err
	}
	if err := oneOf("defaults.unsigned_bigint", s.Defaults.UnsignedBigint, "", "numeric", "string"); err != nil {
		return err
	}
	if err := oneOf("defaults.set", s.Defaults.Set, "", "array", "string"); err != nil {
		return err
	}
	if err := oneOf("defaults.bit", s.Defaults.Bit, "", "bytes", "int64"); err != nil {
		return err
	}
	if err := oneOf("defaults.fulltext", s.Defaults.Fulltext, "", FulltextSkip, FulltextSearch); err != nil {
		return err
	}
	if err := oneOf("defaults.large_index_keys", s.Defaults.LargeIndexKeys, "", LargeKeysKeep, LargeKeysSkip); err != nil {
		return err
	}
	seenSrc := map[string]bool{}
	seenDst := map[string]bool{}
	for i := range s.Tables {
		t := &s.Tables[i]
		if t.Source == "" {
			return fmt.Errorf("tables[%d].source is required", i)
		}
		if t.Target == "" {
			t.Target = t.Source
		}
		if seenSrc[t.Source] {
			return fmt.Errorf("table %q is listed twice", t.Source)
		}
		if seenDst[strings.ToLower(t.Target)] {
			return fmt.Errorf("target table %q is used twice", t.Target)
		}
		seenSrc[t.Source], seenDst[strings.ToLower(t.Target)] = true, true
		if len(t.Columns.Include) > 0 && len(t.Columns.Exclude) > 0 {
			return fmt.Errorf("table %q: columns.include and columns.exclude cannot both be set", t.Source)
		}
		if err := oneOf(fmt.Sprintf("table %q write_mode", t.Source), t.WriteMode, "", WriteInsertIfAbsent, WriteVersion); err != nil {
			return err
		}
		if (t.WriteMode == WriteVersion || (t.WriteMode == "" && s.Defaults.WriteMode == WriteVersion)) && t.VersionColumn == "" {
			return fmt.Errorf("table %q: write_mode version needs version_column", t.Source)
		}
		for c, o := range t.Columns.Overrides {
			if err := oneOf(fmt.Sprintf("table %q column %q on_invalid", t.Source, c), o.OnInvalid, "", "dead-letter", "null"); err != nil {
				return err
			}
		}
	}
	if s.PII != nil {
		s.PII.ExpandEnv()
		if err := s.PII.Validate(); err != nil {
			return err
		}
		for name := range s.PII.Tables {
			if !seenDst[strings.ToLower(name)] {
				return fmt.Errorf("pii.tables.%s: no entry in tables has this target (Spanner) name; policies are keyed by the Spanner table name", name)
			}
		}
	}
	if s.Throttle != nil {
		if err := s.Throttle.Validate(); err != nil {
			return err
		}
	}
	return nil
}

// FULLTEXT and large-index-key choices.
const (
	FulltextSkip   = "skip"
	FulltextSearch = "search"
	LargeKeysKeep  = "keep"
	LargeKeysSkip  = "skip"
)

// Write modes.
const (
	WriteInsertIfAbsent = "insert-if-absent"
	WriteVersion        = "version"
)

var dbPath = regexp.MustCompile(`^projects/[^/]+/instances/[^/]+/databases/[^/]+$`)

func oneOf(field, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("%s is %q; use one of %s", field, v, strings.Join(allowed[1:], ", "))
}

func countSet(vals ...string) int {
	n := 0
	for _, v := range vals {
		if v != "" {
			n++
		}
	}
	return n
}

// Password fetches the source password from where the spec says. It is
// called where a connection is opened (on the launcher to introspect, on
// every worker to read), never at pipeline construction, so the value is
// never part of a pipeline option or a DoFn.
func (s Source) Password(ctx context.Context) (string, error) {
	switch {
	case s.PasswordSecret != "":
		data, err := secret.Access(ctx, s.PasswordSecret)
		if err != nil {
			return "", fmt.Errorf("source.password_secret: %w", err)
		}
		return secret.FirstLine(data), nil
	case s.PasswordEnv != "":
		v, ok := os.LookupEnv(s.PasswordEnv)
		if !ok {
			return "", errf("source.password_env names %s, which is not set; export it before running", s.PasswordEnv)
		}
		return v, nil
	case s.PasswordFile != "":
		b, err := os.ReadFile(s.PasswordFile)
		if err != nil {
			return "", errf("source.password_file: %v", unwrapPathErr(err))
		}
		return strings.TrimRight(strings.SplitN(string(b), "\n", 2)[0], "\r"), nil
	}
	return "", nil
}

// Location is the time zone DATETIME values are read in.
func (s Source) Location() *time.Location {
	if s.TimeZone == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(s.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// Database is the database name in the DSN.
func (s Source) Database() string {
	cfg, err := mysql.ParseDSN(s.DSN)
	if err != nil {
		return ""
	}
	return cfg.DBName
}

func unwrapPathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %v", pe.Path, pe.Err)
	}
	return err
}

func redactDSNErr(err error) string { return strings.SplitN(err.Error(), ":", 2)[0] }

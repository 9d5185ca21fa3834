package spec

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/memfs"

	"github.com/livemigrate/livemigrate/internal/fakesecrets"
	"github.com/livemigrate/livemigrate/pii"
	"github.com/livemigrate/livemigrate/secret"
)

const valid = `source:
  dsn: user@tcp(127.0.0.1:3306)/shop
  password_env: SHOP_PW
target:
  database: projects/p/instances/i/databases/d
tables:
  - source: orders
    target: Orders
    columns:
      exclude: [secret]
      rename: {created_at: CreatedAt}
`

const piiSection = `pii:
  keyset:
    kms_key_uri: gcp-kms://projects/p/locations/global/keyRings/r/cryptoKeys/k
    file: keys.json
  tables:
    Orders:
      email: deterministic
      phone: {policy: encrypt}
      sku: {policy: none, reason: "public product code"}
      note: {policy: redact, value: "[removed]"}
`

// TestParsePII: the pii section decodes into pii.Config, short and long
// forms alike, and is validated with the rest of the spec.
func TestParsePII(t *testing.T) {
	s, err := Parse("x.yaml", []byte(valid+piiSection))
	if err != nil {
		t.Fatal(err)
	}
	cols := s.PII.Tables["Orders"]
	if s.PII.Keyset.File != "keys.json" || cols["email"].Policy != pii.PolicyDeterministic || cols["phone"].Policy != pii.PolicyEncrypt ||
		cols["sku"].Reason != "public product code" || *cols["note"].Value != "[removed]" {
		t.Fatalf("pii section: %+v", s.PII)
	}
	// A table's target name compares case-insensitively, as Spanner's do.
	if _, err := Parse("x.yaml", []byte(valid+strings.Replace(piiSection, "    Orders:", "    orders:", 1))); err != nil {
		t.Fatal(err)
	}
}

func TestParseValid(t *testing.T) {
	s, err := Parse("x.yaml", []byte(valid))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Tables[0]; got.Target != "Orders" || got.WriteMode != "" || got.Columns.Rename["created_at"] != "CreatedAt" {
		t.Fatalf("unexpected table %+v", got)
	}
	if s.Source.Database() != "shop" {
		t.Fatalf("database = %q", s.Source.Database())
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown top key", valid + "extra: 1\n", `x.yaml:12: unknown key "extra" in spec`},
		{"unknown table key", strings.Replace(valid, "    target: Orders\n", "    target: Orders\n    colums: {}\n", 1), `x.yaml:9: unknown key "colums" in table`},
		{"unknown source key", strings.Replace(valid, "  password_env: SHOP_PW\n", "  password_env: SHOP_PW\n  pasword: x\n", 1), `x.yaml:4: unknown key "pasword" in source`},
		{"inline password", strings.Replace(valid, "user@tcp", "user:hunter2@tcp", 1), "contains a password"},
		{"no database in dsn", strings.Replace(valid, "/shop", "/", 1), "names no database"},
		{"bad target", strings.Replace(valid, "projects/p/instances/i/databases/d", "d", 1), "must look like projects/P/instances/I/databases/D"},
		{"no tables", strings.SplitN(valid, "tables:", 2)[0], "tables is empty"},
		{"bad write mode", valid + "defaults:\n  write_mode: blind\n", `write_mode is "blind"`},
		{"version without column", strings.Replace(valid, "    target: Orders\n", "    target: Orders\n    write_mode: version\n", 1), "needs version_column"},
		{"duplicate table", valid + "  - source: orders\n", "listed twice"},
		{"include and exclude", strings.Replace(valid, "      exclude: [secret]\n", "      exclude: [secret]\n      include: [id]\n", 1), "cannot both be set"},
		{"bad zone", strings.Replace(valid, "  password_env: SHOP_PW\n", "  password_env: SHOP_PW\n  time_zone: Mars/Olympus\n", 1), "not a known IANA zone"},
		{"empty", "", "is empty"},
		{"pii unknown key", valid + piiSection + "  keyz: 1\n", `x.yaml:22: unknown key "keyz" in pii;`},
		{"pii unknown column key", strings.Replace(valid+piiSection, "policy: none,", "polcy: none,", 1), `x.yaml:20: unknown key "polcy" in a pii column (policy, reason, domain, value)`},
		{"pii unknown keyset key", strings.Replace(valid+piiSection, "    file: keys.json", "    fille: keys.json", 1), `x.yaml:15: unknown key "fille" in pii.keyset`},
		{"pii unknown policy", strings.Replace(valid+piiSection, "email: deterministic", "email: encrpyt", 1), `pii.tables.Orders.email: unknown policy "encrpyt"`},
		{"pii none without reason", strings.Replace(valid+piiSection, `reason: "public product code"`, `reason: ""`, 1), "pii.tables.Orders.sku: policy none needs a reason"},
		{"pii unknown table", strings.Replace(valid+piiSection, "    Orders:", "    orderz:", 1), "pii.tables.orderz: no entry in tables has this target (Spanner) name"},
		{"unknown throttle key", valid + "throttle:\n  max_load: 1\n", `x.yaml:13: unknown key "max_load" in throttle;`},
		{"unknown cpu key", valid + "throttle:\n  cpu:\n    maxx: 3\n", `x.yaml:14: unknown key "maxx" in throttle.cpu;`},
		{"unknown proc key", valid + "throttle:\n  cpu:\n    proc:\n      pidfile: x\n", `x.yaml:15: unknown key "pidfile" in throttle.cpu.proc;`},
		{"unknown custom key", valid + "throttle:\n  custom:\n    - name: q\n      qurey: x\n", `x.yaml:15: unknown key "qurey" in throttle.custom;`},
		{"throttle bad duration", valid + "throttle:\n  sample_interval: fast\n", `x.yaml: line 13: "fast" is not a duration; use e.g. 1s`},
		{"throttle bad thresholds", valid + "throttle:\n  threads_running: {max: 30, critical: 20}\n", `x.yaml: throttle.threads_running.critical (20) must be above max (30)`},
		{"throttle replica password", valid + "throttle:\n  replica_lag:\n    replicas: [\"u:hunter2@tcp(r:3306)/\"]\n", `throttle.replica_lag.replicas[0] contains a password`},
		{"two password sources", strings.Replace(valid, "  password_env: SHOP_PW\n", "  password_env: SHOP_PW\n  password_secret: projects/p/secrets/s/versions/1\n", 1), "set one of password_env, password_file, password_secret"},
		{"malformed secret name", strings.Replace(valid, "  password_env: SHOP_PW\n", "  password_secret: projects/p/secrets/s\n", 1), `source.password_secret "projects/p/secrets/s" must look like projects/PROJECT/secrets/NAME/versions/VERSION`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(c.yaml))
			if err == nil {
				t.Fatalf("no error, want %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not contain %q", err, c.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error is not one line: %q", err)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error leaks the password: %q", err)
			}
		})
	}
}

// TestParseThrottle: the throttle section decodes into ratelimit.Config.
func TestParseThrottle(t *testing.T) {
	s, err := Parse("x.yaml", []byte(valid+`throttle:
  rows_per_second: 20000
  max_connections: 12
  sample_interval: 500ms
  hibernate_limit: 2h
  cpu: {prometheus: "http://db:9100/metrics", max: 60}
  threads_running: {}
  replica_lag: {replicas: ["migrator@tcp(replica1:3306)/"]}
  custom:
    - {name: queue_depth, query: "SELECT COUNT(*) FROM jobs", max: 1000}
`))
	if err != nil {
		t.Fatal(err)
	}
	c := s.Throttle
	if c == nil || c.RowsPerSecond != 20000 || c.MaxConnections != 12 || c.SampleInterval.D() != 500*time.Millisecond ||
		c.HibernateLimit.D() != 2*time.Hour || c.CPU.Max != 60 || c.CPU.Prometheus != "http://db:9100/metrics" || c.ThreadsRunning == nil ||
		c.ReplicaLag.Replicas[0] != "migrator@tcp(replica1:3306)/" || c.Custom[0].Name != "queue_depth" || c.Custom[0].Max != 1000 {
		t.Fatalf("throttle %+v", c)
	}
	if d := c.WithDefaults(); d.ThreadsRunning.Max != 25 || d.CPU.Critical < 77.1 || d.CPU.Critical > 77.2 {
		t.Fatalf("defaults %+v %+v", d.ThreadsRunning, d.CPU)
	}
}

// TestLoadRemote reads a spec through Beam's filesystems (gs:// in
// production; the in-memory one here).
func TestLoadRemote(t *testing.T) {
	memfs.Write("memfs://specs/shop.yaml", []byte(valid))
	read := func(path string) ([]byte, error) {
		ctx := context.Background()
		fs, err := filesystem.New(ctx, path)
		if err != nil {
			return nil, err
		}
		defer fs.Close()
		return filesystem.Read(ctx, fs, path)
	}
	s, err := LoadWith("memfs://specs/shop.yaml", read)
	if err != nil {
		t.Fatal(err)
	}
	if s.Source.Database() != "shop" {
		t.Fatalf("database = %q", s.Source.Database())
	}
	if _, err := Load("memfs://specs/shop.yaml"); err == nil || !strings.Contains(err.Error(), "give a local path") {
		t.Fatalf("a remote path without a reader: %v", err)
	}
	if _, err := LoadWith("memfs://specs/missing.yaml", read); err == nil || !strings.Contains(err.Error(), "cannot read spec memfs://specs/missing.yaml") {
		t.Fatalf("missing remote spec: %v", err)
	}
}

func TestPasswordSecretParses(t *testing.T) {
	t.Setenv("LM_TEST_PROJECT", "prod-1")
	s, err := Parse("x.yaml", []byte(strings.Replace(valid, "  password_env: SHOP_PW\n", "  password_secret: projects/${LM_TEST_PROJECT}/secrets/shop/versions/latest\n", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if s.Source.PasswordSecret != "projects/prod-1/secrets/shop/versions/latest" {
		t.Fatalf("password_secret = %q", s.Source.PasswordSecret)
	}
}

func TestPasswordSources(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "pw")
	if err := os.WriteFile(f, []byte("s3cret\nignored\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if pw, err := (Source{PasswordFile: f}).Password(context.Background()); err != nil || pw != "s3cret" {
		t.Fatalf("file: %q %v", pw, err)
	}
	t.Setenv("LM_TEST_PW", "from-env")
	if pw, err := (Source{PasswordEnv: "LM_TEST_PW"}).Password(context.Background()); err != nil || pw != "from-env" {
		t.Fatalf("env: %q %v", pw, err)
	}
	_, err := (Source{PasswordEnv: "LM_TEST_PW_UNSET_X"}).Password(context.Background())
	if err == nil || !strings.Contains(err.Error(), "LM_TEST_PW_UNSET_X") {
		t.Fatalf("unset env: %v", err)
	}
	_, err = (Source{PasswordFile: filepath.Join(dir, "missing")}).Password(context.Background())
	if err == nil || !strings.Contains(err.Error(), "password_file") {
		t.Fatalf("missing file: %v", err)
	}
	const name = "projects/p/secrets/spec-test/versions/2"
	fake := fakesecrets.Start(t, map[string]string{name: "from-secret\n"})
	t.Setenv(secret.EndpointEnv, fake.Addr)
	if pw, err := (Source{PasswordSecret: name}).Password(context.Background()); err != nil || pw != "from-secret" {
		t.Fatalf("secret: %q %v", pw, err)
	}
	_, err = (Source{PasswordSecret: "projects/p/secrets/nope/versions/1"}).Password(context.Background())
	if err == nil || !strings.Contains(err.Error(), "source.password_secret: Secret Manager projects/p/secrets/nope/versions/1: NotFound") {
		t.Fatalf("missing secret: %v", err)
	}
}

func TestExampleSpecParses(t *testing.T) {
	t.Setenv("LM_MYSQL_USER", "u")
	t.Setenv("LM_MYSQL_ADDR", "127.0.0.1:1")
	t.Setenv("LM_MYSQL_PASSWORD_FILE", "/dev/null")
	t.Setenv("LM_SPANNER_DATABASE", "projects/p/instances/i/databases/d")
	s, err := Load("../testdata/demo/spec.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Tables) < 3 {
		t.Fatalf("demo spec has %d tables", len(s.Tables))
	}
}

// Package testenv gives integration tests the real local stack: a private
// MariaDB database and a Spanner emulator database per test, both dropped
// when the test ends.
//
// The one idea: tests never mock MySQL or Spanner. They need `make up`
// (which `make test` runs first) and read the stack's coordinates from the
// environment it writes (.stack/env); without it they fail with the command
// to run, rather than skip silently.
package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/livemigrate/livemigrate/spec"
)

// Stack is the local stack's coordinates.
type Stack struct {
	MySQLAddr    string
	MySQLUser    string
	PasswordFile string
	Socket       string
	Project      string
	Instance     string
	EmulatorHost string
	EmulatorREST string
	Root         string // repository root
}

// Load finds the stack, loading .stack/env when the variables are not set.
func Load(t testing.TB) *Stack {
	t.Helper()
	root := repoRoot()
	if os.Getenv("SPANNER_EMULATOR_HOST") == "" || os.Getenv("LM_MYSQL_ADDR") == "" {
		loadEnvFile(filepath.Join(root, ".stack", "env"))
	}
	s := &Stack{
		MySQLAddr:    os.Getenv("LM_MYSQL_ADDR"),
		MySQLUser:    os.Getenv("LM_MYSQL_USER"),
		PasswordFile: os.Getenv("LM_MYSQL_PASSWORD_FILE"),
		Socket:       os.Getenv("LM_MYSQL_SOCKET"),
		Project:      os.Getenv("LM_SPANNER_PROJECT"),
		Instance:     os.Getenv("LM_SPANNER_INSTANCE"),
		EmulatorHost: os.Getenv("SPANNER_EMULATOR_HOST"),
		EmulatorREST: os.Getenv("LM_SPANNER_EMULATOR_REST"),
		Root:         root,
	}
	if s.MySQLAddr == "" || s.EmulatorHost == "" {
		t.Fatalf("local stack not running: run `make up` (or `make test`, which starts it)")
	}
	return s
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func loadEnvFile(path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "export "))
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		v = strings.Trim(v, `'"`)
		if os.Getenv(k) == "" {
			os.Setenv(k, v)
		}
	}
}

// Password reads the stack's MySQL password.
func (s *Stack) Password(t testing.TB) string {
	b, err := os.ReadFile(s.PasswordFile)
	if err != nil {
		t.Fatalf("read MySQL password file: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// Env is one test's private pair of databases.
type Env struct {
	*Stack
	Name      string  // MySQL database name == Spanner database id
	MySQL     *sql.DB // connected to Name, multiStatements enabled
	SpannerDB string  // projects/.../databases/Name
}

// New creates a fresh MySQL database and Spanner database for the test.
func New(t testing.TB) *Env {
	t.Helper()
	return newEnv(t, Load(t))
}

func newEnv(t testing.TB, s *Stack) *Env {
	t.Helper()
	b := make([]byte, 4)
	rand.Read(b)
	name := "t" + strings.ToLower(hex.EncodeToString(b)) + "_" + sanitize(t.Name())
	if len(name) > 29 {
		name = name[:29]
	}
	name = strings.TrimRight(name, "_-")
	admin := s.mysql(t, "")
	if _, err := admin.Exec("CREATE DATABASE `" + name + "` CHARACTER SET utf8mb4"); err != nil {
		t.Fatalf("create MySQL database: %v", err)
	}
	admin.Close()
	e := &Env{Stack: s, Name: name, MySQL: s.mysql(t, name),
		SpannerDB: fmt.Sprintf("projects/%s/instances/%s/databases/%s", s.Project, s.Instance, name)}
	s.createSpannerDB(t, name)
	t.Cleanup(func() {
		e.MySQL.Exec("DROP DATABASE `" + name + "`")
		e.MySQL.Close()
		s.dropSpannerDB(name)
	})
	return e
}

func sanitize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func (s *Stack) mysql(t testing.TB, dbName string) *sql.DB {
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr, cfg.DBName = s.MySQLUser, s.Password(t), "tcp", s.MySQLAddr, dbName
	cfg.MultiStatements = true
	cfg.ParseTime = false
	cfg.Params = map[string]string{"time_zone": "'+00:00'"}
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(); err != nil {
		t.Fatalf("connect to the stack's MySQL at %s: %v (run `make up`)", s.MySQLAddr, err)
	}
	return db
}

// Exec runs SQL statements (several per string allowed) in the test's
// MySQL database.
func (e *Env) Exec(t testing.TB, stmts ...string) {
	t.Helper()
	for _, q := range stmts {
		if _, err := e.MySQL.Exec(q); err != nil {
			t.Fatalf("MySQL: %v\n%s", err, q)
		}
	}
}

// Spec returns a spec for this env's databases with the given tables.
func (e *Env) Spec(tables ...spec.Table) *spec.Spec {
	return &spec.Spec{
		Source: spec.Source{DSN: fmt.Sprintf("%s@tcp(%s)/%s", e.MySQLUser, e.MySQLAddr, e.Name), PasswordFile: e.PasswordFile},
		Target: spec.Target{Database: e.SpannerDB},
		Tables: tables,
	}
}

// SpecYAML writes a spec file for this env's databases; extra is appended
// verbatim under the tables list (already indented YAML entries).
func (e *Env) SpecYAML(t testing.TB, tablesYAML string) string {
	t.Helper()
	body := fmt.Sprintf("source:\n  dsn: %s@tcp(%s)/%s\n  password_file: %s\ntarget:\n  database: %s\ntables:\n%s",
		e.MySQLUser, e.MySQLAddr, e.Name, e.PasswordFile, e.SpannerDB, tablesYAML)
	p := filepath.Join(t.TempDir(), "spec.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func (s *Stack) createSpannerDB(t testing.TB, name string) {
	t.Helper()
	url := fmt.Sprintf("%s/v1/projects/%s/instances/%s/databases", s.restURL(), s.Project, s.Instance)
	body := fmt.Sprintf(`{"createStatement":"CREATE DATABASE %s"}`, "`"+name+"`")
	for attempt := 0; ; attempt++ {
		resp, err := http.Post(url, "application/json", bytes.NewBufferString(body))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 || resp.StatusCode == 409 {
				return
			}
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		if attempt > 20 {
			t.Fatalf("create Spanner database %s: %v (run `make up`)", name, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (s *Stack) dropSpannerDB(name string) {
	url := fmt.Sprintf("%s/v1/projects/%s/instances/%s/databases/%s", s.restURL(), s.Project, s.Instance, name)
	req, _ := http.NewRequest(http.MethodDelete, url, nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
}

func (s *Stack) restURL() string {
	if s.EmulatorREST != "" {
		return s.EmulatorREST
	}
	host, _, _ := strings.Cut(s.EmulatorHost, ":")
	return "http://" + host + ":19020"
}

// Binary builds the livemigrate CLI once per test process and returns its
// path. It is statically linked (CGO_ENABLED=0), so on linux/amd64 it is
// also a valid worker binary.
func Binary(t testing.TB) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "livemigrate-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "livemigrate")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/livemigrate")
		cmd.Dir = repoRoot()
		// Built as `make worker` builds the Dataflow worker binary (minus the
		// explicit GOOS/GOARCH), so both share Go's build cache.
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// AppendFile appends text to the file at path and returns path.
func AppendFile(t testing.TB, path, text string) string {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	return path
}

// Context returns a context that ends with the test.
func Context(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Outages. A test that stops a server must not stop one that other tests
// (other packages run in parallel) are using, so it gets private servers of
// its own, started through scripts/stack.sh beside the stack's: a MariaDB
// on the stack's MySQL port + 5 (its data under $LM_STACK_DIR/outage-mysql)
// and an emulator on the stack's gRPC/HTTP ports + 5. Stop and Start go
// through stack.sh too, which only ever touches the pids it recorded, and
// Start returns once the server answers.

// Private is a private server of one test, which it may stop and start.
type Private struct {
	t     testing.TB
	kind  string // "mysql" or "spanner"
	env   []string
	Addr  string // host:port clients use
	Stack *Stack // the stack's coordinates with this server in place of the shared one
}

func portPlus(addr string, n int) (string, int) {
	host, p, _ := strings.Cut(addr, ":")
	port, _ := strconv.Atoi(p)
	return host, port + n
}

func stackScript(s *Stack) string { return filepath.Join(s.Root, "scripts", "stack.sh") }

func stackDir(s *Stack) string {
	if d := os.Getenv("LM_STACK_DIR"); d != "" {
		return d
	}
	return filepath.Join(s.Root, ".stack")
}

// PrivateMySQL starts (or reuses) the test's own MariaDB; the test's
// cleanup stops it.
func PrivateMySQL(t testing.TB) *Private {
	t.Helper()
	s := Load(t)
	host, port := portPlus(s.MySQLAddr, 5)
	dir := filepath.Join(stackDir(s), "outage-mysql")
	p := &Private{t: t, kind: "mysql", Addr: fmt.Sprintf("%s:%d", host, port),
		env: []string{"STACK_DIR=" + dir, "MYSQL_PORT=" + strconv.Itoa(port)}}
	st := *s
	st.MySQLAddr, st.PasswordFile, st.Socket = p.Addr, filepath.Join(dir, "mysql.password"), filepath.Join(dir, "mysql.sock")
	p.Stack = &st
	p.Start()
	t.Cleanup(p.Stop)
	return p
}

// PrivateEmulator starts (or reuses) the test's own Spanner emulator and
// points this process (SPANNER_EMULATOR_HOST) at it for the test; the
// test's cleanup stops it. Being in memory, a restarted emulator is empty.
func PrivateEmulator(t testing.TB) *Private {
	t.Helper()
	s := Load(t)
	host, grpc := portPlus(s.EmulatorHost, 5)
	_, http := portPlus(strings.TrimPrefix(s.restURL(), "http://"), 5)
	p := &Private{t: t, kind: "spanner", Addr: fmt.Sprintf("%s:%d", host, grpc),
		env: []string{"STACK_DIR=" + stackDir(s), "SPANNER_GRPC_PORT=" + strconv.Itoa(grpc), "SPANNER_HTTP_PORT=" + strconv.Itoa(http), "SPANNER_EMULATOR_FLAGS="}}
	st := *s
	st.EmulatorHost, st.EmulatorREST = p.Addr, fmt.Sprintf("http://%s:%d", host, http)
	p.Stack = &st
	p.Start()
	t.Setenv("SPANNER_EMULATOR_HOST", st.EmulatorHost)
	t.Setenv("LM_SPANNER_EMULATOR_REST", st.EmulatorREST)
	t.Cleanup(p.Stop)
	return p
}

// Stop stops the server and returns once its port refuses connections.
func (p *Private) Stop() {
	p.t.Helper()
	p.stack("down-" + p.kind)
	for i := 0; i < 100; i++ {
		c, err := net.DialTimeout("tcp", p.Addr, 100*time.Millisecond)
		if err != nil {
			return
		}
		c.Close()
		time.Sleep(100 * time.Millisecond)
	}
	p.t.Fatalf("%s on %s still answers after stopping it", p.kind, p.Addr)
}

// Start starts the server and returns once it answers queries.
func (p *Private) Start() {
	p.t.Helper()
	p.stack("up-" + p.kind)
}

func (p *Private) stack(cmd string) {
	p.t.Helper()
	c := exec.Command(stackScript(p.Stack), cmd)
	c.Env = append(os.Environ(), p.env...)
	if out, err := c.CombinedOutput(); err != nil {
		p.t.Fatalf("scripts/stack.sh %s: %v\n%s", cmd, err, out)
	}
}

// NewOn creates the test's databases like New, with MySQL on the private
// server m (nil: the stack's) and Spanner on the private emulator sp (nil:
// the stack's).
func NewOn(t testing.TB, m, sp *Private) *Env {
	t.Helper()
	s := *Load(t)
	if m != nil {
		s.MySQLAddr, s.PasswordFile, s.Socket = m.Stack.MySQLAddr, m.Stack.PasswordFile, m.Stack.Socket
	}
	if sp != nil {
		s.EmulatorHost, s.EmulatorREST = sp.Stack.EmulatorHost, sp.Stack.EmulatorREST
	}
	return newEnv(t, &s)
}

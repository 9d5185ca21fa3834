// Package workerpool runs a Beam pipeline's SDK workers in processes of
// their own on Prism, for tests, the way Dataflow runs them.
//
// The one idea: in Prism's default loopback mode every DoFn runs inside the
// launching process, so a DoFn that leans on a global set by main, a
// closure or an unregistered type still works there and breaks only on
// Dataflow. A Pool is an external worker pool (Beam's
// BeamFnExternalWorkerPool service on a free localhost port); for every
// worker Prism asks for, it starts the Go SDK's own boot binary (the
// container entrypoint Dataflow runs), which fetches the staged worker
// binary from Prism and executes it with --worker=true — a fresh process
// that shares nothing with the launcher but the pipeline and its options.
// Run any pipeline under it with Flags(binary): the backfill, the verify
// job, or a test binary (see the package's tests for the negative control).
//
// Beam's own `boot --worker_pool` would do the pool's part too, but it
// listens on the fixed port 50000 and lets every worker share /tmp/staged
// and the boot process's working directory, so two test runs on one
// machine would collide; this pool gives every worker its own directory.
package workerpool

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	fnpb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/fnexecution_v1"
	"google.golang.org/grpc"
)

// BootPackage is the Go SDK's container boot program.
const BootPackage = "github.com/apache/beam/sdks/v2/go/container"

var (
	bootOnce sync.Once
	bootPath string
	bootErr  error
)

// Boot returns the path of the Go SDK's boot binary, built once per test
// process from the module's own Beam version (later builds come from Go's
// build cache).
func Boot(t testing.TB) string {
	t.Helper()
	bootOnce.Do(func() {
		dir, err := os.MkdirTemp("", "livemigrate-beam-boot")
		if err != nil {
			bootErr = err
			return
		}
		bootPath = filepath.Join(dir, "boot")
		cmd := exec.Command("go", "build", "-o", bootPath, BootPackage)
		cmd.Dir = repoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			bootErr = fmt.Errorf("go build %s: %v\n%s", BootPackage, err, out)
		}
	})
	if bootErr != nil {
		t.Fatal(bootErr)
	}
	return bootPath
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Options configure a pool.
type Options struct {
	// Env is what a worker's environment holds besides PATH, HOME and its
	// own TMPDIR. Like a Dataflow worker, a worker sees nothing of the
	// launcher's environment unless it is listed here (for example
	// SPANNER_EMULATOR_HOST, which stands for the real Spanner endpoint).
	Env []string
}

// Worker is one SDK worker the pool started.
type Worker struct {
	ID string
	// BootPID is the boot process; PID the worker binary it started
	// (0 until it is seen), Exe that process's executable.
	BootPID, PID int
	Exe          string
}

// Pool is a running external worker pool.
type Pool struct {
	fnpb.UnimplementedBeamFnExternalWorkerPoolServer

	// Addr is the pool's host:port, for --environment_config.
	Addr string

	boot string
	env  []string
	root string

	mu      sync.Mutex
	procs   map[string]*proc
	workers []*Worker
	out     lockedBuffer
}

type proc struct {
	cmd  *exec.Cmd
	w    *Worker
	done chan struct{}
}

// Start starts a pool that lives until the test ends; then every worker
// it started is killed and its files removed.
func Start(t testing.TB, o Options) *Pool {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Pool{Addr: lis.Addr().String(), boot: Boot(t), root: t.TempDir(), procs: map[string]*proc{}}
	p.env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, o.Env...)
	g := grpc.NewServer()
	fnpb.RegisterBeamFnExternalWorkerPoolServer(g, p)
	go g.Serve(lis)
	t.Cleanup(func() {
		g.Stop()
		p.stopAll()
	})
	return p
}

// Flags are the Beam flags that run a pipeline's workers in this pool, from
// the given worker binary (staged through Prism, as Dataflow stages it).
func (p *Pool) Flags(workerBinary string) []string {
	return []string{"--environment_type=EXTERNAL", "--environment_config=" + p.Addr, "--worker_binary=" + workerBinary}
}

// Workers lists the workers started so far.
func (p *Pool) Workers() []Worker {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Worker, len(p.workers))
	for i, w := range p.workers {
		out[i] = *w
	}
	return out
}

// Output is what the boot and worker processes printed.
func (p *Pool) Output() string { return p.out.String() }

// StartWorker starts the boot binary for one worker, as a Dataflow VM's
// container does.
func (p *Pool) StartWorker(_ context.Context, req *fnpb.StartWorkerRequest) (*fnpb.StartWorkerResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id := req.GetWorkerId()
	if _, ok := p.procs[id]; ok {
		return &fnpb.StartWorkerResponse{Error: fmt.Sprintf("worker %q already exists", id)}, nil
	}
	dir := filepath.Join(p.root, fmt.Sprintf("worker-%d", len(p.workers)))
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return &fnpb.StartWorkerResponse{Error: err.Error()}, nil
	}
	cmd := exec.Command(p.boot,
		"--id="+id,
		"--control_endpoint="+req.GetControlEndpoint().GetUrl(),
		"--artifact_endpoint="+req.GetArtifactEndpoint().GetUrl(),
		"--provision_endpoint="+req.GetProvisionEndpoint().GetUrl(),
		"--logging_endpoint="+req.GetLoggingEndpoint().GetUrl(),
		"--semi_persist_dir="+dir)
	cmd.Dir = dir // boot writes pipeline_options.json into its working directory
	cmd.Env = append(append([]string{}, p.env...), "TMPDIR="+filepath.Join(dir, "tmp"))
	cmd.Stdout, cmd.Stderr = &p.out, &p.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // boot and its worker, killed together
	if err := cmd.Start(); err != nil {
		return &fnpb.StartWorkerResponse{Error: fmt.Sprintf("start boot for worker %s: %v", id, err)}, nil
	}
	w := &Worker{ID: id, BootPID: cmd.Process.Pid}
	pr := &proc{cmd: cmd, w: w, done: make(chan struct{})}
	p.procs[id], p.workers = pr, append(p.workers, w)
	go func() {
		defer close(pr.done)
		p.watch(pr)
		cmd.Wait()
	}()
	return &fnpb.StartWorkerResponse{}, nil
}

// watch finds the worker binary boot starts (a child of boot) and records
// its pid and executable; it returns when found or when boot has exited.
func (p *Pool) watch(pr *proc) {
	bootExe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pr.w.BootPID))
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pr.w.BootPID)); err != nil {
			return
		}
		for _, pid := range children(pr.w.BootPID) {
			exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
			// Between fork and exec a child still runs boot's own binary:
			// wait for the exec.
			if err != nil || exe == bootExe {
				continue
			}
			p.mu.Lock()
			pr.w.PID, pr.w.Exe = pid, strings.TrimSuffix(exe, " (deleted)")
			p.mu.Unlock()
			return
		}
	}
}

func children(pid int) []int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var out []int
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, s := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(s); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// StopWorker kills one worker's boot and worker processes.
func (p *Pool) StopWorker(_ context.Context, req *fnpb.StopWorkerRequest) (*fnpb.StopWorkerResponse, error) {
	p.mu.Lock()
	pr, ok := p.procs[req.GetWorkerId()]
	p.mu.Unlock()
	if ok {
		p.kill(pr)
	}
	return &fnpb.StopWorkerResponse{}, nil
}

func (p *Pool) kill(pr *proc) {
	syscall.Kill(-pr.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-pr.done:
	case <-time.After(10 * time.Second):
	}
}

// stopAll kills every worker and removes the copy of the worker binary
// that boot leaves in /tmp/bin*/ for each of them.
func (p *Pool) stopAll() {
	p.mu.Lock()
	procs := make([]*proc, 0, len(p.procs))
	for _, pr := range p.procs {
		procs = append(procs, pr)
	}
	p.mu.Unlock()
	for _, pr := range procs {
		p.kill(pr)
		p.mu.Lock()
		exe := pr.w.Exe
		p.mu.Unlock()
		if dir := filepath.Dir(exe); exe != "" && strings.HasPrefix(dir, "/tmp/bin") && filepath.Base(exe) == "worker" {
			os.RemoveAll(dir)
		}
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

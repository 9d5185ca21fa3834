package ratelimit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// probe reads one measure of the source's load.
type probe interface {
	name() string
	unit() string
	limits() (max, critical float64)
	// read returns the current value, errWarming when a rate probe has no
	// history yet, or an error that makes the probe unreadable.
	read(ctx context.Context) (float64, error)
	close()
}

var errWarming = errors.New("warming up")

// probeConn is the one source connection SQL probes share. It is taken from
// Env.DB (a pool of its own, never the copy's) and kept, so probes are never
// starved by the copy; a broken connection is replaced on the next read.
type probeConn struct {
	db *sql.DB
	mu sync.Mutex
	c  *sql.Conn
}

func (p *probeConn) conn(ctx context.Context) (*sql.Conn, error) {
	if p.c != nil {
		return p.c, nil
	}
	c, err := p.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	p.c = c
	return c, nil
}

// do runs f on the probe connection; on an error the connection is
// dropped, so a killed or broken connection costs one reading, not all.
func (p *probeConn) do(ctx context.Context, f func(*sql.Conn) error) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, err := p.conn(ctx)
	if err != nil {
		return err
	}
	if err := f(c); err != nil {
		c.Close()
		p.c = nil
		return err
	}
	return nil
}

func (p *probeConn) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.c != nil {
		p.c.Close()
		p.c = nil
	}
}

// buildProbes makes the configured probes. cfg has its defaults.
func buildProbes(ctx context.Context, cfg Config, env Env, pc *probeConn) ([]probe, error) {
	var ps []probe
	needSQL := cfg.ThreadsRunning != nil || cfg.HistoryList != nil || cfg.Latency != nil || len(cfg.Custom) > 0 ||
		(cfg.ReplicaLag != nil && len(cfg.ReplicaLag.Replicas) == 0) ||
		(cfg.CPU != nil && cfg.CPU.Proc != nil && *cfg.CPU.Proc == ProcCPU{})
	if needSQL && pc == nil {
		return nil, errors.New("throttle: the configured probes query the source, but Env.DB is nil; pass a *sql.DB for the probes")
	}
	vcpus := 0
	if c := cfg.CPU; c != nil {
		switch {
		case c.Prometheus != "":
			p := newPromCPU(c.Prometheus, c.Max, c.Critical, cfg.SampleInterval.D(), cfg.ProbeTimeout.D())
			ps = append(ps, p)
			// The first scrape starts the rate window (and counts the vCPUs);
			// an error now is reported by the first sample.
			sctx, cancel := context.WithTimeout(ctx, cfg.ProbeTimeout.D())
			p.read(sctx)
			cancel()
			if cfg.ThreadsRunning != nil && cfg.ThreadsRunning.PerVCPU && cfg.ThreadsRunning.VCPUs == 0 {
				vcpus = p.cpus()
				if vcpus == 0 {
					return nil, fmt.Errorf("throttle.threads_running.per_vcpu: cannot count the source's vCPUs from %s; set threads_running.vcpus", redactURL(c.Prometheus))
				}
			}
		default:
			p, err := newProcCPU(ctx, *c.Proc, c.Max, c.Critical, cfg.SampleInterval.D(), pc)
			if err != nil {
				return nil, err
			}
			ps = append(ps, p)
			vcpus = numCPU()
		}
	}
	if c := cfg.ThreadsRunning; c != nil {
		div := 0
		if c.PerVCPU {
			div = c.VCPUs
			if div == 0 {
				div = vcpus
			}
		}
		ps = append(ps, &threadsRunning{pc: pc, max: c.Max, crit: c.Critical, perVCPU: div})
	}
	if c := cfg.ReplicaLag; c != nil {
		p := &replicaLag{max: c.Max, crit: c.Critical}
		if len(c.Replicas) == 0 {
			p.targets = []lagTarget{{label: "source", pc: pc}}
		}
		for _, dsn := range c.Replicas {
			db, err := openReplica(ctx, env, dsn)
			if err != nil {
				p.close()
				return nil, err
			}
			p.targets = append(p.targets, lagTarget{label: dsnHost(dsn), pc: &probeConn{db: db}, own: db})
		}
		ps = append(ps, p)
	}
	if c := cfg.HistoryList; c != nil {
		ps = append(ps, &historyList{pc: pc, max: c.Max, crit: c.Critical})
	}
	if c := cfg.Latency; c != nil {
		ps = append(ps, &latency{pc: pc, query: trimQuery(c.Query), max: c.Max, crit: c.Critical})
	}
	for _, c := range cfg.Custom {
		ps = append(ps, &custom{pc: pc, label: c.Name, query: trimQuery(c.Query), max: c.Max, crit: c.Critical})
	}
	return ps, nil
}

func trimQuery(q string) string { return strings.TrimRight(strings.TrimSpace(q), "; \n\t") }

// readAll reads every probe, each with its own timeout.
func readAll(ctx context.Context, ps []probe, timeout time.Duration) []reading {
	out := make([]reading, len(ps))
	for i, p := range ps {
		max, crit := p.limits()
		r := reading{Name: p.name(), Unit: p.unit(), Max: max, Critical: crit}
		rctx, cancel := context.WithTimeout(ctx, timeout)
		v, err := p.read(rctx)
		cancel()
		switch {
		case errors.Is(err, errWarming):
			r.Warming = true
		case err != nil:
			if rctx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
				err = fmt.Errorf("no answer within %s (throttle.probe_timeout)", timeout)
			}
			r.Err = oneLineErr(err)
		default:
			r.Value = v
		}
		out[i] = r
	}
	return out
}

func oneLineErr(err error) error {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return errors.New(s)
}

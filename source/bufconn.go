package source

import (
	"bufio"
	"context"
	"errors"
	"net"
	"syscall"
)

// readBufferSize is how much of the server's stream one read from the
// socket takes. The driver reads through a 4 KiB buffer of its own, so a
// page of rows cost one system call per 4 KiB (a tenth of the extraction's
// client CPU at 1M rows); reading the socket in 64 KiB pieces cuts that
// sixteenfold for one copy in memory.
const readBufferSize = 64 << 10

// dial opens a connection to the server whose reads are buffered
// (readBufferSize); everything else is the plain connection's.
func dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &bufConn{Conn: c, r: bufio.NewReaderSize(c, readBufferSize)}, nil
}

// bufConn is a connection with buffered reads. It still offers the
// socket (syscall.Conn) for the driver's liveness check of an idle pooled
// connection, which only looks at the socket when nothing is buffered:
// MySQL's protocol is request/response, so an idle connection has read
// every byte of its last response.
type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// errBuffered: bytes arrived that no request asked for, so the pool drops
// the connection (as the driver's own check does for unread bytes).
var errBuffered = errors.New("unexpected data buffered on an idle connection")

// SyscallConn is the socket's, for the driver's liveness check.
func (c *bufConn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok && c.r.Buffered() == 0 {
		return sc.SyscallConn()
	}
	return nil, errBuffered
}

// Package fakesecrets is a Secret Manager for tests: the real
// SecretManagerService gRPC service (AccessSecretVersion only) on a
// localhost port, serving the secrets a test gives it.
//
// The one idea: the production client (package secret) talks to it over
// gRPC exactly as it talks to Google, switched only by
// LM_SECRETMANAGER_ENDPOINT, so a test proves the worker's fetch path and
// can count how many processes asked.
package fakesecrets

import (
	"context"
	"hash/crc32"
	"net"
	"sync"
	"testing"

	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/livemigrate/livemigrate/secret"
)

// Server is a running fake Secret Manager.
type Server struct {
	secretmanagerpb.UnimplementedSecretManagerServiceServer

	// Addr is host:port of the gRPC server.
	Addr string

	mu      sync.Mutex
	secrets map[string][]byte
	denied  map[string]bool
	calls   map[string]int
}

// Start serves secrets (version name → payload) until the test ends.
func Start(t testing.TB, secrets map[string]string) *Server {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: lis.Addr().String(), secrets: map[string][]byte{}, denied: map[string]bool{}, calls: map[string]int{}}
	for k, v := range secrets {
		s.secrets[k] = []byte(v)
	}
	g := grpc.NewServer()
	secretmanagerpb.RegisterSecretManagerServiceServer(g, s)
	go g.Serve(lis)
	t.Cleanup(g.Stop)
	return s
}

// Env is the environment entry that points package secret at this server.
func (s *Server) Env() string { return secret.EndpointEnv + "=" + s.Addr }

// Deny makes every access to name fail with PermissionDenied.
func (s *Server) Deny(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denied[name] = true
}

// Calls is how many AccessSecretVersion requests named name.
func (s *Server) Calls(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[name]
}

// AccessSecretVersion serves a stored payload with its CRC32C, as Google does.
func (s *Server) AccessSecretVersion(_ context.Context, req *secretmanagerpb.AccessSecretVersionRequest) (*secretmanagerpb.AccessSecretVersionResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[req.GetName()]++
	if s.denied[req.GetName()] {
		return nil, status.Errorf(codes.PermissionDenied, "Permission 'secretmanager.versions.access' denied for resource '%s'", req.GetName())
	}
	data, ok := s.secrets[req.GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Secret Version [%s] not found.", req.GetName())
	}
	sum := int64(crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli)))
	return &secretmanagerpb.AccessSecretVersionResponse{
		Name:    req.GetName(),
		Payload: &secretmanagerpb.SecretPayload{Data: data, DataCrc32C: &sum},
	}, nil
}

// Package secret owns fetching a secret's value from Google Cloud Secret
// Manager, in the process that needs it, at the moment it needs it.
//
// The one idea: configuration carries only a secret's name — a Secret
// Manager version such as projects/P/secrets/S/versions/V, the same way a
// PII key travels as a KMS key URI — never its value. Each process (the
// launcher, every Dataflow worker) asks Secret Manager itself, once, with
// its own credentials, and keeps the value in memory; so a secret never
// rides in a flag, a pipeline option, a DoFn's payload, a log line or an
// error (errors name the resource, never the value).
//
// The client uses Application Default Credentials (a Dataflow worker's
// service account). For tests and emulators, LM_SECRETMANAGER_ENDPOINT
// (host:port) points it at a plaintext gRPC server without credentials.
package secret

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// EndpointEnv names the environment variable that points the client at a
// local Secret Manager (a fake or an emulator: plaintext gRPC, no
// credentials). It is for tests; production leaves it unset.
const EndpointEnv = "LM_SECRETMANAGER_ENDPOINT"

// fetchTimeout bounds one fetch, retries by the client included.
const fetchTimeout = 60 * time.Second

var versionName = regexp.MustCompile(`^projects/[^/]+/secrets/[^/]+/versions/[^/]+$`)

// CheckName reports whether name is a Secret Manager version resource;
// field names the setting in the error (e.g. "source.password_secret").
func CheckName(field, name string) error {
	if !versionName.MatchString(name) {
		return fmt.Errorf("%s %q must look like projects/PROJECT/secrets/NAME/versions/VERSION (VERSION may be latest)", field, name)
	}
	return nil
}

// Error is a failed fetch. It names the secret and the reason, never a
// value.
type Error struct {
	Name string
	Code codes.Code
	Msg  string
}

func (e *Error) Error() string {
	hint := ""
	switch e.Code {
	case codes.NotFound:
		hint = "; check the name and that the version exists"
	case codes.PermissionDenied, codes.Unauthenticated:
		hint = "; grant roles/secretmanager.secretAccessor on it to the service account (on Dataflow: the worker service account)"
	case codes.FailedPrecondition:
		hint = "; the version may be disabled or destroyed"
	}
	return fmt.Sprintf("Secret Manager %s: %s: %s%s", e.Name, e.Code, e.Msg, hint)
}

// BadInput marks errors the operator must fix (a wrong name, a missing
// permission) as bad input; an unavailable service is not.
func (e *Error) BadInput() bool {
	switch e.Code {
	case codes.NotFound, codes.PermissionDenied, codes.Unauthenticated, codes.InvalidArgument, codes.FailedPrecondition:
		return true
	}
	return false
}

var (
	mu    sync.Mutex
	cache = map[string][]byte{}
)

// Access returns the payload of the Secret Manager version name. The first
// call in a process fetches it (checking the payload's CRC32C when the
// server sends one); later calls return the cached value, so a worker that
// opens many connections asks once.
func Access(ctx context.Context, name string) ([]byte, error) {
	if err := CheckName("secret", name); err != nil {
		return nil, &Error{Name: name, Code: codes.InvalidArgument, Msg: "not a secret version name"}
	}
	mu.Lock()
	defer mu.Unlock()
	if v, ok := cache[name]; ok {
		return v, nil
	}
	v, err := fetch(ctx, name)
	if err != nil {
		return nil, err
	}
	cache[name] = v
	return v, nil
}

func fetch(ctx context.Context, name string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	var opts []option.ClientOption
	if ep := os.Getenv(EndpointEnv); ep != "" {
		conn, err := grpc.NewClient(ep, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return nil, &Error{Name: name, Code: codes.InvalidArgument, Msg: fmt.Sprintf("%s=%s: %v", EndpointEnv, ep, err)}
		}
		defer conn.Close()
		opts = append(opts, option.WithGRPCConn(conn))
	}
	c, err := secretmanager.NewClient(ctx, opts...)
	if err != nil {
		return nil, &Error{Name: name, Code: codes.Unauthenticated, Msg: oneLine(err.Error())}
	}
	defer c.Close()
	resp, err := c.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: name})
	if err != nil {
		if st, ok := status.FromError(err); ok {
			return nil, &Error{Name: name, Code: st.Code(), Msg: oneLine(st.Message())}
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, &Error{Name: name, Code: codes.DeadlineExceeded, Msg: "no answer within " + fetchTimeout.String()}
		}
		return nil, &Error{Name: name, Code: codes.Unknown, Msg: oneLine(err.Error())}
	}
	data := resp.GetPayload().GetData()
	if sum := resp.GetPayload().DataCrc32C; sum != nil && int64(crc32.Checksum(data, crc32.MakeTable(crc32.Castagnoli))) != *sum {
		return nil, &Error{Name: name, Code: codes.DataLoss, Msg: "payload checksum mismatch"}
	}
	return data, nil
}

// FirstLine is a password read from a secret's payload: its first line,
// without the line ending (a secret created with `echo pw | gcloud secrets
// versions add --data-file=-` ends in a newline that is not part of the
// password). The same rule applies to source.password_file.
func FirstLine(data []byte) string {
	s, _, _ := strings.Cut(string(data), "\n")
	return strings.TrimSuffix(s, "\r")
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

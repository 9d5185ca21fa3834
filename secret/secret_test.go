package secret_test

import (
	"context"
	"strings"
	"testing"

	"github.com/livemigrate/livemigrate/internal/fakesecrets"
	"github.com/livemigrate/livemigrate/secret"
)

const canary = "pw-CANARY-7f3a9c\n"

// TestAccessThroughGRPC fetches secrets from a fake Secret Manager over
// gRPC on localhost with the production client: the value arrives, a
// second access in the process is served from the cache, and every
// failure names the resource and never a value.
func TestAccessThroughGRPC(t *testing.T) {
	const (
		good   = "projects/p/secrets/db-password/versions/3"
		denied = "projects/p/secrets/other/versions/latest"
		absent = "projects/p/secrets/missing/versions/1"
	)
	fake := fakesecrets.Start(t, map[string]string{good: canary, denied: canary})
	fake.Deny(denied)
	t.Setenv(secret.EndpointEnv, fake.Addr)
	ctx := context.Background()

	for i := 0; i < 3; i++ {
		v, err := secret.Access(ctx, good)
		if err != nil {
			t.Fatal(err)
		}
		if string(v) != canary || secret.FirstLine(v) != strings.TrimSpace(canary) {
			t.Fatalf("payload %q, first line %q", v, secret.FirstLine(v))
		}
	}
	if n := fake.Calls(good); n != 1 {
		t.Fatalf("Secret Manager was asked %d times; the process cache should ask once", n)
	}

	for _, c := range []struct {
		name, want string
		badInput   bool
	}{
		{absent, "NotFound", true},
		{denied, "roles/secretmanager.secretAccessor", true},
		{"projects/p/secrets/s", "not a secret version name", true},
	} {
		_, err := secret.Access(ctx, c.name)
		if err == nil {
			t.Fatalf("%s: no error", c.name)
		}
		msg := err.Error()
		if !strings.Contains(msg, c.name) || !strings.Contains(msg, c.want) || strings.Contains(msg, "\n") {
			t.Fatalf("%s: error %q should be one line naming the secret and %q", c.name, msg, c.want)
		}
		if strings.Contains(msg, "CANARY") {
			t.Fatalf("error leaks the value: %q", msg)
		}
		if be, ok := err.(interface{ BadInput() bool }); !ok || be.BadInput() != c.badInput {
			t.Fatalf("%s: BadInput should be %v", c.name, c.badInput)
		}
	}
	// A failed fetch is not cached: once granted, the next access works.
	if n := fake.Calls(absent); n != 1 {
		t.Fatalf("absent secret asked %d times", n)
	}
}

func TestCheckName(t *testing.T) {
	for name, ok := range map[string]bool{
		"projects/p/secrets/s/versions/1":      true,
		"projects/p/secrets/s/versions/latest": true,
		"projects/p/secrets/s":                 false,
		"s":                                    false,
		"projects//secrets/s/versions/1":       false,
		"projects/p/secrets/s/versions/1/x":    false,
	} {
		if err := secret.CheckName("source.password_secret", name); (err == nil) != ok {
			t.Errorf("CheckName(%q) = %v", name, err)
		}
	}
}

func TestFirstLine(t *testing.T) {
	for in, want := range map[string]string{"a\n": "a", "a\r\nb": "a", "a": "a", "": "", "\nx": ""} {
		if got := secret.FirstLine([]byte(in)); got != want {
			t.Errorf("FirstLine(%q) = %q, want %q", in, got, want)
		}
	}
}

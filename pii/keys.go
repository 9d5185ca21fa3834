package pii

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/tink-crypto/tink-go-gcpkms/v2/integration/gcpkms"
	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/daead"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/prf"
	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
	"github.com/tink-crypto/tink-go/v2/testing/fakekms"
	"github.com/tink-crypto/tink-go/v2/tink"
)

// A keyset file (`livemigrate keys create`) holds three Tink keysets, one
// per kind of primitive, because a Tink keyset holds keys of one primitive:
//
//	encrypt        AES256_GCM       Tink AEAD, TINK prefix (policy encrypt)
//	deterministic  AES256_SIV       Tink deterministic AEAD, TINK prefix (policy deterministic, key tokens)
//	hash           HMAC_SHA256_PRF  Tink PRF, 32-byte output (policy hash)
//
// With a KMS key, the file is an envelope: a fourth keyset, the
// key-encryption keyset "kek" (AES256_GCM), is wrapped by the KMS key, and
// the three keysets are wrapped by the kek, each with its purpose as
// associated data (a keyset moved to another slot fails to load). Loading
// therefore costs exactly one KMS call however many keysets there are, and
// rotation re-wraps the three keysets without calling KMS. In the
// development form (insecure_cleartext) the three keysets are stored in
// clear and there is no kek.
//
// Every ciphertext starts with Tink's 5-byte prefix naming the key id, so
// after a rotation (a new primary key; old keys stay enabled) values written
// before still decrypt. The hash keyset's output carries no key id: a
// rotated hash key gives different tokens for the same value.
const keysetFormat = "livemigrate-keyset-v1"

// Purposes: the three keysets of a keyset file.
const (
	PurposeEncrypt       = "encrypt"
	PurposeDeterministic = "deterministic"
	PurposeHash          = "hash"
)

// Purposes lists the keysets of a file, in file order.
var Purposes = []string{PurposeEncrypt, PurposeDeterministic, PurposeHash}

var kekAD = []byte("livemigrate keyset-encryption keyset v1")

func purposeAD(purpose string) []byte { return []byte("livemigrate keyset v1 " + purpose) }

func template(purpose string) *tinkpb.KeyTemplate {
	switch purpose {
	case PurposeEncrypt:
		return aead.AES256GCMKeyTemplate()
	case PurposeDeterministic:
		return daead.AESSIVKeyTemplate()
	case PurposeHash:
		return prf.HMACSHA256PRFKeyTemplate()
	}
	return nil
}

type keysetFile struct {
	Format            string          `json:"format"`
	InsecureCleartext bool            `json:"insecure_cleartext,omitempty"`
	KEK               json.RawMessage `json:"kek,omitempty"`
	Encrypt           json.RawMessage `json:"encrypt"`
	Deterministic     json.RawMessage `json:"deterministic"`
	Hash              json.RawMessage `json:"hash"`
}

func (f *keysetFile) slot(purpose string) *json.RawMessage {
	switch purpose {
	case PurposeEncrypt:
		return &f.Encrypt
	case PurposeDeterministic:
		return &f.Deterministic
	}
	return &f.Hash
}

// KMSFunc returns the KMS AEAD for a key URI. The default supports
// gcp-kms:// (Cloud KMS, application default credentials) and fake-kms://
// (Tink's test KMS, whose URI carries the key: tests only).
type KMSFunc func(ctx context.Context, uri string) (tink.AEADWithContext, error)

// ReadFileFunc reads a keyset file; the default is os.ReadFile. A backfill
// on Dataflow passes one that can read gs:// paths.
type ReadFileFunc func(ctx context.Context, path string) ([]byte, error)

// Option changes how New and the keyset functions reach the KMS and files.
type Option func(*options)

type options struct {
	kms      KMSFunc
	readFile ReadFileFunc
}

// WithKMS replaces the KMS lookup (tests count calls with it; another KMS
// can be plugged in).
func WithKMS(f KMSFunc) Option { return func(o *options) { o.kms = f } }

// WithReadFile replaces how keyset files are read.
func WithReadFile(f ReadFileFunc) Option { return func(o *options) { o.readFile = f } }

func buildOptions(opts []Option) options {
	o := options{kms: defaultKMS, readFile: func(_ context.Context, p string) ([]byte, error) { return os.ReadFile(p) }}
	for _, f := range opts {
		f(&o)
	}
	return o
}

func defaultKMS(ctx context.Context, uri string) (tink.AEADWithContext, error) {
	switch {
	case strings.HasPrefix(uri, fakeKMSPrefix):
		return fakekms.NewAEADWithContext(uri)
	case strings.HasPrefix(uri, "gcp-kms://"):
		c, err := gcpkms.NewClient(ctx, uri)
		if err != nil {
			return nil, err
		}
		a, err := c.GetAEAD(uri)
		if err != nil {
			c.Close()
			return nil, err
		}
		wc, ok := a.(tink.AEADWithContext)
		if !ok {
			c.Close()
			return nil, fmt.Errorf("Cloud KMS client has no context-aware AEAD")
		}
		return closingAEAD{wc, c}, nil
	}
	return nil, fmt.Errorf("unsupported KMS key URI scheme")
}

// closingAEAD is a KMS AEAD whose client is closed once the keyset is read.
type closingAEAD struct {
	tink.AEADWithContext
	c io.Closer
}

func (a closingAEAD) Close() error { return a.c.Close() }

// closeKMS releases a KMS AEAD's client, if it has one.
func closeKMS(a tink.AEADWithContext) {
	if c, ok := a.(io.Closer); ok {
		c.Close()
	}
}

// Keys are a keyset file's three keysets, loaded.
type Keys struct {
	Encrypt, Deterministic, Hash *keyset.Handle

	cleartext bool
	kekRaw    json.RawMessage
	kek       tink.AEAD
}

func (k *Keys) handle(purpose string) **keyset.Handle {
	switch purpose {
	case PurposeEncrypt:
		return &k.Encrypt
	case PurposeDeterministic:
		return &k.Deterministic
	}
	return &k.Hash
}

// CreateKeyset writes a new keyset file at path: a KMS-wrapped one when
// kmsURI is given, else (insecureCleartext) a development file with the
// keys in clear. It never overwrites an existing file.
func CreateKeyset(ctx context.Context, path, kmsURI string, insecureCleartext bool, opts ...Option) (*Keys, error) {
	o := buildOptions(opts)
	if err := checkSource(kmsURI, insecureCleartext); err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err == nil {
		return nil, errf("keyset file %s already exists; use `keys rotate` to add a key, or choose another path", path)
	}
	k := &Keys{cleartext: insecureCleartext}
	for _, p := range Purposes {
		h, err := keyset.NewHandle(template(p))
		if err != nil {
			return nil, fmt.Errorf("pii: generate %s keyset: %v", p, err)
		}
		*k.handle(p) = h
	}
	if !insecureCleartext {
		kms, err := o.kms(ctx, kmsURI)
		if err != nil {
			return nil, kmsErr(kmsURI, "reach", err)
		}
		defer closeKMS(kms)
		kekH, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
		if err != nil {
			return nil, fmt.Errorf("pii: generate key-encryption keyset: %v", err)
		}
		var buf bytes.Buffer
		if err := kekH.WriteWithContext(ctx, keyset.NewJSONWriter(&buf), kms, kekAD); err != nil {
			return nil, kmsErr(kmsURI, "encrypt with", err)
		}
		k.kekRaw = buf.Bytes()
		if k.kek, err = aead.New(kekH); err != nil {
			return nil, fmt.Errorf("pii: key-encryption keyset: %v", err)
		}
	}
	if err := k.write(path, true); err != nil {
		return nil, err
	}
	return k, nil
}

func checkSource(kmsURI string, insecureCleartext bool) error {
	switch {
	case kmsURI != "" && insecureCleartext:
		return errf("give a KMS key URI or ask for an insecure cleartext keyset, not both")
	case kmsURI == "" && !insecureCleartext:
		return errf("a KMS key URI is required (gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K); for local development only, an insecure cleartext keyset")
	case kmsURI != "":
		return checkKMSURI("KMS key URI", kmsURI)
	}
	return nil
}

// LoadKeys reads a keyset file: one KMS call for a wrapped file, none for a
// cleartext one. It fails closed, with an error that names the file and
// never holds key material.
func LoadKeys(ctx context.Context, ks Keyset, opts ...Option) (*Keys, error) {
	o := buildOptions(opts)
	path, cleartext := ks.File, false
	if ks.InsecureCleartextFile != "" {
		path, cleartext = ks.InsecureCleartextFile, true
	}
	if err := ks.validate(true); err != nil {
		return nil, err
	}
	data, err := o.readFile(ctx, path)
	if err != nil {
		return nil, errf("pii: cannot read keyset file %s: %v", path, pathErr(err))
	}
	var f keysetFile
	if err := json.Unmarshal(data, &f); err != nil || f.Format != keysetFormat {
		return nil, errf("pii: %s is not a livemigrate keyset file (create one with `livemigrate keys create`)", path)
	}
	switch {
	case cleartext && !f.InsecureCleartext:
		return nil, errf("pii: %s is a KMS-wrapped keyset; name it in pii.keyset.file with its kms_key_uri, not insecure_cleartext_file", path)
	case !cleartext && f.InsecureCleartext:
		return nil, errf("pii: %s is an INSECURE cleartext keyset; name it in pii.keyset.insecure_cleartext_file (development only) or create a KMS-wrapped one", path)
	}
	k := &Keys{cleartext: cleartext, kekRaw: f.KEK}
	if !cleartext {
		kms, err := o.kms(ctx, ks.KMSKeyURI)
		if err != nil {
			return nil, kmsErr(ks.KMSKeyURI, "reach", err)
		}
		defer closeKMS(kms)
		kekH, err := keyset.ReadWithContext(ctx, keyset.NewJSONReader(bytes.NewReader(f.KEK)), kms, kekAD)
		if err != nil {
			return nil, errf("pii: cannot unwrap keyset %s with KMS key %s: %s (wrong KMS key, no permission to decrypt, or the file was altered)", path, RedactURI(ks.KMSKeyURI), oneLine(err))
		}
		if k.kek, err = aead.New(kekH); err != nil {
			return nil, errf("pii: keyset %s: bad key-encryption keyset", path)
		}
	}
	for _, p := range Purposes {
		raw := *f.slot(p)
		if len(raw) == 0 {
			return nil, errf("pii: keyset file %s has no %s keyset", path, p)
		}
		var h *keyset.Handle
		if cleartext {
			h, err = insecurecleartextkeyset.Read(keyset.NewJSONReader(bytes.NewReader(raw)))
		} else {
			h, err = keyset.ReadWithAssociatedData(keyset.NewJSONReader(bytes.NewReader(raw)), k.kek, purposeAD(p))
		}
		if err != nil {
			return nil, errf("pii: keyset file %s: the %s keyset cannot be read (altered or moved between slots)", path, p)
		}
		*k.handle(p) = h
	}
	return k, nil
}

// RotateKeyset adds a new primary key to the named keysets of the file and
// keeps the old keys enabled, so values written before still decrypt. It
// returns the new key ids by purpose.
func RotateKeyset(ctx context.Context, ks Keyset, purposes []string, opts ...Option) (map[string]uint32, error) {
	k, err := LoadKeys(ctx, ks, opts...)
	if err != nil {
		return nil, err
	}
	ids := map[string]uint32{}
	for _, p := range purposes {
		if template(p) == nil {
			return nil, errf("unknown keyset %q; use encrypt, deterministic or hash", p)
		}
		m := keyset.NewManagerFromHandle(*k.handle(p))
		id, err := m.Add(template(p))
		if err != nil {
			return nil, fmt.Errorf("pii: add %s key: %v", p, err)
		}
		if err := m.SetPrimary(id); err != nil {
			return nil, fmt.Errorf("pii: promote %s key: %v", p, err)
		}
		h, err := m.Handle()
		if err != nil {
			return nil, fmt.Errorf("pii: %s keyset: %v", p, err)
		}
		*k.handle(p) = h
		ids[p] = id
	}
	path := ks.File
	if k.cleartext {
		path = ks.InsecureCleartextFile
	}
	return ids, k.write(path, false)
}

// KeyInfo describes one key without its material.
type KeyInfo struct {
	Keyset  string `json:"keyset"` // encrypt, deterministic, hash
	KeyID   uint32 `json:"key_id"`
	Primary bool   `json:"primary"`
	Status  string `json:"status"` // ENABLED, DISABLED, DESTROYED
	Type    string `json:"type"`   // e.g. AesGcmKey
	Prefix  string `json:"prefix"` // TINK (key id in every output) or RAW
}

// Describe lists the keys of every keyset.
func (k *Keys) Describe() []KeyInfo {
	var out []KeyInfo
	for _, p := range Purposes {
		info := (*k.handle(p)).KeysetInfo()
		for _, ki := range info.GetKeyInfo() {
			typ := ki.GetTypeUrl()
			typ = typ[strings.LastIndex(typ, ".")+1:]
			out = append(out, KeyInfo{Keyset: p, KeyID: ki.GetKeyId(), Primary: ki.GetKeyId() == info.GetPrimaryKeyId(),
				Status: ki.GetStatus().String(), Type: typ, Prefix: ki.GetOutputPrefixType().String()})
		}
	}
	return out
}

// Cleartext reports whether the keys were stored in clear.
func (k *Keys) Cleartext() bool { return k.cleartext }

func (k *Keys) write(path string, create bool) error {
	f := keysetFile{Format: keysetFormat, InsecureCleartext: k.cleartext, KEK: k.kekRaw}
	for _, p := range Purposes {
		var buf bytes.Buffer
		var err error
		if k.cleartext {
			err = insecurecleartextkeyset.Write(*k.handle(p), keyset.NewJSONWriter(&buf))
		} else {
			err = (*k.handle(p)).WriteWithAssociatedData(keyset.NewJSONWriter(&buf), k.kek, purposeAD(p))
		}
		if err != nil {
			return fmt.Errorf("pii: write %s keyset: %v", p, err)
		}
		*f.slot(p) = bytes.TrimSpace(buf.Bytes())
	}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(path, append(data, '\n'), create)
}

// writeAtomic writes through a temporary file and a rename, so a crash
// never leaves half a keyset; create refuses to replace an existing file.
func writeAtomic(path string, data []byte, create bool) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".keyset-*")
	if err != nil {
		return errf("pii: cannot write keyset file %s: %v", path, pathErr(err))
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return errf("pii: cannot write keyset file %s: %v", path, pathErr(err))
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if create {
		// Link fails if path exists: no race with another create.
		if err := os.Link(tmp.Name(), path); err != nil {
			return errf("pii: cannot create keyset file %s: %v", path, pathErr(err))
		}
		return nil
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return errf("pii: cannot replace keyset file %s: %v", path, pathErr(err))
	}
	return nil
}

func kmsErr(uri, what string, err error) error {
	return errf("pii: cannot %s KMS key %s: %s", what, RedactURI(uri), oneLine(err))
}

func pathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func oneLine(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/livemigrate/livemigrate/job"
	"github.com/livemigrate/livemigrate/pii"
	"github.com/livemigrate/livemigrate/pii/piispec"
)

// keysetFlags are the flags every keys command takes: the file and its KMS
// key, given directly or through the spec's pii.keyset.
type keysetFlags struct {
	file, uri, spec *string
	insecure        *bool
}

func addKeysetFlags(fs *pflag.FlagSet, insecureHelp string, withSpec bool) keysetFlags {
	f := keysetFlags{
		file:     fs.String("keyset", "", "keyset file (JSON)"),
		uri:      fs.String("kms-key-uri", "", "KMS key that wraps the keyset: gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K"),
		insecure: fs.Bool("insecure-cleartext", false, insecureHelp),
		spec:     new(string),
	}
	if withSpec {
		f.spec = fs.String("spec", "", "take the keyset file and KMS key from this spec's pii.keyset (--keyset and --kms-key-uri override them)")
	}
	return f
}

func (f keysetFlags) resolve() (pii.Keyset, error) {
	var ks pii.Keyset
	if *f.spec != "" {
		cfg, err := piispec.Load(*f.spec)
		if err != nil {
			return ks, err
		}
		ks = cfg.Keyset
		if ks == (pii.Keyset{}) {
			return ks, job.Input(fmt.Errorf("spec %s has no pii.keyset; give --keyset and --kms-key-uri", *f.spec))
		}
	}
	if *f.file != "" {
		if *f.insecure {
			ks = pii.Keyset{InsecureCleartextFile: *f.file}
		} else {
			ks.File, ks.InsecureCleartextFile = *f.file, ""
		}
	}
	if *f.uri != "" {
		ks.KMSKeyURI = *f.uri
	}
	if ks.File == "" && ks.InsecureCleartextFile == "" {
		return ks, job.Input(fmt.Errorf("--keyset FILE is required (or --spec with a pii.keyset)"))
	}
	if ks.File != "" && ks.KMSKeyURI == "" {
		// A development file says so itself; a wrapped one needs its key.
		var head struct {
			InsecureCleartext bool `json:"insecure_cleartext"`
		}
		if data, err := os.ReadFile(ks.File); err == nil && json.Unmarshal(data, &head) == nil && head.InsecureCleartext {
			ks = pii.Keyset{InsecureCleartextFile: ks.File}
		} else {
			return ks, job.Input(fmt.Errorf("--kms-key-uri is required: the KMS key that wraps %s", ks.File))
		}
	}
	if err := (&pii.Config{Keyset: ks}).Validate(); err != nil {
		return ks, err
	}
	return ks, nil
}

// inputErr marks pii configuration and keyset errors as bad input (exit 2).
func inputErr(err error) error {
	var pe *pii.Error
	if errors.As(err, &pe) {
		return job.Input(err)
	}
	return err
}

func keysCreateCmd(fs *pflag.FlagSet) func(ctx context.Context) error {
	f := addKeysetFlags(fs, "write the keys in CLEAR instead of wrapping them with a KMS key: local development only, never for real data", false)
	return func(ctx context.Context) error {
		if *f.file == "" {
			return job.Input(fmt.Errorf("--keyset FILE is required: where to write the new keyset"))
		}
		if *f.uri == "" && !*f.insecure {
			return job.Input(fmt.Errorf("--kms-key-uri is required (gcp-kms://projects/P/locations/L/keyRings/R/cryptoKeys/K); for local development only, --insecure-cleartext"))
		}
		k, err := pii.CreateKeyset(ctx, *f.file, *f.uri, *f.insecure)
		if err != nil {
			return inputErr(err)
		}
		printKeys(os.Stdout, *f.file, *f.uri, k)
		if *f.insecure {
			fmt.Fprintf(os.Stderr, "WARNING: %s holds the keys in clear; use it for local development only.\nspec:\n  pii:\n    keyset:\n      insecure_cleartext_file: %s\n", *f.file, *f.file)
		} else {
			fmt.Fprintf(os.Stderr, "created %s; in the spec:\n  pii:\n    keyset:\n      kms_key_uri: %s\n      file: %s\n", *f.file, pii.RedactURI(*f.uri), *f.file)
		}
		return nil
	}
}

func keysRotateCmd(fs *pflag.FlagSet) func(ctx context.Context) error {
	f := addKeysetFlags(fs, "the keyset file is an insecure cleartext one (development)", true)
	which := fs.String("keysets", pii.PurposeEncrypt, "keysets to rotate: encrypt, deterministic, hash or all (comma-separated). "+
		"deterministic and hash outputs change for equal values after their rotation: rotate them only when no migration or live writer relies on equality")
	return func(ctx context.Context) error {
		ks, err := f.resolve()
		if err != nil {
			return inputErr(err)
		}
		var purposes []string
		for _, p := range strings.Split(*which, ",") {
			switch p = strings.TrimSpace(p); p {
			case "all":
				purposes = append(purposes, pii.Purposes...)
			case pii.PurposeEncrypt, pii.PurposeDeterministic, pii.PurposeHash:
				purposes = append(purposes, p)
			default:
				return job.Input(fmt.Errorf("--keysets %q: use encrypt, deterministic, hash or all", p))
			}
		}
		ids, err := pii.RotateKeyset(ctx, ks, purposes)
		if err != nil {
			return inputErr(err)
		}
		k, err := pii.LoadKeys(ctx, ks)
		if err != nil {
			return inputErr(err)
		}
		printKeys(os.Stdout, keysetPath(ks), ks.KMSKeyURI, k)
		for _, p := range purposes {
			fmt.Fprintf(os.Stderr, "%s: new primary key %d; older keys stay enabled, so existing values still decrypt\n", p, ids[p])
			if p != pii.PurposeEncrypt {
				fmt.Fprintf(os.Stderr, "%s: equal values written from now on differ from those written before (joins, keys and lookups across the rotation no longer match)\n", p)
			}
		}
		return nil
	}
}

func keysShowCmd(fs *pflag.FlagSet) func(ctx context.Context) error {
	f := addKeysetFlags(fs, "the keyset file is an insecure cleartext one (development)", true)
	return func(ctx context.Context) error {
		ks, err := f.resolve()
		if err != nil {
			return inputErr(err)
		}
		k, err := pii.LoadKeys(ctx, ks)
		if err != nil {
			return inputErr(err)
		}
		printKeys(os.Stdout, keysetPath(ks), ks.KMSKeyURI, k)
		return nil
	}
}

func keysetPath(ks pii.Keyset) string {
	if ks.InsecureCleartextFile != "" {
		return ks.InsecureCleartextFile
	}
	return ks.File
}

// printKeys lists key ids, status and types; never key material.
func printKeys(w io.Writer, path, uri string, k *pii.Keys) {
	if k.Cleartext() {
		fmt.Fprintf(w, "keyset %s: INSECURE cleartext (development only)\n", path)
	} else {
		fmt.Fprintf(w, "keyset %s: wrapped by %s\n", path, pii.RedactURI(uri))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KEYSET\tKEY ID\tPRIMARY\tSTATUS\tTYPE\tOUTPUT PREFIX")
	for _, ki := range k.Describe() {
		primary := ""
		if ki.Primary {
			primary = "primary"
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", ki.Keyset, ki.KeyID, primary, ki.Status, ki.Type, ki.Prefix)
	}
	tw.Flush()
}

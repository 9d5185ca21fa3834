// Package piispec reads the `pii:` section of a migration spec file for an
// application that dual-writes through livewrite: the same policies and
// keys as the backfill, without linking the spec package (and through it
// the MySQL driver) into the application.
//
// The one idea: one file, two readers that agree. The section is decoded
// into the same pii.Config as spec.Load decodes it, with the same strictness
// (an unknown key under pii: is an error naming its line) and the same
// checks (Validate, and every pii table names a tables[] target); the rest
// of the file is the backfill's business and is not interpreted here.
package piispec

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/livemigrate/livemigrate/pii"
)

type document struct {
	PII    *pii.Config          `yaml:"pii"`
	Tables []tableNames         `yaml:"tables"`
	Rest   map[string]yaml.Node `yaml:",inline"`
}

type tableNames struct {
	Source string               `yaml:"source"`
	Target string               `yaml:"target"`
	Rest   map[string]yaml.Node `yaml:",inline"`
}

var yamlLine = regexp.MustCompile(`line (\d+): field (\S+) not found in type pii\.(\w+)`)

// Load reads the pii section of the spec file at path. A spec without one
// gives an empty Config: nothing is protected, as in the backfill.
func Load(path string) (*pii.Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &pii.Error{Msg: fmt.Sprintf("cannot read spec %s: %v", path, err)}
	}
	return Parse(path, data)
}

// Parse decodes the pii section of a spec document.
func Parse(name string, data []byte) (*pii.Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var d document
	if err := dec.Decode(&d); err != nil && err != io.EOF {
		msg := err.Error()
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			where := map[string]string{"Config": "pii", "Keyset": "pii.keyset", "Column": "a pii column (policy, reason, domain, value)"}[m[3]]
			return nil, &pii.Error{Msg: fmt.Sprintf("spec %s:%s: unknown key %q in %s; remove it or fix its spelling", name, m[1], m[2], where)}
		}
		msg = strings.ReplaceAll(strings.TrimPrefix(msg, "yaml: "), "\n", "; ")
		return nil, &pii.Error{Msg: fmt.Sprintf("spec %s: %s", name, msg)}
	}
	if d.PII == nil {
		return &pii.Config{}, nil
	}
	d.PII.ExpandEnv()
	if err := d.PII.Validate(); err != nil {
		return nil, &pii.Error{Msg: fmt.Sprintf("spec %s: %v", name, err)}
	}
	targets := map[string]bool{}
	for _, t := range d.Tables {
		n := t.Target
		if n == "" {
			n = t.Source
		}
		targets[strings.ToLower(n)] = true
	}
	for t := range d.PII.Tables {
		if !targets[strings.ToLower(t)] {
			return nil, &pii.Error{Msg: fmt.Sprintf("spec %s: pii.tables.%s: no entry in tables has this target (Spanner) name; policies are keyed by the Spanner table name", name, t)}
		}
	}
	return d.PII, nil
}

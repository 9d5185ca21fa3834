// Package template holds the Dataflow Flex Template (Dockerfile and
// metadata.json); this test checks them without Docker, and builds the image
// when a Docker engine answers.
package template

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/livemigrate/livemigrate/internal/testenv"
)

type instruction struct{ op, args string }

func dockerfile(t *testing.T) []instruction {
	t.Helper()
	f, err := os.Open("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []instruction
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		op, args, _ := strings.Cut(line, " ")
		out = append(out, instruction{strings.ToUpper(op), strings.TrimSpace(args)})
	}
	return out
}

// makeVar reads a `NAME ?= value` default from the Makefile.
func makeVar(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + name + `\s*\?=\s*(\S+)`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("Makefile has no %s ?= default", name)
	}
	return string(m[1])
}

// TestDockerfile checks what Google's Go Flex Template launcher needs: its
// base image and ENTRYPOINT, FLEX_TEMPLATE_GO_BINARY naming the copied
// binary, livemigrate's template switch, and that every COPY source exists
// or is what `make worker` (run by `make template`) builds and the
// .dockerignore lets through.
func TestDockerfile(t *testing.T) {
	ins := dockerfile(t)
	env := map[string]string{}
	copies := map[string]string{} // destination → source
	var from, entry string
	for _, in := range ins {
		switch in.op {
		case "FROM":
			from = in.args
		case "ENV":
			k, v, _ := strings.Cut(in.args, "=")
			env[k] = strings.Trim(v, `"`)
		case "COPY":
			f := strings.Fields(in.args)
			if len(f) != 2 {
				t.Fatalf("COPY %s: want one source and one destination", in.args)
			}
			copies[f[1]] = f[0]
		case "ENTRYPOINT":
			entry = in.args
		}
	}
	if !strings.HasPrefix(from, "gcr.io/dataflow-templates-base/go-template-launcher-base") {
		t.Errorf("FROM %q: the Go Flex Template launcher base image is gcr.io/dataflow-templates-base/go-template-launcher-base", from)
	}
	if entry != `["/opt/google/dataflow/go_template_launcher"]` {
		t.Errorf("ENTRYPOINT %s: must be the launcher, [\"/opt/google/dataflow/go_template_launcher\"]", entry)
	}
	bin := env["FLEX_TEMPLATE_GO_BINARY"]
	if bin == "" {
		t.Fatalf("ENV FLEX_TEMPLATE_GO_BINARY is not set; the Go launcher needs it")
	}
	if _, ok := copies[bin]; !ok {
		t.Errorf("FLEX_TEMPLATE_GO_BINARY=%s is not a COPY destination (copies: %v)", bin, copies)
	}
	src, err := os.ReadFile("../cmd/livemigrate/template.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`FlexTemplateEnv = "(\w+)"`).FindSubmatch(src)
	if m == nil || env[string(m[1])] == "" {
		t.Errorf("the image must set the CLI's template switch (FlexTemplateEnv in cmd/livemigrate/template.go); ENV: %v", env)
	}
	worker := makeVar(t, "WORKER_BIN")
	ignore, _ := os.ReadFile("../.dockerignore")
	for _, s := range copies {
		if s == worker {
			if !strings.Contains(string(ignore), "!"+worker) {
				t.Errorf(".dockerignore must let %s through", worker)
			}
			continue
		}
		if _, err := os.Stat(filepath.Join("..", s)); err != nil {
			t.Errorf("COPY %s: %v (not in the repository, and not the make worker output %s)", s, err, worker)
		}
	}
}

// TestMetadata checks metadata.json: what Dataflow requires of every
// parameter, regexes that compile, and that every parameter is a flag the
// CLI accepts (template parameters arrive as --name=value).
func TestMetadata(t *testing.T) {
	data, err := os.ReadFile("metadata.json")
	if err != nil {
		t.Fatal(err)
	}
	var md struct {
		Name        string `json:"name"`
		Description string `json:"description"`
		Parameters  []struct {
			Name, Label, HelpText string
			IsOptional            bool
			Regexes               []string
		} `json:"parameters"`
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&md); err != nil {
		t.Fatalf("metadata.json: %v", err)
	}
	if md.Name == "" || len(md.Parameters) == 0 {
		t.Fatalf("metadata.json needs a name and parameters")
	}
	help, err := exec.Command(testenv.Binary(t), "backfill", "--help").Output()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, p := range md.Parameters {
		if p.Name == "" || p.Label == "" || p.HelpText == "" {
			t.Errorf("parameter %+v: name, label and helpText are required", p)
		}
		if seen[p.Name] {
			t.Errorf("parameter %s listed twice", p.Name)
		}
		seen[p.Name] = true
		for _, re := range p.Regexes {
			if _, err := regexp.Compile(re); err != nil {
				t.Errorf("parameter %s: regex %q: %v", p.Name, re, err)
			}
		}
		if p.Name == "command" {
			continue
		}
		if flag := "--" + strings.ReplaceAll(p.Name, "_", "-"); !strings.Contains(string(help), flag+" ") {
			t.Errorf("parameter %s: backfill has no flag %s", p.Name, flag)
		}
	}
	for _, req := range []string{"command", "spec", "dead_letter"} {
		if !seen[req] {
			t.Errorf("parameter %s is missing", req)
		}
	}
}

// TestImageBuilds runs `make template` when a Docker engine answers; this
// machine and CI usually have none, and then the build is skipped.
func TestImageBuilds(t *testing.T) {
	if err := exec.Command("docker", "info").Run(); err != nil {
		t.Skip("no Docker engine answers (docker info failed): the image build is skipped; TestDockerfile checked the files")
	}
	cmd := exec.Command("make", "template", "TEMPLATE_IMAGE=livemigrate-flex-template:test", "WORKER_BIN="+filepath.Join("bin", "livemigrate-worker-linux-amd64"))
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make template: %v\n%s", err, out)
	}
}

package pii_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies: the application links pii (through livewrite) and may
// link piispec; neither may bring in the MySQL driver, and pii no YAML.
func TestDependencies(t *testing.T) {
	for pkg, banned := range map[string][]string{
		"github.com/livemigrate/livemigrate/pii":         {"yaml", "go-sql-driver", "livemigrate/spec", "livemigrate/schema", "apache/beam"},
		"github.com/livemigrate/livemigrate/pii/piispec": {"go-sql-driver", "livemigrate/spec", "livemigrate/schema", "apache/beam"},
	} {
		out, err := exec.Command("go", "list", "-deps", pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list: %v\n%s", err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, b := range banned {
				if strings.Contains(dep, b) {
					t.Errorf("%s depends on %s", pkg, dep)
				}
			}
		}
	}
}

package main

// Running as a Dataflow Flex Template. The template image (template/)
// sets FlexTemplateEnv; Google's Go template launcher then starts this
// binary with the launch's parameters as flags, --name=value, and no
// subcommand. templateArgs turns that into an ordinary command line.

import (
	"os"
	"strings"

	"github.com/spf13/pflag"
)

// FlexTemplateEnv is set (to any value) in the Flex Template image.
const FlexTemplateEnv = "LIVEMIGRATE_FLEX_TEMPLATE"

// templateArgs rewrites a Flex Template launch — the parameters as flags,
// with --command=backfill|verify among them — into
// "COMMAND flags…", adding what a launch needs unless the parameters say
// otherwise: --runner=dataflow; --execute_async (the launcher must return
// once the job is submitted; progress is read with livemigrate status);
// and this very binary as --worker_binary (the image holds the linux/amd64
// build). Outside a template (on is false) args are returned unchanged.
func templateArgs(args []string, on bool) []string {
	if !on || (len(args) > 0 && !strings.HasPrefix(args[0], "-")) {
		return args
	}
	command := ""
	var rest []string
	has := map[string]bool{}
	for _, a := range args {
		name, val, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name == "command" {
			command = val
			continue
		}
		has[name] = true
		rest = append(rest, a)
	}
	if command == "" {
		command = "help"
	}
	out := append([]string{command}, rest...)
	if !has["runner"] {
		out = append(out, "--runner=dataflow")
	}
	if !has["execute_async"] && !has["async"] {
		out = append(out, "--execute_async")
	}
	if !has["worker_binary"] {
		if self, err := os.Executable(); err == nil {
			out = append(out, "--worker_binary="+self)
		}
	}
	return out
}

// templateFlagNames accepts a command's own flags spelled with underscores
// (--dead_letter for --dead-letter): template parameter names are
// identifiers, while Beam's flags already use underscores.
func templateFlagNames(fs *pflag.FlagSet, args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if !strings.HasPrefix(a, "--") {
			continue
		}
		name, val, hasVal := strings.Cut(a[2:], "=")
		if fs.Lookup(name) != nil || !strings.Contains(name, "_") {
			continue
		}
		if alt := strings.ReplaceAll(name, "_", "-"); fs.Lookup(alt) != nil {
			out[i] = "--" + alt
			if hasVal {
				out[i] += "=" + val
			}
		}
	}
	return out
}

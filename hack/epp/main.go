// Command eppflags checks endpoint-picker (EPP) argument lists with the EPP's own flag set: the
// Options of sigs.k8s.io/gateway-api-inference-extension/pkg/epp/server at the version go.mod pins,
// registered, parsed, completed and validated exactly as cmd/epp's runner does before it starts.
//
// It reads a JSON array of argv arrays on stdin and writes one JSON object per argv:
// {"ok": bool, "error": string, "flags": {name: value} of the flags the argv set}.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/pflag"

	runserver "sigs.k8s.io/gateway-api-inference-extension/pkg/epp/server"
)

type verdict struct {
	OK    bool              `json:"ok"`
	Error string            `json:"error"`
	Flags map[string]string `json:"flags"`
}

func check(argv []string) verdict {
	opts := runserver.NewOptions()
	fs := pflag.NewFlagSet("epp", pflag.ContinueOnError)
	fs.SetOutput(nopWriter{})
	opts.AddFlags(fs)
	if err := fs.Parse(argv); err != nil {
		return verdict{Error: err.Error()}
	}
	if fs.NArg() > 0 {
		return verdict{Error: fmt.Sprintf("unexpected arguments: %v", fs.Args())}
	}
	if err := opts.Complete(); err != nil {
		return verdict{Error: err.Error()}
	}
	if err := opts.Validate(); err != nil {
		return verdict{Error: err.Error()}
	}
	set := map[string]string{}
	fs.Visit(func(f *pflag.Flag) { set[f.Name] = f.Value.String() })
	return verdict{OK: true, Flags: set}
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }

func main() {
	var argvs [][]string
	if err := json.NewDecoder(os.Stdin).Decode(&argvs); err != nil {
		fmt.Fprintln(os.Stderr, "eppflags: stdin is not a JSON array of argv arrays:", err)
		os.Exit(2)
	}
	out := make([]verdict, 0, len(argvs))
	for _, argv := range argvs {
		out = append(out, check(argv))
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		os.Exit(1)
	}
}

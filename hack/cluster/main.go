// Command localkube is one multicall binary holding the local test cluster's
// processes: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok
// and the LeaderWorkerSet controller (lws-controller). Each is the upstream
// command, called through its own constructor (lws-controller: a copy of its
// main, see lws.go); one binary links the shared Kubernetes packages once.
//
// The component is chosen by the program name (a symlink named after it) or,
// failing that, by the first argument:
//
//	localkube kube-apiserver --etcd-servers=...
//	kube-apiserver --etcd-servers=...   (symlink to localkube)
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// components maps a component name to its entry point. args[0] is the
// component name, args[1:] its flags, as the upstream main would see them.
var components = map[string]func(args []string) int{
	"etcd":                    runEtcd,
	"kube-apiserver":          runAPIServer,
	"kube-controller-manager": runControllerManager,
	"kube-scheduler":          runScheduler,
	"kwok":                    runKwok,
	"lws-controller":          runLWS,
}

func usage() {
	names := make([]string, 0, len(components))
	for name := range components {
		names = append(names, name)
	}
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, "usage: localkube COMPONENT [FLAGS...]\n\ncomponents: %s\n", strings.Join(names, ", "))
}

func main() {
	name := filepath.Base(os.Args[0])
	args := os.Args
	if _, ok := components[name]; !ok {
		if len(os.Args) < 2 {
			usage()
			os.Exit(2)
		}
		name = os.Args[1]
		args = os.Args[1:]
	}
	run, ok := components[name]
	if !ok {
		if name == "-h" || name == "--help" || name == "help" {
			usage()
			os.Exit(0)
		}
		fmt.Fprintf(os.Stderr, "localkube: unknown component %q\n", name)
		usage()
		os.Exit(2)
	}
	// Upstream commands read os.Args (cobra's default) or take args explicitly;
	// make both see the component as the program.
	os.Args = args
	os.Exit(run(args))
}

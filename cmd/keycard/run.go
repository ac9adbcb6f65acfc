package main

import (
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"
)

// version is set at link time by the Makefile.
var version = "dev"

type command struct {
	name, args, help string
	run              func(args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"compile", "POLICY... [-o FILE] [--format binary|json|dump]", "compile a policy into a decision table or a filter configuration", cmdCompile},
		{"check", "POLICY...", "check a policy and print its errors and warnings", cmdCheck},
		{"explain", "POLICY METHOD HOST PATH [--level N] [--roles a,b] [--no-token]", "show which service and rule a request matches, and the decision", cmdExplain},
		{"test", "PATH...", "run the policy's test cases (*.cases.yaml)", cmdTest},
		{"render", "kong|envoy POLICY --sidecar HOST:PORT [-o DIR] [--upstream SERVICE=HOST:PORT]...", "write the gateway configuration, the filter configuration and the module", cmdRender},
		{"dev", "POLICY [--upstream SERVICE=URL]... [--redis URL] [--listen ADDR] [--demo]", "a local gateway running the real filter in wazero, with the sidecar and an embedded Redis", cmdDev},
		{"token", "POLICY [--sub S] [--level N] [--roles a,b] [--ttl D] [--issuer NAME] [--key FILE]", "mint a test token for one of the policy's issuers", cmdToken},
		{"sidecar", "--redis-url URL | --redis-addrs A,B (--sentinel-master M | --cluster) --admin-key KEY [--listen ADDR]", "serve token state from Redis to the filter, and the business API", cmdSidecar},
		{"version", "", "print the version", cmdVersion},
	}
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "keycard: unknown command %q\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "keycard: policy-as-code for API gateways\n\nUsage:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  keycard %s %s\n      %s\n", c.name, c.args, c.help)
	}
}

// parseArgs parses flags wherever they appear among the positional
// arguments (keycard compile policies/ -o a.kct).
func parseArgs(fs *flag.FlagSet, args []string, stderr io.Writer) ([]string, bool) {
	fs.SetOutput(stderr)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, false
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, true
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), true
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func cmdVersion(args []string, stdout, stderr io.Writer) int {
	rev := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = " " + s.Value[:12]
			}
		}
	}
	fmt.Fprintf(stdout, "keycard %s%s (table format v1, config v1)\n", version, rev)
	return 0
}

func fail(stderr io.Writer, err error) int {
	fmt.Fprintln(stderr, "keycard:", strings.TrimPrefix(err.Error(), "keycard: "))
	return 1
}

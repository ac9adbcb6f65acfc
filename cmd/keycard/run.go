package main

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/keycard-gw/keycard/sidecar/envflag"
)

// version is set at link time by the Makefile.
var version = "dev"

type command struct {
	name, args, help, example string
	run                       func(args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"compile", "POLICY... [-o FILE] [--format binary|json|dump]", "compile a policy into a decision table or a filter configuration", "KEYCARD_GATEWAY_KEY=... keycard compile policies/ --format json --gateway kong -o keycard.json", cmdCompile},
		{"check", "POLICY...", "check a policy and print its errors and warnings", "keycard check policies/", cmdCheck},
		{"explain", "POLICY METHOD HOST PATH [--level N] [--roles a,b] [--no-token] [--origin URL [--request-method M] [--request-headers a,b]]", "show which service and rule a request matches, and the decision", "keycard explain policies/ GET a.shop.example /admin/users --level 1", cmdExplain},
		{"diff", "OLD NEW [--format text|markdown|json] [--exit-code], or REV REV -- POLICY...", "list every request whose decision changes between two policies, and every setting that changes", "keycard diff main HEAD -- policies/ --format markdown", cmdDiff},
		{"test", "PATH...", "run the policy's test cases (*.cases.yaml)", "keycard test policies/", cmdTest},
		{"render", strings.Join(renderTargets, "|") + renderUsage, "write the gateway configuration, the filter configuration and the module", "KEYCARD_GATEWAY_KEY=... keycard render kong policies/ --sidecar keycard-sidecar:8181 --resolver 10.96.0.10 -o deploy/kong", cmdRender},
		{"dev", "POLICY [--upstream SERVICE=URL]... [--redis URL] [--listen ADDR] [--demo]", "a local gateway running the real filter in wazero, with the sidecar and an embedded Redis", "keycard dev policies/ --demo", cmdDev},
		{"token", "POLICY [--sub S] [--level N] [--roles a,b] [--ttl D] [--issuer NAME] [--key FILE]", "mint a test token for one of the policy's issuers", "keycard token policies/ --sub 13000000001 --level 2", cmdToken},
		{"sidecar", "--redis-url URL | --redis-addrs A,B (--sentinel-master M | --cluster) --admin-key KEY --gateway-key KEY [--listen ADDR]", "serve token state from Redis to the filter, and the business API", "KEYCARD_ADMIN_KEY=... KEYCARD_GATEWAY_KEY=... keycard sidecar --redis-url redis://127.0.0.1:6379/0 --listen 127.0.0.1:8181", cmdSidecar},
		{"image", "build [-o DIR] | push REF [--insecure]", "build the filter's OCI image (Istio's and Envoy Gateway's Wasm image format) or push it", "keycard image push registry.example.com/keycard/filter:v1", cmdImage},
		{"version", "", "print the version", "keycard version", cmdVersion},
		{"completion", "bash|zsh|fish", "print a shell completion script", "source <(keycard completion bash)", cmdCompletion},
	}
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version") {
		return cmdVersion(nil, stdout, stderr)
	}
	if len(args) == 2 && args[0] == "help" {
		return run([]string{args[1], "--help"}, stdout, stderr)
	}
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
// arguments (keycard compile policies/ -o a.kct). -h and --help print the
// command's help to stdout (exitCode then gives 0).
func parseArgs(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) ([]string, bool) {
	fs.SetOutput(stderr)
	fs.Usage = func() { commandHelp(stderr, fs) }
	for _, a := range args {
		if a == "--" {
			break
		}
		if isHelp(a) {
			helped[fs] = true
			fs.SetOutput(stdout)
			commandHelp(stdout, fs)
			return nil, false
		}
	}
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, false
		}
		args = fs.Args()
		if len(args) == 0 || args[0] == "--" {
			if len(args) > 0 {
				pos = append(pos, args[1:]...)
			}
			if err := envflag.Apply(fs); err != nil {
				fmt.Fprintf(stderr, "keycard %s: %v\n", fs.Name(), err)
				return nil, false
			}
			return pos, true
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// parseUsage is parseArgs for a command whose arguments valid judges
// (after the flags are parsed, so it may read them too): when it refuses
// them, usage is printed and the status is a usage error's. When ok is
// false the command returns code.
func parseUsage(fs *flag.FlagSet, args []string, stdout, stderr io.Writer, valid func(pos []string) bool, usage string) (pos []string, code int, ok bool) {
	pos, ok = parseArgs(fs, args, stdout, stderr)
	switch {
	case !ok:
		return nil, exitCode(fs), false
	case !valid(pos):
		fmt.Fprintln(stderr, usage)
		return nil, 2, false
	}
	return pos, 0, true
}

// someArgs is parseUsage's judge for a command that needs one or more
// positional arguments (the policy's paths).
func someArgs(pos []string) bool { return len(pos) > 0 }

// isHelp reports whether an argument asks for help.
func isHelp(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

// helped records the flag sets whose command was asked for help.
var helped = map[*flag.FlagSet]bool{}

// exitCode is a command's exit status when parseArgs did not let it
// run: 0 after --help, 2 for a usage error.
func exitCode(fs *flag.FlagSet) int {
	if helped[fs] {
		return 0
	}
	return 2
}

// commandHelp prints a command's synopsis, what it does, its flags and an
// example.
func commandHelp(w io.Writer, fs *flag.FlagSet) {
	name := strings.Fields(fs.Name())[0]
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		fmt.Fprintf(w, "Usage: keycard %s %s\n\n%s.\n\nFlags:\n", c.name, c.args, strings.ToUpper(c.help[:1])+c.help[1:])
		any := false
		fs.VisitAll(func(*flag.Flag) { any = true })
		if any {
			fs.PrintDefaults()
		} else {
			fmt.Fprintln(w, "  (none)")
		}
		if c.example != "" {
			fmt.Fprintf(w, "\nExample:\n  %s\n", c.example)
		}
		return
	}
	fs.PrintDefaults()
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
	v := version
	if v == "dev" {
		v = "(development build)"
	}
	module := "filter module: none embedded (built from the checkout, or --wasm)"
	if len(embeddedModule) > 0 {
		sum := sha256.Sum256(embeddedModule)
		module = fmt.Sprintf("filter module: sha256 %x (%d bytes, embedded)", sum, len(embeddedModule))
	}
	return writeOrFail(stdout, stderr, fmt.Sprintf("keycard version %s%s (table format v1, config v1)\n%s\n", v, rev, module))
}

func fail(stderr io.Writer, err error) int {
	fmt.Fprintln(stderr, "keycard:", strings.TrimPrefix(err.Error(), "keycard: "))
	return 1
}

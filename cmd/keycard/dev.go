package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/keycard-gw/keycard/internal/devgw"
)

func cmdDev(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8000", "gateway address")
	redisURL := fs.String("redis", "", "Redis URL (default: an embedded Redis)")
	workers := fs.Int("workers", 2, "filter VMs (requests run through one at a time each)")
	wasmFile := fs.String("wasm", "", "a filter module to run instead of this keycard's own")
	demo := fs.Bool("demo", false, "prepare the example policy's demo tokens and print curl lines")
	providerListen := fs.String("provider-listen", "", "where to serve the demo OpenID provider of the example's issuer "+devgw.DemoIssuer+" (default: that address; tokens then carry the address taken)")
	caFile := fs.String("ca-file", "", "PEM file of CA certificates trusted for fetching the policy's key sets, besides the system's")
	ups := upstreams{}
	fs.Var(ups, "upstream", "SERVICE=URL of a service's upstream (repeatable; default: a demo echo service)")
	paths, code, ok := parseUsage(fs, args, stdout, stderr, someArgs, "usage: keycard dev POLICY [--upstream SERVICE=URL]... [--redis URL] [--listen ADDR] [--demo]")
	if !ok {
		return code
	}
	if *workers < 1 || *workers > 64 {
		fmt.Fprintf(stderr, "keycard dev: --workers %d: give 1 to 64 filter VMs\n", *workers)
		return 2
	}
	// A module the user names is loaded as it is; otherwise this
	// keycard's own (embedded, or built from the checkout).
	var wasm []byte
	var err error
	if flagSet(fs, "wasm") {
		wasm, err = os.ReadFile(*wasmFile)
	} else {
		wasm, err = filterModule()
		*wasmFile = "(the module of this keycard)"
	}
	if err != nil {
		return fail(stderr, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	g, err := devgw.Start(ctx, devgw.Options{Policy: paths, Wasm: wasm, Upstreams: ups, RedisURL: *redisURL, Listen: *listen, Workers: *workers, Log: log, AccessLog: stderr, ProviderListen: *providerListen, CAFile: *caFile})
	if err != nil {
		return fail(stderr, err)
	}
	defer g.Close()
	fmt.Fprintf(stdout, "keycard dev: gateway on http://%s, policy %s, filter %s in wazero (%d VMs)\n", g.Addr, g.Result.Config.Policy, *wasmFile, *workers)
	fmt.Fprintf(stdout, "sidecar (business API) on %s, admin key %s\n", g.SidecarURL, g.AdminKey)
	for _, name := range slices.Sorted(maps.Keys(g.Providers)) {
		p := g.Providers[name]
		fmt.Fprintf(stdout, "demo OpenID provider of issuer %s on %s (its certificate: %s)\n", name, p.URL, g.CertFile)
		if p.URL != devgw.DemoIssuer {
			fmt.Fprintf(stdout, "  served in place of the policy's %s (--provider-listen): its tokens carry iss %s, and the filter and sidecar take that\n", devgw.DemoIssuer, p.URL)
		}
	}
	if *demo {
		scenarios, err := g.Demo(ctx)
		if err != nil {
			return fail(stderr, fmt.Errorf("--demo shows Keycard's example policy (policies/ of the repository), and cannot prepare it for policy %s: %v", g.Result.Config.Policy, err))
		}
		if wrong := g.Check(scenarios); len(wrong) > 0 {
			return fail(stderr, fmt.Errorf("--demo shows Keycard's example policy (policies/ of the repository); for policy %s, %d of its %d lines would print another status than they claim (%s): run keycard dev without --demo", g.Result.Config.Policy, len(wrong), len(scenarios), strings.Join(wrong, "; ")))
		}
		fmt.Fprintln(stdout, "\nTry these (each prints the status it claims):")
		for _, s := range scenarios {
			fmt.Fprintf(stdout, "\n# %s: %d %s\n%s\n", s.Name, s.Status, s.Reason, s.Curl(g.Addr))
		}
		for _, name := range slices.Sorted(maps.Keys(g.Providers)) {
			fmt.Fprintf(stdout, "\n# rotate the key of the OpenID provider %s (keycard dev serves it on %s), then sign a token with the new key; the token above gets 401 once the sidecar's refresh drops the old key:\n%s\n", name, g.Providers[name].URL, strings.Join(g.RotationCommands(name), "\n"))
		}
		if tok := demoToken(scenarios); tok != "" {
			fmt.Fprintf(stdout, "\n# revoke the level-1 user token above through the business API, then retry its lines (401 token_revoked after sessions.cache):\ncurl -s -H 'Content-Type: application/json' -H 'X-Admin-Key: %s' %s/auth/delToken -d '{\"token\":\"%s\"}'\n", g.AdminKey, g.SidecarURL, tok)
		}
	}
	fmt.Fprintln(stdout, "\nCtrl-C stops. Access log on stderr.")
	<-ctx.Done()
	fmt.Fprintln(stdout, "keycard dev: stopping")
	return 0
}

// flagSet reports whether the command line set a flag.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// demoToken is the bearer token of the first allowed demo request that
// carries one.
func demoToken(scenarios []devgw.Scenario) string {
	for _, s := range scenarios {
		for _, h := range s.Headers {
			if tok, ok := strings.CutPrefix(h[1], "Bearer "); ok && h[0] == "Authorization" && s.Status == 200 {
				return tok
			}
		}
	}
	return ""
}

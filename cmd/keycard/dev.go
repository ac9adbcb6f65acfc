package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/keycard-gw/keycard/internal/devgw"
)

func cmdDev(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8000", "gateway address")
	redisURL := fs.String("redis", "", "Redis URL (default: an embedded Redis)")
	workers := fs.Int("workers", 2, "filter VMs (requests run through one at a time each)")
	wasmFile := fs.String("wasm", filepath.Join("build", "keycard.wasm"), "the filter module (built when missing)")
	demo := fs.Bool("demo", false, "prepare the example policy's demo tokens and print curl lines")
	ups := upstreams{}
	fs.Var(ups, "upstream", "SERVICE=URL of a service's upstream (repeatable; default: a demo echo service)")
	paths, ok := parseArgs(fs, args, stderr)
	if !ok {
		return 2
	}
	if len(paths) == 0 {
		fmt.Fprintln(stderr, "usage: keycard dev POLICY [--upstream SERVICE=URL]... [--redis URL] [--listen ADDR] [--demo]")
		return 2
	}
	if err := ensureWasm(*wasmFile); err != nil {
		return fail(stderr, err)
	}
	wasm, err := os.ReadFile(*wasmFile)
	if err != nil {
		return fail(stderr, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	g, err := devgw.Start(ctx, devgw.Options{Policy: paths, Wasm: wasm, Upstreams: ups, RedisURL: *redisURL, Listen: *listen, Workers: *workers, Log: log, AccessLog: stderr})
	if err != nil {
		return fail(stderr, err)
	}
	defer g.Close()
	fmt.Fprintf(stdout, "keycard dev: gateway on http://%s, policy %s, filter %s in wazero (%d VMs)\n", g.Addr, g.Result.Config.Policy, *wasmFile, *workers)
	fmt.Fprintf(stdout, "sidecar (business API) on %s, admin key %s\n", g.SidecarURL, g.AdminKey)
	if *demo {
		scenarios, err := g.Demo(ctx)
		if err != nil {
			return fail(stderr, err)
		}
		fmt.Fprintln(stdout, "\nTry these (each prints the status it claims):")
		for _, s := range scenarios {
			fmt.Fprintf(stdout, "\n# %s: %d %s\n%s\n", s.Name, s.Status, s.Reason, s.Curl(g.Addr))
		}
		fmt.Fprintf(stdout, "\n# revoke a token through the business API, then retry it (401 after sessions.cache):\ncurl -s -H 'Content-Type: application/json' -H 'X-Admin-Key: %s' %s/auth/delToken -d '{\"token\":\"TOKEN\"}'\n", g.AdminKey, g.SidecarURL)
	}
	fmt.Fprintln(stdout, "\nCtrl-C stops. Access log on stderr.")
	<-ctx.Done()
	fmt.Fprintln(stdout, "keycard dev: stopping")
	return 0
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"syscall"

	"github.com/keycard-gw/keycard/sidecar"
)

func cmdSidecar(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sidecar", flag.ContinueOnError)
	var opts sidecar.Options
	opts.Register(fs)
	if pos, ok := parseArgs(fs, args, stdout, stderr); !ok {
		return exitCode(fs)
	} else if len(pos) > 0 {
		fmt.Fprintf(stderr, "keycard sidecar: unexpected argument %q\n", pos[0])
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if err := sidecar.Run(ctx, opts, log, nil); err != nil {
		return fail(stderr, err)
	}
	return 0
}

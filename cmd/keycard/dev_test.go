package main

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keycard-gw/keycard/internal/testing/wasmasm"
)

// TestDevStartErrors: keycard dev prints why it cannot start and exits
// 1, and loads the module --wasm names without touching it.
func TestDevStartErrors(t *testing.T) {
	module := filepath.Join(t.TempDir(), "noop.wasm")
	noop := wasmasm.NoopFilter()
	if err := os.WriteFile(module, noop, 0o644); err != nil {
		t.Fatal(err)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name   string
		secret string
		args   []string
		want   string
	}{
		{"a busy port", demoSecret, []string{"--listen", busy.Addr().String()},
			"keycard: the gateway cannot listen on " + busy.Addr().String() + ": another program uses that port (choose another with --listen)\n"},
		{"a listen address without a port", demoSecret, []string{"--listen", "nonsense"},
			"keycard: the gateway cannot listen on nonsense: listen tcp: address nonsense: missing port in address\n"},
		{"an unknown upstream", demoSecret, []string{"--upstream", "service_c=http://127.0.0.1:1"},
			"keycard: --upstream service_c: the policy has no such service\n"},
		{"the demo secret unset", "", nil, "keycard: policies/shop.yaml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("KEYCARD_DEMO_SECRET", tc.secret)
			args := append([]string{"dev", "../../policies", "--wasm", module, "--provider-listen", "127.0.0.1:0"}, tc.args...)
			var out, errb bytes.Buffer
			code := run(args, &out, &errb)
			if code != 1 || !strings.HasPrefix(errb.String(), tc.want) && !strings.Contains(errb.String(), "KEYCARD_DEMO_SECRET") {
				t.Errorf("%d %q, want 1 %q", code, errb.String(), tc.want)
			}
			if data, _ := os.ReadFile(module); !bytes.Equal(data, noop) {
				t.Error("--wasm's file was overwritten")
			}
		})
	}
}

// TestDevRefusals: --workers out of range is a usage error; --demo
// refuses to print lines that would not show what they claim (here: a
// module that lets everything through).
func TestDevRefusals(t *testing.T) {
	t.Setenv("KEYCARD_DEMO_SECRET", demoSecret)
	module := filepath.Join(t.TempDir(), "noop.wasm")
	if err := os.WriteFile(module, wasmasm.NoopFilter(), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"dev", "../../policies", "--workers", "0"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "--workers 0: give 1 to 64 filter VMs") {
		t.Errorf("--workers 0: %d %q", code, errb.String())
	}
	errb.Reset()
	code := run([]string{"dev", "../../policies", "--wasm", module, "--listen", "127.0.0.1:0", "--provider-listen", "127.0.0.1:0", "--demo"}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "would print another status than they claim") {
		t.Errorf("--demo whose lines do not hold: %d %q", code, errb.String())
	}
}

// TestDevProviderPortTaken: when the example's provider address
// (127.0.0.1:8443) is taken, dev says to use --provider-listen.
func TestDevProviderPortTaken(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:8443")
	if err != nil {
		t.Skip("127.0.0.1:8443 is taken by another program: " + err.Error())
	}
	defer busy.Close()
	t.Setenv("KEYCARD_DEMO_SECRET", demoSecret)
	module := filepath.Join(t.TempDir(), "noop.wasm")
	os.WriteFile(module, wasmasm.NoopFilter(), 0o644)
	var out, errb bytes.Buffer
	code := run([]string{"dev", "../../policies", "--wasm", module, "--listen", "127.0.0.1:0"}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "serve the demo provider elsewhere with --provider-listen ADDR") {
		t.Errorf("%d %q", code, errb.String())
	}
}

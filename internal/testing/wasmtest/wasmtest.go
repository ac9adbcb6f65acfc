// Package wasmtest starts the filter module in the wazero host for a
// test: compiled, configured, and closed when the test ends.
package wasmtest

import (
	"context"
	"testing"

	"github.com/keycard-gw/keycard/internal/wasmhost"
)

// Host compiles a module; it closes when the test ends.
func Host(t testing.TB, module []byte, opts wasmhost.Options) *wasmhost.Host {
	t.Helper()
	h, err := wasmhost.Compile(context.Background(), module, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h
}

// VM compiles a module and starts a VM configured with conf.
func VM(t testing.TB, module []byte, opts wasmhost.Options, conf []byte) *wasmhost.VM {
	t.Helper()
	vm, err := Host(t, module, opts).NewVM(context.Background(), conf)
	if err != nil {
		t.Fatal(err)
	}
	return vm
}

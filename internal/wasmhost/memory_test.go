//go:build unix

package wasmhost

import (
	"context"
	"testing"

	"github.com/keycard-gw/keycard/internal/testing/wasmasm"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
)

// TestMemoryGrowsInPlace: as in V8 and Wasmtime, a module's memory grows
// without moving, so what it holds is never copied, and it cannot grow
// past its maximum.
func TestMemoryGrowsInPlace(t *testing.T) {
	lm := reserveMemory(0, 256<<16)
	if _, ok := lm.(*reservedMemory); !ok {
		t.Fatalf("reservation failed: %T", lm)
	}
	defer lm.Free()
	small := lm.Reallocate(1 << 16)
	small[0], small[len(small)-1] = 7, 9
	large := lm.Reallocate(200 << 16)
	if len(large) != 200<<16 || &large[0] != &small[0] || large[0] != 7 || large[1<<16-1] != 9 {
		t.Fatalf("grown memory moved or lost its bytes: len %d, same start %v", len(large), &large[0] == &small[0])
	}
	if lm.Reallocate(257<<16) != nil {
		t.Error("memory grew past its maximum")
	}

	// Through wazero, as the host instantiates modules.
	ctx := experimental.WithMemoryAllocator(context.Background(), memoryAllocator)
	rt := wazero.NewRuntime(ctx)
	defer rt.Close(ctx)
	mod, err := rt.Instantiate(ctx, wasmasm.Assemble(nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	mem := mod.Memory()
	before, _ := mem.Read(0, 1)
	if _, ok := mem.Grow(1000); !ok {
		t.Fatal("memory.grow refused")
	}
	after, _ := mem.Read(0, 1)
	if &before[0] != &after[0] || mem.Size() != 1001<<16 {
		t.Errorf("after growing to %d bytes the memory moved: %v", mem.Size(), &before[0] != &after[0])
	}
}

// TestCopiedMemory: the fallback keeps what the module wrote.
func TestCopiedMemory(t *testing.T) {
	var m copiedMemory
	b := m.Reallocate(16)
	b[3] = 5
	if b = m.Reallocate(1 << 20); len(b) != 1<<20 || b[3] != 5 {
		t.Fatalf("len %d, byte %d", len(b), b[3])
	}
	m.Free()
}

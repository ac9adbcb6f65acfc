package wasmhost

import (
	"context"
	"crypto/rand"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"
)

// WASI errno values (wasi_snapshot_preview1).
const (
	errnoSuccess = 0
	errnoBadf    = 8
	errnoInval   = 28
	errnoNosys   = 52
)

const wasiModule = "wasi_snapshot_preview1"

type hostFunc struct {
	name    string
	params  []api.ValueType
	results []api.ValueType
	fn      api.GoModuleFunc
}

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

func i32s(n int) []api.ValueType {
	out := make([]api.ValueType, n)
	for i := range out {
		out[i] = i32
	}
	return out
}

// wasiFuncs are the WASI functions both target hosts provide, answering as
// Envoy 1.33 does (see testdata/wasi-allowlist.txt for the sources).
func wasiFuncs() []hostFunc {
	errno := func(e uint64) api.GoModuleFunc {
		return func(_ context.Context, _ api.Module, stack []uint64) { stack[0] = e }
	}
	zeroSizes := func(ctx context.Context, mod api.Module, stack []uint64) {
		vm := vmOf(ctx)
		if !vm.write32(mod, uint32(stack[0]), 0) || !vm.write32(mod, uint32(stack[1]), 0) {
			stack[0] = errnoInval
			return
		}
		stack[0] = errnoSuccess
	}
	return []hostFunc{
		{"args_get", i32s(2), i32s(1), errno(errnoSuccess)},
		{"args_sizes_get", i32s(2), i32s(1), zeroSizes},
		{"environ_get", i32s(2), i32s(1), errno(errnoSuccess)},
		{"environ_sizes_get", i32s(2), i32s(1), zeroSizes},
		{"clock_time_get", []api.ValueType{i32, i64, i32}, i32s(1), func(ctx context.Context, mod api.Module, stack []uint64) {
			vm := vmOf(ctx)
			var now uint64
			switch uint32(stack[0]) {
			case 0: // realtime
				now = uint64(vm.host.now().UnixNano())
			case 1: // monotonic: the same clock, so a test clock moves both
				now = uint64(time.Second + vm.host.now().Sub(vm.host.started))
			default:
				stack[0] = errnoInval
				return
			}
			if !mod.Memory().WriteUint64Le(uint32(stack[2]), now) {
				vm.faultf("clock_time_get: pointer %#x outside memory", uint32(stack[2]))
				stack[0] = errnoInval
				return
			}
			stack[0] = errnoSuccess
		}},
		{"fd_close", i32s(1), i32s(1), errno(errnoBadf)},
		{"fd_fdstat_get", i32s(2), i32s(1), errno(errnoBadf)},
		{"fd_fdstat_set_flags", i32s(2), i32s(1), errno(errnoNosys)},
		{"fd_prestat_dir_name", i32s(3), i32s(1), errno(errnoBadf)},
		{"fd_prestat_get", i32s(2), i32s(1), errno(errnoBadf)},
		{"fd_read", i32s(4), i32s(1), errno(errnoBadf)},
		{"fd_seek", []api.ValueType{i32, i64, i32, i32}, i32s(1), errno(errnoBadf)},
		{"fd_write", i32s(4), i32s(1), fdWrite},
		{"path_open", []api.ValueType{i32, i32, i32, i32, i32, i64, i64, i32, i32}, i32s(1), errno(errnoBadf)},
		{"poll_oneoff", i32s(4), i32s(1), func(ctx context.Context, _ api.Module, stack []uint64) {
			vmOf(ctx).pollCalls++
			stack[0] = errnoNosys
		}},
		{"proc_exit", i32s(1), nil, func(ctx context.Context, mod api.Module, stack []uint64) {
			vmOf(ctx).faultf("proc_exit(%d): the module ended itself", uint32(stack[0]))
			_ = mod.CloseWithExitCode(ctx, uint32(stack[0]))
			panic(sys.NewExitError(uint32(stack[0])))
		}},
		{"random_get", i32s(2), i32s(1), func(ctx context.Context, mod api.Module, stack []uint64) {
			buf, ok := mod.Memory().Read(uint32(stack[0]), uint32(stack[1]))
			if !ok {
				vmOf(ctx).faultf("random_get: buffer outside memory")
				stack[0] = errnoInval
				return
			}
			_, _ = rand.Read(buf)
			stack[0] = errnoSuccess
		}},
		{"sched_yield", nil, i32s(1), errno(errnoSuccess)},
	}
}

// fdWrite sends stdout and stderr to the VM's log, as Envoy does.
func fdWrite(ctx context.Context, mod api.Module, stack []uint64) {
	vm := vmOf(ctx)
	fd, iovs, n, nwritten := uint32(stack[0]), uint32(stack[1]), uint32(stack[2]), uint32(stack[3])
	if fd != 1 && fd != 2 {
		stack[0] = errnoBadf
		return
	}
	mem := mod.Memory()
	var total uint32
	var msg []byte
	for i := range n {
		ptr, ok1 := mem.ReadUint32Le(iovs + 8*i)
		l, ok2 := mem.ReadUint32Le(iovs + 8*i + 4)
		b, ok3 := mem.Read(ptr, l)
		if !ok1 || !ok2 || !ok3 {
			vm.faultf("fd_write: iovec outside memory")
			stack[0] = errnoInval
			return
		}
		msg = append(msg, b...)
		total += l
	}
	vm.addLog(LogEntry{Level: 3, Message: "fd_write: " + string(msg)})
	if !mem.WriteUint32Le(nwritten, total) {
		vm.faultf("fd_write: result pointer outside memory")
		stack[0] = errnoInval
		return
	}
	stack[0] = errnoSuccess
}

func instantiateHostModule(ctx context.Context, r wazero.Runtime, name string, funcs []hostFunc) error {
	b := r.NewHostModuleBuilder(name)
	for _, f := range funcs {
		b.NewFunctionBuilder().WithGoModuleFunction(f.fn, f.params, f.results).Export(f.name)
	}
	_, err := b.Instantiate(ctx)
	return err
}

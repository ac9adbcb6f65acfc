package wasmhost

import (
	"context"
	"crypto/rand"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"
)

// WASI errno values (wasi_snapshot_preview1).
const (
	errnoSuccess = 0
	errnoBadf    = 8
	errnoFault   = 21
	errnoInval   = 28
	errnoNoent   = 44
	errnoNosys   = 52
	errnoNotsup  = 58
)

const wasiModule = "wasi_snapshot_preview1"

// maxRandomBytes is the most random_get gives at once in Envoy
// (PROXY_WASM_HOST_WASI_RANDOM_GET_MAX_SIZE_BYTES, include/proxy-wasm/limits.h).
const maxRandomBytes = 64 << 10

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

// wasiFuncs are the WASI functions the flavour's host provides, answering
// as it does.
//
// Envoy: proxy-wasm-cpp-host at c4d7bb0 (Envoy's pin), src/exports.cc,
// the wasi_unstable_* functions, with Envoy's Context::error (a trace
// log line, source/extensions/common/wasm/context.cc) where they call
// context->error. Held to the real host core by internal/testing/envoytest's
// TestWASIAnswers, byte for byte on both engines.
//
// Kong: the answers this model gave before it was checked against a
// real host's WASI; none of them is on the filter's path (the filter
// calls clock_time_get, random_get and fd_write, and nothing else on a
// request).
//
// Either way the model stays strict: a call with a pointer outside
// memory answers as the host does and fails the request (vm.faultf), so
// the filter's own tests see it, unless Options.Probe says the module
// probes the host's answers on purpose.
func wasiFuncs(f flavor) []hostFunc {
	errno := func(e uint64) api.GoModuleFunc {
		return func(_ context.Context, _ api.Module, stack []uint64) { stack[0] = e }
	}
	// fault is the errno of a pointer outside memory.
	fault := uint64(errnoInval)
	if f == envoy {
		fault = errnoFault
	}
	zeroSizes := func(ctx context.Context, mod api.Module, stack []uint64) {
		vm := vmOf(ctx)
		if !vm.write32(mod, uint32(stack[0]), 0) || !vm.write32(mod, uint32(stack[1]), 0) {
			stack[0] = fault
			return
		}
		stack[0] = errnoSuccess
	}
	// traced is a call Envoy answers with success after a trace log line
	// naming it (context->error in exports.cc).
	traced := func(name string) api.GoModuleFunc {
		return func(ctx context.Context, _ api.Module, stack []uint64) {
			vmOf(ctx).addLog(LogEntry{Level: 0, Message: "wasi_unstable " + name})
			stack[0] = errnoSuccess
		}
	}
	funcs := []hostFunc{
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
			default: // the CPU-time clocks
				stack[0] = errnoInval
				if f == envoy {
					stack[0] = errnoNotsup
				}
				return
			}
			if !mod.Memory().WriteUint64Le(uint32(stack[2]), now) {
				vm.faultf("clock_time_get: pointer %#x outside memory", uint32(stack[2]))
				stack[0] = fault
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
		{"fd_write", i32s(4), i32s(1), fdWrite(f)},
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
			if f == envoy && uint32(stack[1]) > maxRandomBytes {
				stack[0] = errnoInval
				return
			}
			buf, ok := mod.Memory().Read(uint32(stack[0]), uint32(stack[1]))
			if !ok {
				vmOf(ctx).faultf("random_get: buffer outside memory")
				stack[0] = fault
				return
			}
			_, _ = rand.Read(buf)
			stack[0] = errnoSuccess
		}},
		{"sched_yield", nil, i32s(1), errno(errnoSuccess)},
	}
	if f != envoy {
		return funcs
	}
	envoy := map[string]api.GoModuleFunc{
		"fd_close":            traced("fd_close"),
		"fd_seek":             traced("fd_seek"),
		"fd_read":             errno(errnoNosys),
		"fd_prestat_dir_name": errno(errnoNosys),
		"path_open":           errno(errnoNoent),
		"fd_fdstat_get": func(ctx context.Context, mod api.Module, stack []uint64) {
			// stdout and stderr only: a zeroed fdstat whose rights are
			// __WASI_RIGHTS_FD_WRITE; Envoy does not check the write.
			if fd := uint32(stack[0]); fd != 1 && fd != 2 {
				stack[0] = errnoBadf
				return
			}
			var stat [24]byte
			stat[8] = 64
			mod.Memory().Write(uint32(stack[1]), stat[:])
			stack[0] = errnoSuccess
		},
		"proc_exit": func(ctx context.Context, _ api.Module, stack []uint64) {
			// Envoy logs it and returns: the module runs on.
			vmOf(ctx).addLog(LogEntry{Level: 0, Message: "wasi_unstable proc_exit"})
		},
	}
	for i := range funcs {
		if fn, ok := envoy[funcs[i].name]; ok {
			funcs[i].fn = fn
		}
	}
	return funcs
}

// fdWrite sends stdout and stderr to the VM's log. Envoy logs stdout at
// info and stderr at error, without a final line break (writevImpl in
// exports.cc); Kong's flavour keeps the model's earlier form.
func fdWrite(f flavor) api.GoModuleFunc {
	fault := uint64(errnoInval)
	if f == envoy {
		fault = errnoFault
	}
	return func(ctx context.Context, mod api.Module, stack []uint64) {
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
				stack[0] = fault
				return
			}
			msg = append(msg, b...)
			total += l
		}
		if f == envoy {
			if len(msg) > 0 {
				level := uint32(2)
				if fd == 2 {
					level = 4
				}
				vm.addLog(LogEntry{Level: level, Message: strings.TrimSuffix(string(msg), "\n")})
			}
		} else {
			vm.addLog(LogEntry{Level: 3, Message: "fd_write: " + string(msg)})
		}
		if !mem.WriteUint32Le(nwritten, total) {
			vm.faultf("fd_write: result pointer outside memory")
			stack[0] = fault
			return
		}
		stack[0] = errnoSuccess
	}
}

func instantiateHostModule(ctx context.Context, r wazero.Runtime, name string, funcs []hostFunc) error {
	b := r.NewHostModuleBuilder(name)
	for _, f := range funcs {
		b.NewFunctionBuilder().WithGoModuleFunction(f.fn, f.params, f.results).Export(f.name)
	}
	_, err := b.Instantiate(ctx)
	return err
}

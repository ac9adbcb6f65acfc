// Package wasmasm assembles tiny WebAssembly modules by hand: proxy-wasm
// modules that misbehave in exactly one way (the wasmhost's strictness
// tests) or do nothing at all (the real-host benchmark's floor). It knows
// only what those need: i32 functions (imports may take i64 too),
// imports from "env" and WASI, one page of memory.
package wasmasm

import (
	"encoding/binary"
	"slices"
)

// Func is an exported function: its i32 parameters and results and its
// body (instructions, without the end opcode).
type Func struct {
	Params, Results int
	Body            []byte
}

// Import is a host function the module imports from Module ("env"
// when empty). Its parameters are i32, unless I64 marks some as i64.
type Import struct {
	Module          string
	Name            string
	Params, Results int
	I64             []int // indices of i64 parameters
}

// I64Type and I32Type are the value types of WebAssembly's binary format.
const (
	I32Type byte = 0x7f
	I64Type byte = 0x7e
)

// leb is an unsigned LEB128.
func leb(v uint32) []byte { return binary.AppendUvarint(nil, uint64(v)) }

// sleb is a signed LEB128 for i32.const.
func sleb(v int32) []byte {
	var out []byte
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && b&0x40 == 0) || (v == -1 && b&0x40 != 0) {
			return append(out, b)
		}
		out = append(out, b|0x80)
	}
}

func vec(items ...[]byte) []byte {
	out := leb(uint32(len(items)))
	for _, it := range items {
		out = append(out, it...)
	}
	return out
}

func name(s string) []byte { return append(leb(uint32(len(s))), s...) }

func section(id byte, body []byte) []byte {
	return append(append([]byte{id}, leb(uint32(len(body)))...), body...)
}

func functype(params, results int, i64 ...int) []byte {
	b := []byte{0x60}
	b = append(b, leb(uint32(params))...)
	for i := range params {
		t := I32Type
		if slices.Contains(i64, i) {
			t = I64Type
		}
		b = append(b, t)
	}
	b = append(b, leb(uint32(results))...)
	for range results {
		b = append(b, 0x7f)
	}
	return b
}

// Assemble builds a module: the imports (function indices 0.. in
// order), one page of memory exported as "memory", and the exports, in
// name order so that the same input gives the same bytes.
func Assemble(imports []Import, exports map[string]Func) []byte {
	var types [][]byte
	typeOf := map[string]uint32{}
	tidx := func(p, r int, i64 ...int) uint32 {
		t := functype(p, r, i64...)
		if i, ok := typeOf[string(t)]; ok {
			return i
		}
		typeOf[string(t)] = uint32(len(types))
		types = append(types, t)
		return typeOf[string(t)]
	}
	var imps [][]byte
	for _, im := range imports {
		module := im.Module
		if module == "" {
			module = "env"
		}
		imps = append(imps, append(append(name(module), name(im.Name)...), append([]byte{0x00}, leb(tidx(im.Params, im.Results, im.I64...))...)...))
	}
	var funcs, codes, exps [][]byte
	names := make([]string, 0, len(exports))
	for n := range exports {
		names = append(names, n)
	}
	slices.Sort(names)
	for i, n := range names {
		f := exports[n]
		funcs = append(funcs, leb(tidx(f.Params, f.Results)))
		body := append([]byte{0x00}, f.Body...) // no locals
		body = append(body, 0x0b)
		codes = append(codes, append(leb(uint32(len(body))), body...))
		exps = append(exps, append(name(n), append([]byte{0x00}, leb(uint32(len(imports)+i))...)...))
	}
	exps = append(exps, append(name("memory"), 0x02, 0x00))
	out := []byte("\x00asm\x01\x00\x00\x00")
	out = append(out, section(1, vec(types...))...)
	out = append(out, section(2, vec(imps...))...)
	out = append(out, section(3, vec(funcs...))...)
	out = append(out, section(5, vec([]byte{0x00, 0x01}))...) // one page
	out = append(out, section(7, vec(exps...))...)
	out = append(out, section(10, vec(codes...))...)
	return out
}

// I32 is i32.const v.
func I32(v int32) []byte { return append([]byte{0x41}, sleb(v)...) }

// I64 is i64.const v.
func I64(v int64) []byte {
	var out []byte
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && b&0x40 == 0) || (v == -1 && b&0x40 != 0) {
			return append([]byte{0x42}, append(out, b)...)
		}
		out = append(out, b|0x80)
	}
}

// Store8 is i32.store8 with no offset: stores the low byte of the value
// on top of the stack at the address under it.
func Store8() []byte { return []byte{0x3a, 0x00, 0x00} }

// Call calls function index f.
func Call(f int) []byte { return append([]byte{0x10}, leb(uint32(f))...) }

// Drop drops the top of the stack.
func Drop() []byte { return []byte{0x1a} }

// Cat joins instruction sequences.
func Cat(parts ...[]byte) (b []byte) {
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// NoopFilter is a proxy-wasm 0.2.1 HTTP filter that does nothing: it
// exports every callback a host calls on a request, each returning at
// once (continue, or "done" for proxy_on_done), and imports nothing.
func NoopFilter() []byte { return Assemble(nil, NoopExports()) }

// NoopExports are NoopFilter's exports, a fresh map each call, for a
// module that replaces some of them.
func NoopExports() map[string]Func {
	return map[string]Func{
		"_initialize":                 {Params: 0, Results: 0, Body: nil},
		"proxy_abi_version_0_2_1":     {Params: 0, Results: 0, Body: nil},
		"proxy_on_memory_allocate":    {Params: 1, Results: 1, Body: I32(1024)},
		"proxy_on_context_create":     {Params: 2, Results: 0, Body: nil},
		"proxy_on_vm_start":           {Params: 2, Results: 1, Body: I32(1)},
		"proxy_on_configure":          {Params: 2, Results: 1, Body: I32(1)},
		"proxy_on_tick":               {Params: 1, Results: 0, Body: nil},
		"proxy_on_request_headers":    {Params: 3, Results: 1, Body: I32(0)},
		"proxy_on_request_body":       {Params: 3, Results: 1, Body: I32(0)},
		"proxy_on_request_trailers":   {Params: 2, Results: 1, Body: I32(0)},
		"proxy_on_response_headers":   {Params: 3, Results: 1, Body: I32(0)},
		"proxy_on_response_body":      {Params: 3, Results: 1, Body: I32(0)},
		"proxy_on_response_trailers":  {Params: 2, Results: 1, Body: I32(0)},
		"proxy_on_http_call_response": {Params: 5, Results: 0, Body: nil},
		"proxy_on_done":               {Params: 1, Results: 1, Body: I32(1)},
		"proxy_on_log":                {Params: 1, Results: 0, Body: nil},
		"proxy_on_delete":             {Params: 1, Results: 0, Body: nil},
	}
}

// HeaderReadingFilter is NoopFilter that reads the request's header map
// n times in proxy_on_request_headers (proxy_get_header_map_pairs, the
// host's answer written where proxy_on_memory_allocate points): what a
// host call with an answer costs in a host, measured against NoopFilter.
func HeaderReadingFilter(n int) []byte {
	imports := []Import{{Name: "proxy_get_header_map_pairs", Params: 3, Results: 1}}
	var body []byte
	for range n {
		body = Cat(body, I32(0), I32(16), I32(20), Call(0), Drop())
	}
	body = Cat(body, I32(0))
	exports := map[string]Func{}
	for name, f := range NoopExports() {
		exports[name] = f
	}
	exports["proxy_on_request_headers"] = Func{Params: 3, Results: 1, Body: body}
	return Assemble(imports, exports)
}

// WithCustomSection appends a custom section (id 0) to a module: a name
// and bytes no host executes, such as a mark a tool looks for.
func WithCustomSection(module []byte, sectionName string, data []byte) []byte {
	return append(append([]byte(nil), module...), section(0, append(name(sectionName), data...))...)
}

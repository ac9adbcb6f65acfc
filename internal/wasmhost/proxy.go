package wasmhost

import (
	"cmp"
	"context"
	"strings"
	"time"

	"github.com/keycard-gw/keycard/filter"
	"github.com/keycard-gw/keycard/filter/abi/headermap"
	"github.com/tetratelabs/wazero/api"
)

// proxy-wasm statuses.
const (
	statusOK          = 0
	statusNotFound    = 1
	statusBadArgument = 2
	statusParse       = 4
	statusInvalidMem  = 6
)

// Map and buffer types the filter may ask for.
const (
	mapRequestHeaders  = 0
	mapResponseHeaders = 2
	mapCallRespHeaders = 6

	bufCallRespBody = 4
	bufVMConfig     = 6
	bufPluginConfig = 7
)

// proxyFuncs are the proxy-wasm host calls the filter uses, with their
// ABI 0.2.1 signatures.
func proxyFuncs() []hostFunc {
	return []hostFunc{
		{"proxy_log", i32s(3), i32s(1), proxyLog},
		{"proxy_get_buffer_bytes", i32s(5), i32s(1), getBufferBytes},
		{"proxy_get_header_map_pairs", i32s(3), i32s(1), getHeaderMapPairs},
		{"proxy_replace_header_map_value", i32s(5), i32s(1), replaceHeader},
		{"proxy_remove_header_map_value", i32s(3), i32s(1), removeHeader},
		{"proxy_send_local_response", i32s(8), i32s(1), sendLocalResponse},
		{"proxy_continue_stream", i32s(1), i32s(1), continueStream},
		{"proxy_http_call", i32s(10), i32s(1), httpCall},
		{"proxy_set_effective_context", i32s(1), i32s(1), setEffectiveContext},
		{"proxy_define_metric", i32s(4), i32s(1), defineMetric},
		{"proxy_increment_metric", []api.ValueType{i32, i64}, i32s(1), incrementMetric},
		{"proxy_get_property", i32s(4), i32s(1), getProperty},
		{"proxy_set_tick_period_milliseconds", i32s(1), i32s(1), setTickPeriod},
		{"proxy_get_header_map_value", i32s(5), i32s(1), getHeaderMapValue},
	}
}

// readString copies module memory into a string (one allocation),
// recording a fault when it is out of bounds.
func (vm *VM) readString(mod api.Module, ptr, size uint32, what string) (string, bool) {
	if size == 0 {
		return "", true
	}
	b, ok := mod.Memory().Read(ptr, size)
	if !ok {
		vm.faultf("%s: %d bytes at %#x are outside memory", what, size, ptr)
		return "", false
	}
	return string(b), true
}

// read copies module memory, recording a fault when it is out of bounds.
func (vm *VM) read(mod api.Module, ptr, size uint32, what string) ([]byte, bool) {
	if size == 0 {
		return nil, true
	}
	b, ok := mod.Memory().Read(ptr, size)
	if !ok {
		vm.faultf("%s: %d bytes at %#x are outside memory", what, size, ptr)
		return nil, false
	}
	return append([]byte(nil), b...), true
}

func (vm *VM) write32(mod api.Module, ptr, v uint32) bool {
	if !mod.Memory().WriteUint32Le(ptr, v) {
		vm.faultf("result pointer %#x outside memory", ptr)
		return false
	}
	return true
}

// give copies data into memory the module allocates and stores its
// address and size at the result pointers.
func (vm *VM) give(ctx context.Context, mod api.Module, data []byte, retPtr, retSize uint32) uint64 {
	var ptr uint32
	if len(data) > 0 {
		vm.mstack[0] = uint64(len(data))
		vm.phase = "proxy_on_memory_allocate"
		err := vm.malloc.CallWithStack(ctx, vm.mstack)
		vm.phase = ""
		if err != nil {
			vm.faultf("proxy_on_memory_allocate: %v", err)
			return statusInvalidMem
		}
		ptr = uint32(vm.mstack[0])
		if ptr == 0 || !mod.Memory().Write(ptr, data) {
			vm.faultf("proxy_on_memory_allocate(%d) returned %#x, not writable", len(data), ptr)
			return statusInvalidMem
		}
	}
	if !vm.write32(mod, retPtr, ptr) || !vm.write32(mod, retSize, uint32(len(data))) {
		return statusInvalidMem
	}
	return statusOK
}

func proxyLog(ctx context.Context, mod api.Module, stack []uint64) {
	vm := vmOf(ctx)
	level := uint32(stack[0])
	msg, ok := vm.read(mod, uint32(stack[1]), uint32(stack[2]), "proxy_log")
	if !ok {
		stack[0] = statusInvalidMem
		return
	}
	if level > 5 {
		vm.faultf("proxy_log: level %d is not 0..5", level)
		stack[0] = statusBadArgument
		return
	}
	vm.addLog(LogEntry{Level: level, Message: string(msg)})
	stack[0] = statusOK
}

func getBufferBytes(ctx context.Context, mod api.Module, stack []uint64) {
	vm := vmOf(ctx)
	typ, start, max := uint32(stack[0]), uint32(stack[1]), uint32(stack[2])
	var data []byte
	switch {
	case typ == bufPluginConfig && vm.inCallback == "proxy_on_configure":
		data = vm.pluginConfig
	case typ == bufVMConfig:
		data = nil
	case typ == bufCallRespBody && vm.callResp != nil:
		data = vm.callResp.body
	case typ > 7:
		vm.faultf("proxy_get_buffer_bytes: buffer type %d does not exist", typ)
		stack[0] = statusBadArgument
		return
	default:
		stack[0] = statusNotFound
		return
	}
	if int(start) > len(data) {
		vm.faultf("proxy_get_buffer_bytes: start %d past the buffer's %d bytes", start, len(data))
		stack[0] = statusBadArgument
		return
	}
	end := min(len(data), int(start)+int(max))
	stack[0] = vm.give(ctx, mod, data[start:end], uint32(stack[3]), uint32(stack[4]))
}

// streamFor returns the stream the current callback acts on.
func (vm *VM) streamFor(call string) *stream {
	s, ok := vm.streams[vm.effective]
	if !ok {
		vm.faultf("%s: context %d is not an HTTP stream", call, vm.effective)
		return nil
	}
	return s
}

func getHeaderMapPairs(ctx context.Context, mod api.Module, stack []uint64) {
	vm := vmOf(ctx)
	pairs, status := vm.headerMap("proxy_get_header_map_pairs", uint32(stack[0]))
	if status != statusOK {
		stack[0] = status
		return
	}
	vm.encoded = headermap.AppendEncode(vm.encoded[:0], pairs)
	stack[0] = vm.give(ctx, mod, vm.encoded, uint32(stack[1]), uint32(stack[2]))
}

// headerMap is the map a getter may read now: the current stream's
// request headers, or a call-out's response headers while it is being
// delivered. A map type past 7 does not exist (a fault); others are not
// found.
func (vm *VM) headerMap(call string, typ uint32) ([][2]string, uint64) {
	switch {
	case typ == mapRequestHeaders:
		s := vm.streamFor(call)
		if s == nil {
			return nil, statusBadArgument
		}
		return s.headers, statusOK
	case typ == mapCallRespHeaders && vm.callResp != nil:
		return vm.callResp.headers, statusOK
	case typ == mapResponseHeaders:
		s := vm.streamFor(call)
		if s == nil || !s.inResponse {
			return nil, statusNotFound
		}
		return s.respHeaders, statusOK
	case typ > 7:
		vm.faultf("%s: map type %d does not exist (a stray stat call?)", call, typ)
		return nil, statusBadArgument
	}
	return nil, statusNotFound
}

// mutableMap returns the header map a setter may change now, with its
// stream: the request's until it is answered or forwarded, the
// response's while proxy_on_response_headers runs.
func (vm *VM) mutableMap(call string, mapType uint32) (*[][2]string, *stream) {
	if mapType != mapRequestHeaders && mapType != mapResponseHeaders {
		vm.faultf("%s: map type %d cannot be changed here", call, mapType)
		return nil, nil
	}
	s := vm.streamFor(call)
	if s == nil {
		return nil, nil
	}
	if mapType == mapResponseHeaders {
		if !s.inResponse {
			vm.faultf("%s: the response's headers can change only in proxy_on_response_headers", call)
			return nil, nil
		}
		if s.respShared {
			s.respHeaders, s.respShared = append([][2]string(nil), s.respHeaders...), false
		}
		return &s.respHeaders, s
	}
	if s.response != nil || s.resumed {
		vm.faultf("%s: the request has already been answered or forwarded", call)
		return nil, nil
	}
	return &s.headers, s
}

func replaceHeader(ctx context.Context, mod api.Module, stack []uint64) {
	vm := vmOf(ctx)
	m, s := vm.mutableMap("proxy_replace_header_map_value", uint32(stack[0]))
	key, ok1 := vm.readString(mod, uint32(stack[1]), uint32(stack[2]), "proxy_replace_header_map_value key")
	val, ok2 := vm.readString(mod, uint32(stack[3]), uint32(stack[4]), "proxy_replace_header_map_value value")
	if m == nil || !ok1 || !ok2 {
		stack[0] = statusBadArgument
		return
	}
	if len(key) == 0 || strings.ContainsAny(val, "\r\n\x00") {
		vm.faultf("proxy_replace_header_map_value: bad header %q: %q", key, val)
		stack[0] = statusBadArgument
		return
	}
	name := key
	if vm.host.gw.LowerCaseHeaders {
		name = strings.ToLower(key) // Envoy's header maps are lower case
	}
	kept := (*m)[:0]
	done := false
	for _, kv := range *m {
		if strings.EqualFold(kv[0], name) {
			if !done {
				kept = append(kept, [2]string{name, val})
				done = true
			} else if m == &s.headers {
				s.unremoved(vm.host.gw, kv)
			}
			continue
		}
		kept = append(kept, kv)
	}
	if !done {
		kept = append(kept, [2]string{name, val})
	}
	*m = kept
	stack[0] = statusOK
}

func removeHeader(ctx context.Context, mod api.Module, stack []uint64) {
	vm := vmOf(ctx)
	m, s := vm.mutableMap("proxy_remove_header_map_value", uint32(stack[0]))
	key, ok := vm.read(mod, uint32(stack[1]), uint32(stack[2]), "proxy_remove_header_map_value key")
	if m == nil || !ok {
		stack[0] = statusBadArgument
		return
	}
	kept := (*m)[:0]
	for _, kv := range *m {
		if !strings.EqualFold(kv[0], string(key)) {
			kept = append(kept, kv)
		} else if m == &s.headers {
			s.unremoved(vm.host.gw, kv)
		}
	}
	*m = kept
	stack[0] = statusOK
}

// unremoved records a request header the module removed (or that a
// replace dropped as a duplicate). The module no longer sees it in
// either host, but on Kong the upstream still receives it:
// ngx_wasm_module only zeroes the entry's hash
// (src/http/ngx_http_wasm_headers.c, ngx_http_wasm_set_header_helper),
// which its own header-map serialisation skips
// (src/common/proxy_wasm/ngx_proxy_wasm_util.c), while nginx's proxy
// module copies r->headers_in whatever the hash
// (src/http/modules/ngx_http_proxy_module.c,
// ngx_http_proxy_create_request). Envoy erases the header.
func (s *stream) unremoved(gw *filter.Gateway, kv [2]string) {
	if !gw.RemovesHeaders {
		s.ghosts = append(s.ghosts, kv)
	}
}

func sendLocalResponse(ctx context.Context, mod api.Module, stack []uint64) {
	vm := vmOf(ctx)
	s := vm.streamFor("proxy_send_local_response")
	status := uint32(stack[0])
	details, ok1 := vm.read(mod, uint32(stack[1]), uint32(stack[2]), "proxy_send_local_response details")
	body, ok2 := vm.read(mod, uint32(stack[3]), uint32(stack[4]), "proxy_send_local_response body")
	rawHeaders, ok3 := vm.read(mod, uint32(stack[5]), uint32(stack[6]), "proxy_send_local_response headers")
	if s == nil || !ok1 || !ok2 || !ok3 {
		stack[0] = statusBadArgument
		return
	}
	if s.response != nil || s.resumed {
		vm.faultf("proxy_send_local_response: the request has already been answered or forwarded")
		stack[0] = statusBadArgument
		return
	}
	if status < 200 || status > 599 {
		vm.faultf("proxy_send_local_response: status %d", status)
		stack[0] = statusBadArgument
		return
	}
	headers, ok := headermap.Decode(rawHeaders)
	if !ok {
		vm.faultf("proxy_send_local_response: malformed header map")
		stack[0] = statusParse
		return
	}
	s.response = &LocalResponse{Status: int(status), Headers: vm.host.flavor.localReplyHeaders(headers, body), Body: body, Details: string(details)}
	stack[0] = statusOK
}

func continueStream(ctx context.Context, _ api.Module, stack []uint64) {
	vm := vmOf(ctx)
	s := vm.streamFor("proxy_continue_stream")
	if s == nil {
		stack[0] = statusBadArgument
		return
	}
	if uint32(stack[0]) != 0 {
		vm.faultf("proxy_continue_stream: stream type %d: only the request (0) is ever paused", uint32(stack[0]))
		stack[0] = statusBadArgument
		return
	}
	if !s.paused || s.response != nil || s.resumed {
		vm.faultf("proxy_continue_stream: the request is not paused")
		stack[0] = statusBadArgument
		return
	}
	s.resumed = true
	stack[0] = statusOK
}

func httpCall(ctx context.Context, mod api.Module, stack []uint64) {
	vm := vmOf(ctx)
	up, ok1 := vm.read(mod, uint32(stack[0]), uint32(stack[1]), "proxy_http_call upstream")
	rawHeaders, ok2 := vm.read(mod, uint32(stack[2]), uint32(stack[3]), "proxy_http_call headers")
	body, ok3 := vm.read(mod, uint32(stack[4]), uint32(stack[5]), "proxy_http_call body")
	rawTrailers, ok4 := vm.read(mod, uint32(stack[6]), uint32(stack[7]), "proxy_http_call trailers")
	timeout, retToken := uint32(stack[8]), uint32(stack[9])
	if !ok1 || !ok2 || !ok3 || !ok4 {
		stack[0] = statusBadArgument
		return
	}
	// Both hosts take call-outs from a request's headers, from a
	// call-out's answer and from the tick (Kong:
	// ngx_proxy_wasm_hfuncs_dispatch_http_call's step check; it traps in
	// on_configure), for the stream the callback acts on or the root.
	owner := vm.effective
	switch vm.inCallback {
	case "proxy_on_request_headers":
		if vm.streamFor("proxy_http_call") == nil {
			stack[0] = statusBadArgument
			return
		}
	case "proxy_on_http_call_response", "proxy_on_tick":
		if _, ok := vm.streams[owner]; !ok && owner != rootID {
			vm.faultf("proxy_http_call: context %d is gone", owner)
			stack[0] = statusBadArgument
			return
		}
	default:
		vm.faultf("proxy_http_call: not allowed in %s (Kong traps: only on_request_headers, on_request_body, on_tick and on_dispatch_response dispatch)", cmp.Or(vm.inCallback, vm.phase, "no callback"))
		stack[0] = statusBadArgument
		return
	}
	headers, ok := headermap.Decode(rawHeaders)
	if _, tok := headermap.Decode(rawTrailers); !ok || !tok {
		vm.faultf("proxy_http_call: malformed header map")
		stack[0] = statusParse
		return
	}
	need := map[string]bool{":method": false, ":path": false, ":authority": false}
	for _, kv := range headers {
		if _, ok := need[kv[0]]; ok && kv[1] != "" {
			need[kv[0]] = true
		}
	}
	for k, found := range need {
		if !found {
			vm.faultf("proxy_http_call: no %s header (Envoy refuses the call)", k)
			stack[0] = statusBadArgument
			return
		}
	}
	upstream := string(up)
	if upstream == "" {
		vm.faultf("proxy_http_call: empty upstream")
		stack[0] = statusBadArgument
		return
	}
	if vm.host.flavor == kong {
		host, port, found := strings.Cut(upstream, ":")
		if !found || host == "" || port == "" || strings.ContainsAny(port, ":/") {
			vm.faultf("proxy_http_call: Kong needs host:port, not %q", upstream)
			stack[0] = statusBadArgument
			return
		}
	}
	vm.nextToken++
	tok := vm.nextToken
	vm.calls[tok] = &pendingCall{stream: owner, call: Callout{Upstream: upstream, Headers: headers, Body: body, Timeout: time.Duration(timeout) * time.Millisecond}}
	if !vm.write32(mod, retToken, tok) {
		stack[0] = statusInvalidMem
		return
	}
	stack[0] = statusOK
}

// setTickPeriod records the root's tick period. Kong allows it from the
// root context only and traps on a second non-zero period
// (ngx_proxy_wasm_hfuncs_set_tick_period in
// src/common/proxy_wasm/ngx_proxy_wasm_host.c); the model refuses both
// on either host.
func setTickPeriod(ctx context.Context, _ api.Module, stack []uint64) {
	vm := vmOf(ctx)
	period := uint32(stack[0])
	switch {
	case vm.effective != rootID || vm.inCallback == "proxy_on_request_headers":
		vm.faultf("proxy_set_tick_period_milliseconds: only in the root context")
		stack[0] = statusBadArgument
	case period != 0 && vm.tickPeriod != 0:
		vm.faultf("proxy_set_tick_period_milliseconds: tick_period already set (Kong traps)")
		stack[0] = statusBadArgument
	default:
		vm.tickPeriod = time.Duration(period) * time.Millisecond
		stack[0] = statusOK
	}
}

func setEffectiveContext(ctx context.Context, _ api.Module, stack []uint64) {
	vm := vmOf(ctx)
	id := uint32(stack[0])
	if _, ok := vm.streams[id]; !ok && id != rootID {
		vm.faultf("proxy_set_effective_context: unknown context %d", id)
		stack[0] = statusBadArgument
		return
	}
	// Kong's host ignores it (ngx_proxy_wasm_hfuncs_set_effective_context
	// in src/common/proxy_wasm/ngx_proxy_wasm_host.c only logs under
	// DDEBUG): every host call acts on the stream the callback runs for.
	// proxy-wasm-cpp-host switches the context (src/exports.cc).
	if vm.host.gw.AnswersAtRoot { // the host honours the switch
		vm.effective = id
	}
	stack[0] = statusOK
}

func defineMetric(ctx context.Context, mod api.Module, stack []uint64) {
	vm := vmOf(ctx)
	name, ok := vm.read(mod, uint32(stack[1]), uint32(stack[2]), "proxy_define_metric name")
	if !ok {
		stack[0] = statusBadArgument
		return
	}
	if uint32(stack[0]) > 2 || len(name) == 0 {
		vm.faultf("proxy_define_metric: type %d name %q", uint32(stack[0]), name)
		stack[0] = statusBadArgument
		return
	}
	id := -1
	for i, n := range vm.metricNames {
		if n == string(name) {
			id = i
		}
	}
	if id < 0 {
		id = len(vm.metricNames)
		vm.metricNames = append(vm.metricNames, string(name))
		vm.metricValues = append(vm.metricValues, 0)
	}
	if !vm.write32(mod, uint32(stack[3]), uint32(id)) {
		stack[0] = statusInvalidMem
		return
	}
	stack[0] = statusOK
}

func incrementMetric(ctx context.Context, _ api.Module, stack []uint64) {
	vm := vmOf(ctx)
	id := uint32(stack[0])
	if int(id) >= len(vm.metricValues) {
		vm.faultf("proxy_increment_metric: unknown metric %d", id)
		stack[0] = statusNotFound
		return
	}
	vm.metricValues[id] += int64(stack[1])
	stack[0] = statusOK
}

// getProperty serves the request properties of flavor.go while a stream
// is current; anything else is not found.
func getProperty(ctx context.Context, mod api.Module, stack []uint64) {
	vm := vmOf(ctx)
	path, ok := vm.readString(mod, uint32(stack[0]), uint32(stack[1]), "proxy_get_property path")
	if !ok {
		stack[0] = statusBadArgument
		return
	}
	s, isStream := vm.streams[vm.effective]
	if !isStream {
		stack[0] = statusNotFound
		return
	}
	v, found := s.property(path)
	if !found {
		stack[0] = statusNotFound
		return
	}
	stack[0] = vm.give(ctx, mod, []byte(v), uint32(stack[2]), uint32(stack[3]))
}

func getHeaderMapValue(ctx context.Context, mod api.Module, stack []uint64) {
	vm := vmOf(ctx)
	// A map type past 7 is what a stray path_filestat_get would pass (see
	// wasmbuild): headerMap faults on it.
	pairs, status := vm.headerMap("proxy_get_header_map_value", uint32(stack[0]))
	key, ok := vm.read(mod, uint32(stack[1]), uint32(stack[2]), "proxy_get_header_map_value key")
	if !ok {
		stack[0] = statusBadArgument
		return
	}
	if status != statusOK {
		stack[0] = status
		return
	}
	for _, kv := range pairs {
		if strings.EqualFold(kv[0], string(key)) {
			stack[0] = vm.give(ctx, mod, []byte(kv[1]), uint32(stack[3]), uint32(stack[4]))
			return
		}
	}
	stack[0] = statusNotFound
}

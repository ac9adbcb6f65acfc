//go:build wasip1

package abi

// The callbacks a host calls: every callback of proxy-wasm ABI 0.2.1
// (spec: proxy-wasm/spec, abi-versions/v0.2.1), with its signature. They
// are exported Go functions only so that linters see them used; Go code
// never calls them.

var (
	newRoot func(contextID uint32) RootContext
	roots   contexts[RootContext]
	streams contexts[HTTPContext]
)

// contexts is a small id -> context table. A VM holds a handful of roots
// and the streams in flight on one worker, so a linear scan of a slice
// beats a map inside wasm (no hashing, no allocation once grown).
type contexts[T any] struct {
	ids  []uint32
	ctxs []T
}

func (c *contexts[T]) get(id uint32) (T, bool) {
	for i, v := range c.ids {
		if v == id {
			return c.ctxs[i], true
		}
	}
	var zero T
	return zero, false
}

func (c *contexts[T]) put(id uint32, ctx T) {
	for i, v := range c.ids {
		if v == id {
			c.ctxs[i] = ctx
			return
		}
	}
	c.ids = append(c.ids, id)
	c.ctxs = append(c.ctxs, ctx)
}

func (c *contexts[T]) remove(id uint32) bool {
	for i, v := range c.ids {
		if v == id {
			last := len(c.ids) - 1
			c.ids[i], c.ctxs[i] = c.ids[last], c.ctxs[last]
			var zero T
			c.ctxs[last] = zero
			c.ids, c.ctxs = c.ids[:last], c.ctxs[:last]
			return true
		}
	}
	return false
}

// SetNewRootContext registers how root contexts are made. Call it from an
// init function: it is pure computation, which is all Envoy allows during
// _initialize.
func SetNewRootContext(f func(contextID uint32) RootContext) { newRoot = f }

//go:wasmexport proxy_abi_version_0_2_1
func ProxyABIVersion() {}

// proxy_on_memory_allocate is in memory.go, beside the buffers it hands out.

//go:wasmexport proxy_on_context_create
func ProxyOnContextCreate(contextID, parentID uint32) {
	if parentID == 0 {
		roots.put(contextID, newRoot(contextID))
		return
	}
	root, ok := roots.get(parentID)
	if !ok {
		logf(LogCritical, "keycard: context ", itoa(contextID), " created under unknown root ", itoa(parentID))
		return
	}
	streams.put(contextID, root.NewHTTPContext(contextID))
}

//go:wasmexport proxy_on_vm_start
func ProxyOnVMStart(rootID, vmConfigurationSize uint32) uint32 {
	root, ok := roots.get(rootID)
	if !ok {
		return 0
	}
	return boolU32(root.OnVMStart(int(vmConfigurationSize)))
}

//go:wasmexport proxy_on_configure
func ProxyOnConfigure(rootID, pluginConfigurationSize uint32) uint32 {
	root, ok := roots.get(rootID)
	if !ok {
		return 0
	}
	return boolU32(root.OnPluginStart(int(pluginConfigurationSize)))
}

//go:wasmexport proxy_on_tick
func ProxyOnTick(rootID uint32) {
	poisonScratch()
	if root, ok := roots.get(rootID); ok {
		root.OnTick()
	}
}

//go:wasmexport proxy_on_request_headers
func ProxyOnRequestHeaders(contextID, numHeaders, endOfStream uint32) uint32 {
	resetScratch()
	s, ok := streams.get(contextID)
	if !ok {
		// A stream the module never saw created (or created under an
		// unknown root) has no decision to apply: refuse it rather than
		// let it through with whatever identity headers the client sent.
		logf(LogCritical, "keycard: request headers for unknown context ", itoa(contextID), ": refused")
		_ = SendHTTPResponse(500, [][2]string{{"content-type", "application/json"}}, unknownContextBody, "keycard_unknown_context")
		return uint32(ActionPause)
	}
	return uint32(s.OnHTTPRequestHeaders(int(numHeaders), endOfStream != 0))
}

var unknownContextBody = []byte(`{"code":500,"success":false,"data":"","msg":"Internal Server Error","reason":"unknown_context"}`)

// ProxyOnHTTPCallResponse hands a call-out's answer to its root. Envoy
// passes the root's id; Kong passes the plugin's root id as well
// (ngx_http_proxy_wasm_on_dispatch_response), so an answer for any other
// id is a host fault: it is logged and taken as a failed call, so the
// requests waiting for it end in the on_error decision instead of
// hanging.
//
//go:wasmexport proxy_on_http_call_response
func ProxyOnHTTPCallResponse(rootID, token, numHeaders, bodySize, numTrailers uint32) {
	poisonScratch()
	root, ok := roots.get(rootID)
	if !ok {
		logf(LogCritical, "keycard: call-out answer for context ", itoa(rootID), ", which is not a root: taken as a failed call")
		for _, r := range roots.ctxs {
			r.OnHTTPCallResponse(token, 0, 0, 0) // a root that did not make the call ignores it
		}
		return
	}
	root.OnHTTPCallResponse(token, int(numHeaders), int(bodySize), int(numTrailers))
}

// The remaining callbacks of ABI 0.2.1 are exported although the filter
// has nothing to do in them. Kong's host (ngx_wasm_module,
// src/common/proxy_wasm/ngx_proxy_wasm.c, ngx_proxy_wasm_on_log and
// ngx_proxy_wasm_on_done; src/http/proxy_wasm/ngx_http_proxy_wasm.c)
// calls proxy_on_request_body, proxy_on_response_headers,
// proxy_on_response_body, proxy_on_response_trailers, proxy_on_done and
// proxy_on_log on every request without checking that the module exports
// them: a missing one is a call through a NULL function reference and
// the nginx worker dies with SIGSEGV. Envoy (proxy-wasm-cpp-host,
// src/context.cc) skips what is missing. Exporting every callback is
// what keeps the module loadable in any host; the filter's test checks
// the export list against the ABI's.

//go:wasmexport proxy_on_request_body
func ProxyOnRequestBody(contextID, bodySize, endOfStream uint32) uint32 {
	return uint32(ActionContinue)
}

//go:wasmexport proxy_on_request_trailers
func ProxyOnRequestTrailers(contextID, numTrailers uint32) uint32 {
	return uint32(ActionContinue)
}

//go:wasmexport proxy_on_response_headers
func ProxyOnResponseHeaders(contextID, numHeaders, endOfStream uint32) uint32 {
	poisonScratch()
	if s, ok := streams.get(contextID); ok {
		return uint32(s.OnHTTPResponseHeaders(int(numHeaders), endOfStream != 0))
	}
	return uint32(ActionContinue)
}

//go:wasmexport proxy_on_response_body
func ProxyOnResponseBody(contextID, bodySize, endOfStream uint32) uint32 {
	return uint32(ActionContinue)
}

//go:wasmexport proxy_on_response_trailers
func ProxyOnResponseTrailers(contextID, numTrailers uint32) uint32 {
	return uint32(ActionContinue)
}

// ProxyOnDone says the filter is done with the context at once: it never
// holds a finished stream open (returning 0 would make Envoy wait for
// proxy_done).
//
//go:wasmexport proxy_on_done
func ProxyOnDone(contextID uint32) uint32 { return 1 }

//go:wasmexport proxy_on_log
func ProxyOnLog(contextID uint32) {}

// A TCP (network) filter's callbacks: Keycard is an HTTP filter, and a
// connection it is wrongly attached to passes untouched.

//go:wasmexport proxy_on_new_connection
func ProxyOnNewConnection(contextID uint32) uint32 { return uint32(ActionContinue) }

//go:wasmexport proxy_on_downstream_data
func ProxyOnDownstreamData(contextID, dataSize, endOfStream uint32) uint32 {
	return uint32(ActionContinue)
}

//go:wasmexport proxy_on_upstream_data
func ProxyOnUpstreamData(contextID, dataSize, endOfStream uint32) uint32 {
	return uint32(ActionContinue)
}

//go:wasmexport proxy_on_downstream_connection_close
func ProxyOnDownstreamConnectionClose(contextID, peerType uint32) {}

//go:wasmexport proxy_on_upstream_connection_close
func ProxyOnUpstreamConnectionClose(contextID, peerType uint32) {}

// Call-outs the filter never makes (gRPC), queues it never registers and
// foreign functions it never calls.

//go:wasmexport proxy_on_grpc_receive_initial_metadata
func ProxyOnGRPCReceiveInitialMetadata(contextID, callID, numElements uint32) {}

//go:wasmexport proxy_on_grpc_receive
func ProxyOnGRPCReceive(contextID, callID, messageSize uint32) {}

//go:wasmexport proxy_on_grpc_receive_trailing_metadata
func ProxyOnGRPCReceiveTrailingMetadata(contextID, callID, numElements uint32) {}

//go:wasmexport proxy_on_grpc_close
func ProxyOnGRPCClose(contextID, callID, statusCode uint32) {}

//go:wasmexport proxy_on_queue_ready
func ProxyOnQueueReady(contextID, queueID uint32) {}

//go:wasmexport proxy_on_foreign_function
func ProxyOnForeignFunction(contextID, functionID, dataSize uint32) {}

//go:wasmexport proxy_on_delete
func ProxyOnDelete(contextID uint32) {
	poisonScratch()
	if root, ok := roots.get(contextID); ok {
		root.OnDelete()
		roots.remove(contextID)
		return
	}
	if s, ok := streams.get(contextID); ok {
		s.OnHTTPDelete()
	}
	streams.remove(contextID)
}

func boolU32(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

//go:build wasip1

package abi

// The callbacks a host calls. Names and signatures: proxy-wasm ABI 0.2.1.
// They are exported Go functions only so that linters see them used; Go
// code never calls them.

var (
	newRoot func(contextID uint32) RootContext
	roots   = map[uint32]RootContext{}
	streams = map[uint32]HTTPContext{}
)

// SetNewRootContext registers how root contexts are made. Call it from an
// init function: it is pure computation, which is all Envoy allows during
// _initialize.
func SetNewRootContext(f func(contextID uint32) RootContext) { newRoot = f }

//go:wasmexport proxy_abi_version_0_2_1
func ProxyABIVersion() {}

//go:wasmexport proxy_on_memory_allocate
func ProxyOnMemoryAllocate(size uint32) uint32 { return allocate(size) }

//go:wasmexport proxy_on_context_create
func ProxyOnContextCreate(contextID, parentID uint32) {
	if parentID == 0 {
		roots[contextID] = newRoot(contextID)
		return
	}
	root, ok := roots[parentID]
	if !ok {
		logf(LogCritical, "keycard: context ", itoa(contextID), " created under unknown root ", itoa(parentID))
		return
	}
	streams[contextID] = root.NewHTTPContext(contextID)
}

//go:wasmexport proxy_on_vm_start
func ProxyOnVMStart(rootID, vmConfigurationSize uint32) uint32 {
	root, ok := roots[rootID]
	if !ok {
		return 0
	}
	return boolU32(root.OnVMStart(int(vmConfigurationSize)))
}

//go:wasmexport proxy_on_configure
func ProxyOnConfigure(rootID, pluginConfigurationSize uint32) uint32 {
	root, ok := roots[rootID]
	if !ok {
		return 0
	}
	return boolU32(root.OnPluginStart(int(pluginConfigurationSize)))
}

//go:wasmexport proxy_on_tick
func ProxyOnTick(rootID uint32) {
	if root, ok := roots[rootID]; ok {
		root.OnTick()
	}
}

//go:wasmexport proxy_on_request_headers
func ProxyOnRequestHeaders(contextID, numHeaders, endOfStream uint32) uint32 {
	s, ok := streams[contextID]
	if !ok {
		logf(LogCritical, "keycard: request headers for unknown context ", itoa(contextID))
		return uint32(ActionContinue)
	}
	return uint32(s.OnHTTPRequestHeaders(int(numHeaders), endOfStream != 0))
}

//go:wasmexport proxy_on_http_call_response
func ProxyOnHTTPCallResponse(rootID, token, numHeaders, bodySize, numTrailers uint32) {
	if root, ok := roots[rootID]; ok {
		root.OnHTTPCallResponse(token, int(numHeaders), int(bodySize), int(numTrailers))
	}
}

// proxy_on_done and proxy_on_log are not exported: the filter has nothing
// to do then, and both hosts skip a callback a module does not export,
// which saves two calls into the module per request.

//go:wasmexport proxy_on_delete
func ProxyOnDelete(contextID uint32) {
	if root, ok := roots[contextID]; ok {
		root.OnDelete()
		delete(roots, contextID)
		return
	}
	delete(streams, contextID)
}

func boolU32(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

//go:build wasip1

package abi

// The callbacks a host calls. Names and signatures: proxy-wasm ABI 0.2.1.
// They are exported Go functions only so that linters see them used; Go
// code never calls them.

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

//go:wasmexport proxy_on_memory_allocate
func ProxyOnMemoryAllocate(size uint32) uint32 { return allocate(size) }

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
	if root, ok := roots.get(rootID); ok {
		root.OnTick()
	}
}

//go:wasmexport proxy_on_request_headers
func ProxyOnRequestHeaders(contextID, numHeaders, endOfStream uint32) uint32 {
	s, ok := streams.get(contextID)
	if !ok {
		logf(LogCritical, "keycard: request headers for unknown context ", itoa(contextID))
		return uint32(ActionContinue)
	}
	return uint32(s.OnHTTPRequestHeaders(int(numHeaders), endOfStream != 0))
}

//go:wasmexport proxy_on_http_call_response
func ProxyOnHTTPCallResponse(rootID, token, numHeaders, bodySize, numTrailers uint32) {
	if root, ok := roots.get(rootID); ok {
		root.OnHTTPCallResponse(token, int(numHeaders), int(bodySize), int(numTrailers))
	}
}

// proxy_on_done and proxy_on_log are not exported: the filter has nothing
// to do then, and both hosts skip a callback a module does not export,
// which saves two calls into the module per request.

//go:wasmexport proxy_on_delete
func ProxyOnDelete(contextID uint32) {
	if root, ok := roots.get(contextID); ok {
		root.OnDelete()
		roots.remove(contextID)
		return
	}
	streams.remove(contextID)
}

func boolU32(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

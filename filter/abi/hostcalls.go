//go:build wasip1

package abi

import (
	"unsafe"

	"github.com/keycard-gw/keycard/filter/abi/headermap"
)

// Map, buffer, metric and stream types used by the filter.
const (
	mapRequestHeaders      = 0
	mapResponseHeaders     = 2
	mapHTTPCallRespHeaders = 6

	bufferHTTPCallResponseBody = 4
	bufferVMConfiguration      = 6
	bufferPluginConfiguration  = 7

	metricCounter = 0

	streamRequest = 0
)

//go:wasmimport env proxy_log
func proxyLog(level uint32, msg unsafe.Pointer, size uint32) uint32

//go:wasmimport env proxy_get_buffer_bytes
func proxyGetBufferBytes(bufferType, start, maxSize uint32, retData, retSize *uint32) uint32

//go:wasmimport env proxy_get_header_map_pairs
func proxyGetHeaderMapPairs(mapType uint32, retData, retSize *uint32) uint32

//go:wasmimport env proxy_replace_header_map_value
func proxyReplaceHeaderMapValue(mapType uint32, key unsafe.Pointer, keySize uint32, value unsafe.Pointer, valueSize uint32) uint32

//go:wasmimport env proxy_remove_header_map_value
func proxyRemoveHeaderMapValue(mapType uint32, key unsafe.Pointer, keySize uint32) uint32

//go:wasmimport env proxy_send_local_response
func proxySendLocalResponse(status uint32, details unsafe.Pointer, detailsSize uint32, body unsafe.Pointer, bodySize uint32, headers unsafe.Pointer, headersSize uint32, grpcStatus int32) uint32

//go:wasmimport env proxy_continue_stream
func proxyContinueStream(streamType uint32) uint32

//go:wasmimport env proxy_http_call
func proxyHTTPCall(upstream unsafe.Pointer, upstreamSize uint32, headers unsafe.Pointer, headersSize uint32, body unsafe.Pointer, bodySize uint32, trailers unsafe.Pointer, trailersSize uint32, timeoutMillis uint32, retToken *uint32) uint32

//go:wasmimport env proxy_set_effective_context
func proxySetEffectiveContext(contextID uint32) uint32

//go:wasmimport env proxy_define_metric
func proxyDefineMetric(metricType uint32, name unsafe.Pointer, nameSize uint32, retID *uint32) uint32

//go:wasmimport env proxy_increment_metric
func proxyIncrementMetric(id uint32, offset int64) uint32

//go:wasmimport env proxy_set_tick_period_milliseconds
func proxySetTickPeriod(millis uint32) uint32

//go:wasmimport env proxy_get_property
func proxyGetProperty(path unsafe.Pointer, pathSize uint32, retData, retSize *uint32) uint32

// Log writes a message to the host's log.
func Log(level LogLevel, msg string) {
	proxyLog(uint32(level), strPtr(msg), uint32(len(msg)))
}

func logf(level LogLevel, parts ...string) {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	b := make([]byte, 0, n)
	for _, p := range parts {
		b = append(b, p...)
	}
	Log(level, string(b))
}

func getBuffer(bufferType uint32, size int) ([]byte, error) {
	st := Status(proxyGetBufferBytes(bufferType, 0, uint32(size), &retPtr, &retSize))
	if st != StatusOK {
		release()
		return nil, st
	}
	return take(retPtr, retSize), nil
}

// GetPluginConfiguration returns the plugin configuration of size bytes.
func GetPluginConfiguration(size int) ([]byte, error) {
	return getBuffer(bufferPluginConfiguration, size)
}

// GetVMConfiguration returns the VM configuration of size bytes.
func GetVMConfiguration(size int) ([]byte, error) { return getBuffer(bufferVMConfiguration, size) }

// GetHTTPCallResponseBody returns the call-out's response body.
func GetHTTPCallResponseBody(size int) ([]byte, error) {
	return getBuffer(bufferHTTPCallResponseBody, size)
}

// Headers is a serialized header map as the host returned it, read in
// place through an index made in one pass: no per-header allocation.
type Headers = headermap.Index

// getMap reads a header map into h.
func getMap(mapType uint32, h *Headers) error {
	st := Status(proxyGetHeaderMapPairs(mapType, &retPtr, &retSize))
	if st != StatusOK {
		release()
		h.Reset("")
		return st
	}
	b := take(retPtr, retSize)
	if len(b) == 0 {
		h.Reset("")
		return nil
	}
	// The buffer is ours (allocate made it) and nothing else writes it
	// while the map is in use: read it as a string without a copy.
	h.Reset(unsafe.String(&b[0], len(b)))
	return nil
}

// requestHeaders is the request header map last read; otherHeaders the
// last response or call-out response map. Each index's memory is reused.
var requestHeaders, otherHeaders Headers

// GetHTTPRequestHeaders returns the request headers with one host call,
// read into the scratch buffer: the map is valid until the next request
// callback or the next call of this function, and a caller that keeps
// any of it copies it.
func GetHTTPRequestHeaders() (*Headers, error) {
	scratch.on = true
	err := getMap(mapRequestHeaders, &requestHeaders)
	return &requestHeaders, err
}

// GetHTTPCallResponseHeaders returns the call-out's response headers,
// valid until the next response or call-out header map is read.
func GetHTTPCallResponseHeaders() (*Headers, error) {
	return &otherHeaders, getMap(mapHTTPCallRespHeaders, &otherHeaders)
}

// GetHTTPResponseHeaders reads the response headers (in
// proxy_on_response_headers), valid as GetHTTPCallResponseHeaders's.
func GetHTTPResponseHeaders() (*Headers, error) {
	return &otherHeaders, getMap(mapResponseHeaders, &otherHeaders)
}

// ReplaceHTTPResponseHeader sets a response header (in
// proxy_on_response_headers), replacing every copy.
func ReplaceHTTPResponseHeader(name, value string) error {
	return asError(Status(proxyReplaceHeaderMapValue(mapResponseHeaders, strPtr(name), uint32(len(name)), strPtr(value), uint32(len(value)))))
}

// ReplaceHTTPRequestHeader sets a request header, replacing every value.
func ReplaceHTTPRequestHeader(name, value string) error {
	return asError(Status(proxyReplaceHeaderMapValue(mapRequestHeaders, strPtr(name), uint32(len(name)), strPtr(value), uint32(len(value)))))
}

// RemoveHTTPRequestHeader removes every value of a request header.
func RemoveHTTPRequestHeader(name string) error {
	return asError(Status(proxyRemoveHeaderMapValue(mapRequestHeaders, strPtr(name), uint32(len(name)))))
}

// encoded is the buffer header maps the filter sends are encoded into,
// reused: the host copies a map during the call.
var encoded []byte

// SendHTTPResponse answers the request from the filter.
func SendHTTPResponse(status uint32, headers [][2]string, body []byte, details string) error {
	encoded = headermap.AppendEncode(encoded[:0], headers)
	h := encoded
	return asError(Status(proxySendLocalResponse(status, strPtr(details), uint32(len(details)), ptrOf(body), uint32(len(body)), ptrOf(h), uint32(len(h)), -1)))
}

// ResumeHTTPRequest continues a paused request.
func ResumeHTTPRequest() error { return asError(Status(proxyContinueStream(streamRequest))) }

// DispatchHTTPCall sends a call-out; the answer arrives in the root
// context's OnHTTPCallResponse with the returned token.
func DispatchHTTPCall(upstream string, headers [][2]string, body []byte, timeoutMillis uint32) (uint32, error) {
	h := headermap.Encode(headers)
	t := headermap.Encode(nil)
	var token uint32
	st := Status(proxyHTTPCall(strPtr(upstream), uint32(len(upstream)), ptrOf(h), uint32(len(h)), ptrOf(body), uint32(len(body)), ptrOf(t), uint32(len(t)), timeoutMillis, &token))
	return token, asError(st)
}

// SetTickPeriod asks the host to call the root context's OnTick every
// millis milliseconds. Kong allows it once per root context, from the
// root (ngx_proxy_wasm_hfuncs_set_tick_period traps on a second period).
func SetTickPeriod(millis uint32) error { return asError(Status(proxySetTickPeriod(millis))) }

// SetEffectiveContext makes later host calls act on another context (an
// HTTP stream while handling a root context callback).
func SetEffectiveContext(contextID uint32) error {
	return asError(Status(proxySetEffectiveContext(contextID)))
}

// DefineCounter defines a counter metric.
func DefineCounter(name string) (uint32, error) {
	var id uint32
	st := Status(proxyDefineMetric(metricCounter, strPtr(name), uint32(len(name)), &id))
	return id, asError(st)
}

// IncrementCounter adds to a counter.
func IncrementCounter(id uint32, by int64) error {
	return asError(Status(proxyIncrementMetric(id, by)))
}

// GetProperty reads a host property of the request, its path's parts
// joined with NUL, as a string, without copying it: it is read into the
// scratch buffer, so it is valid until the next request callback, and a
// caller that keeps it copies it.
func GetProperty(path string) (string, error) {
	scratch.on = true
	st := Status(proxyGetProperty(strPtr(path), uint32(len(path)), &retPtr, &retSize))
	if st != StatusOK {
		release()
		return "", st
	}
	b := take(retPtr, retSize)
	if len(b) == 0 {
		return "", nil
	}
	return unsafe.String(&b[0], len(b)), nil
}

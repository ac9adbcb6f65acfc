//go:build wasip1

// Command wasm is the Keycard filter as a proxy-wasm module: build it with
// GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared (make wasm). It is
// glue only: the ABI layer (filter/abi) calls in, the session
// (filter/session) decides, and abiHost carries its requests back to the
// host.
package main

import (
	"time"

	"github.com/keycard-gw/keycard/filter/abi"
	"github.com/keycard-gw/keycard/filter/session"
)

// main is not run in a reactor; the host calls _initialize, then the
// exported callbacks.
func main() {}

func init() {
	abi.SetNewRootContext(func(uint32) abi.RootContext { return &root{s: session.New(&abiHost{})} })
}

// root is one plugin instance, the session's on the ABI.
type root struct {
	s    *session.Root
	free []*stream // finished streams, reused: a request allocates none
}

func (r *root) OnVMStart(int) bool          { return true }
func (r *root) OnPluginStart(size int) bool { return r.s.Configure(size) }
func (r *root) NewHTTPContext(id uint32) abi.HTTPContext {
	if n := len(r.free); n > 0 {
		st := r.free[n-1]
		r.free = r.free[:n-1]
		st.id = id
		return st
	}
	return &stream{id: id, root: r}
}
func (r *root) OnTick()   { r.s.Tick() }
func (r *root) OnDelete() {}
func (r *root) OnHTTPCallResponse(token uint32, numHeaders, bodySize, _ int) {
	r.s.CallResponse(token, numHeaders, bodySize)
}

// stream is one HTTP request.
type stream struct {
	id   uint32
	root *root
}

func (st *stream) OnHTTPRequestHeaders(int, bool) abi.Action {
	return abi.Action(st.root.s.RequestHeaders(st.id))
}

func (st *stream) OnHTTPResponseHeaders(int, bool) abi.Action {
	return abi.Action(st.root.s.ResponseHeaders(st.id))
}

// OnHTTPDelete is the stream's last callback (the ABI layer forgets it
// right after), so its object goes back to the root for the next one.
func (st *stream) OnHTTPDelete() {
	st.root.s.Delete(st.id)
	st.root.free = append(st.root.free, st)
}

// abiHost is session.Host on the proxy-wasm ABI. Its methods take a
// pointer: through the interface, a value receiver's method is reached
// by a wrapper, one more call inside wasm.
type abiHost struct{}

func (*abiHost) Clock() func() time.Time   { return abi.Now }
func (*abiHost) Log(level int, msg string) { abi.Log(abi.LogLevel(level), msg) }
func (*abiHost) PluginConfiguration(size int) ([]byte, error) {
	return abi.GetPluginConfiguration(size)
}
func (*abiHost) SetTickPeriod(millis uint32) error         { return abi.SetTickPeriod(millis) }
func (*abiHost) DefineCounter(name string) (uint32, error) { return abi.DefineCounter(name) }
func (*abiHost) IncrementCounter(id uint32) error          { return abi.IncrementCounter(id, 1) }
func (*abiHost) Property(path string) (string, error)      { return abi.GetProperty(path) }
func (*abiHost) RemoveRequestHeader(name string) error     { return abi.RemoveHTTPRequestHeader(name) }
func (*abiHost) ReplaceRequestHeader(name, value string) error {
	return abi.ReplaceHTTPRequestHeader(name, value)
}
func (*abiHost) ReplaceResponseHeader(name, value string) error {
	return abi.ReplaceHTTPResponseHeader(name, value)
}
func (*abiHost) SendResponse(status int, headers [][2]string, body []byte, details string) error {
	return abi.SendHTTPResponse(uint32(status), headers, body, details)
}
func (*abiHost) Resume() error                             { return abi.ResumeHTTPRequest() }
func (*abiHost) SetEffective(stream uint32) error          { return abi.SetEffectiveContext(stream) }
func (*abiHost) CallResponseBody(size int) ([]byte, error) { return abi.GetHTTPCallResponseBody(size) }
func (*abiHost) Dispatch(upstream string, headers [][2]string, timeoutMillis uint32) (uint32, error) {
	return abi.DispatchHTTPCall(upstream, headers, nil, timeoutMillis)
}

func (*abiHost) RequestHeaders() (session.Headers, error) {
	return headers(abi.GetHTTPRequestHeaders())
}

func (*abiHost) ResponseHeaders() (session.Headers, error) {
	return headers(abi.GetHTTPResponseHeaders())
}

func (*abiHost) CallResponseHeaders() (session.Headers, error) {
	return headers(abi.GetHTTPCallResponseHeaders())
}

// headers hands a header map over as the session's, nil with an error.
func headers(h *abi.Headers, err error) (session.Headers, error) {
	if err != nil {
		return nil, err
	}
	return h, nil
}

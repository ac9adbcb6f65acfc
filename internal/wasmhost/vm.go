package wasmhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
)

const rootID = 1

// LogEntry is one proxy_log (or fd_write) line.
type LogEntry struct {
	Level   uint32
	Message string
}

// VM is one instance of the module with one root context (one plugin).
// Its methods are safe for concurrent use; calls into the module are
// serialised, as in a real host's worker thread.
type VM struct {
	mu      sync.Mutex
	changed *sync.Cond // a call-out was answered
	host    *Host
	mod     api.Module
	exports map[string]api.Function
	malloc  api.Function // proxy_on_memory_allocate, called from host functions
	stack   []uint64
	mstack  []uint64 // malloc's stack: give runs while stack is in use
	encoded []byte   // the last header map handed to the module, its buffer reused

	pluginConfig []byte
	nextID       uint32
	streams      map[uint32]*stream
	effective    uint32 // context the current callback acts on
	inCallback   string
	calls        map[uint32]*pendingCall
	nextToken    uint32
	callResp     *callResult // during proxy_on_http_call_response
	metricNames  []string
	metricValues []int64
	logs         []LogEntry
	maxLogs      int
	fault        error
	pollCalls    int
	inFlight     int // call-outs being answered
	tickPeriod   time.Duration
	phase        string // "_initialize" or "proxy_on_memory_allocate" while they run
}

// stream is one request's state on the host side.
type stream struct {
	id          uint32
	headers     [][2]string // current request headers (Envoy: lower-case names; Kong: the client's case)
	ghosts      [][2]string // Kong: headers the module removed that nginx still forwards
	answerTo    uint32      // a host fault: where call-out answers go (0: the root)
	target      string      // the request target as the client sent it
	ngxHost     string      // Kong: nginx's $host ("" elsewhere)
	requestLine string      // Kong: nginx's $request_line ("" elsewhere)
	response    *LocalResponse
	paused      bool
	resumed     bool

	// The response's headers while proxy_on_response_headers runs (the
	// only time the module may read or change them), then as changed.
	respHeaders [][2]string
	respShared  bool // respHeaders is upstreamResponse's: copy before a change
	inResponse  bool
}

type pendingCall struct {
	stream uint32
	call   Callout
}

type callResult struct {
	headers [][2]string
	body    []byte
}

// LocalResponse is what the module answered itself.
type LocalResponse struct {
	Status  int
	Headers [][2]string
	Body    []byte
	Details string
}

type vmKey struct{}

func vmOf(ctx context.Context) *VM { return ctx.Value(vmKey{}).(*VM) }

var exportNames = []string{
	"proxy_on_memory_allocate", "proxy_on_context_create", "proxy_on_vm_start", "proxy_on_configure",
	"proxy_on_request_headers", "proxy_on_http_call_response", "proxy_on_tick",
	cbRequestBody, cbResponseHeaders, cbResponseBody, cbResponseTrailers, cbDone, cbLog, cbDelete,
}

// NewVM instantiates the module (running _initialize), creates the root
// context, starts the VM and configures the plugin. A configuration the
// module refuses is an error, and so is one written for another gateway
// than the host models (one fact, one value: Options.Gateway is the
// configuration's gateway).
func (h *Host) NewVM(ctx context.Context, pluginConfig []byte) (*VM, error) {
	var named struct {
		Gateway string `json:"gateway"`
	}
	if json.Unmarshal(pluginConfig, &named) == nil && named.Gateway != "" && named.Gateway != h.gw.Name {
		return nil, fmt.Errorf("wasmhost: a configuration for gateway %q in a host that models %q", named.Gateway, h.gw.Name)
	}
	vm := &VM{host: h, nextID: rootID + 1, streams: map[uint32]*stream{}, calls: map[uint32]*pendingCall{}, stack: make([]uint64, 8), mstack: make([]uint64, 1), maxLogs: 1000}
	vm.changed = sync.NewCond(&vm.mu)
	ctx = context.WithValue(ctx, vmKey{}, vm)
	vm.phase = "_initialize"
	if memoryAllocator != nil {
		ctx = experimental.WithMemoryAllocator(ctx, memoryAllocator)
	}
	mod, err := h.rt.InstantiateModule(ctx, h.compiled, wazero.NewModuleConfig().WithName("").WithStartFunctions("_initialize"))
	vm.phase = ""
	if err != nil {
		return nil, fmt.Errorf("wasmhost: instantiate: %w", err)
	}
	if vm.fault != nil {
		return nil, fmt.Errorf("wasmhost: during _initialize: %w", vm.fault)
	}
	vm.mod = mod
	vm.exports = map[string]api.Function{}
	for _, name := range exportNames {
		if f := mod.ExportedFunction(name); f != nil {
			vm.exports[name] = f
		}
	}
	vm.malloc = vm.exports["proxy_on_memory_allocate"]
	if mod.ExportedFunction("proxy_abi_version_0_2_1") == nil {
		return nil, errors.New("wasmhost: the module does not export proxy_abi_version_0_2_1")
	}
	for _, name := range []string{"proxy_on_memory_allocate", "proxy_on_context_create", "proxy_on_configure", "proxy_on_request_headers"} {
		if vm.exports[name] == nil {
			return nil, fmt.Errorf("wasmhost: the module does not export %s", name)
		}
	}
	if _, err := vm.call(ctx, "proxy_on_context_create", rootID, 0); err != nil {
		return nil, err
	}
	if r, err := vm.call(ctx, "proxy_on_vm_start", rootID, 0); err != nil {
		return nil, err
	} else if r == 0 {
		return nil, errors.New("wasmhost: proxy_on_vm_start refused")
	}
	if err := vm.Configure(ctx, pluginConfig); err != nil {
		return nil, err
	}
	return vm, nil
}

// Configure hands the plugin a (new) configuration.
func (vm *VM) Configure(ctx context.Context, pluginConfig []byte) error {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	ctx = context.WithValue(ctx, vmKey{}, vm)
	vm.pluginConfig = pluginConfig
	vm.effective = rootID
	vm.inCallback = "proxy_on_configure"
	defer func() { vm.inCallback = "" }()
	r, err := vm.call(ctx, "proxy_on_configure", rootID, uint64(len(pluginConfig)))
	if err != nil {
		return err
	}
	if r == 0 {
		return fmt.Errorf("wasmhost: proxy_on_configure refused the configuration: %s", vm.lastLog())
	}
	return nil
}

// TickPeriod is the tick period the module asked for; 0 when none.
func (vm *VM) TickPeriod() time.Duration {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.tickPeriod
}

// Tick runs the root context's tick, as the host does every TickPeriod,
// and answers the call-outs it made, returning them. Tests and keycard
// dev call it: the model keeps no timers.
func (vm *VM) Tick(ctx context.Context) ([]Callout, error) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	if vm.tickPeriod == 0 {
		return nil, errors.New("wasmhost: the module set no tick period")
	}
	ctx = context.WithValue(ctx, vmKey{}, vm)
	vm.effective, vm.inCallback = rootID, "proxy_on_tick"
	_, err := vm.call(ctx, "proxy_on_tick", rootID)
	vm.inCallback = ""
	if err != nil {
		return nil, err
	}
	var made []Callout
	for {
		tok, pc := vm.pendingFor(rootID)
		if pc == nil {
			return made, nil
		}
		made = append(made, pc.call)
		if err := vm.answer(ctx, tok, pc); err != nil {
			return made, err
		}
	}
}

// Close ends the VM.
func (vm *VM) Close(ctx context.Context) error { return vm.mod.Close(ctx) }

// call runs an export and returns its first result. A fault recorded by
// a host function during the call is returned as the error.
func (vm *VM) call(ctx context.Context, name string, args ...uint64) (uint64, error) {
	f := vm.exports[name]
	if f == nil {
		if !vm.host.gw.SkipsMissingCallbacks && mandatory(name) {
			return 0, fmt.Errorf("wasmhost: the module does not export %s, which Kong's host calls without checking: the nginx worker would crash (SIGSEGV)", name)
		}
		return 0, nil // optional callback not exported: Envoy skips it
	}
	copy(vm.stack, args)
	if err := f.CallWithStack(ctx, vm.stack); err != nil {
		return 0, fmt.Errorf("wasmhost: %s: %w", name, err)
	}
	if vm.fault != nil {
		err := vm.fault
		vm.fault = nil
		return 0, fmt.Errorf("wasmhost: during %s: %w", name, err)
	}
	return vm.stack[0], nil
}

func (vm *VM) faultf(format string, args ...any) {
	if vm.fault == nil && !vm.host.opts.Probe {
		vm.fault = fmt.Errorf(format, args...)
	}
}

func (vm *VM) addLog(e LogEntry) {
	if len(vm.logs) >= vm.maxLogs {
		copy(vm.logs, vm.logs[1:])
		vm.logs = vm.logs[:len(vm.logs)-1]
	}
	vm.logs = append(vm.logs, e)
}

func (vm *VM) lastLog() string {
	if len(vm.logs) == 0 {
		return "(no log line)"
	}
	return vm.logs[len(vm.logs)-1].Message
}

// Logs returns and clears the log lines collected so far.
func (vm *VM) Logs() []LogEntry {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	out := vm.logs
	vm.logs = nil
	return out
}

// Metric returns a counter's value by name, and whether it is defined.
func (vm *VM) Metric(name string) (int64, bool) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	for i, n := range vm.metricNames {
		if n == name {
			return vm.metricValues[i], true
		}
	}
	return 0, false
}

// MemoryPages is the module's linear memory size in 64 KiB pages.
func (vm *VM) MemoryPages() uint32 {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return vm.mod.Memory().Size() / 65536
}

// Gateway is the gateway whose host the VM runs in.
func (vm *VM) Gateway() string { return vm.host.gw.Name }

// PollCalls counts poll_oneoff calls (which Envoy does not implement).
func (vm *VM) PollCalls() int { return vm.pollCalls }

// Request is a request as a client sends it: Authority is the client's
// host (its Host header), Path the request target as sent. The flavour
// turns it into what the module sees (flavor.go).
type Request struct {
	Method, Authority, Path string
	Headers                 [][2]string // regular headers; Envoy lower-cases the names, Kong keeps them
	Body                    []byte

	// Host faults, for tests of the module's failure paths: the context
	// the stream is created under, and the context its call-outs'
	// answers are delivered to (0: the VM's root, as both hosts do).
	Parent, AnswerTo uint32
}

// Result is what the filter did with a request.
type Result struct {
	// Response is set when the filter answered itself.
	Response *LocalResponse
	// Headers are the request headers after the filter's changes, when
	// it let the request through: what the upstream receives (on Kong,
	// with the headers the module removed but nginx still forwards).
	Headers [][2]string
	// Callouts the filter made.
	Callouts []Callout
	// ResponseHeaders are the response's headers as the client receives
	// them, after the module's changes in proxy_on_response_headers: the
	// upstream's (a 200 of the model's) or the filter's own answer's.
	ResponseHeaders [][2]string
}

// Allowed reports whether the filter let the request through.
func (r *Result) Allowed() bool { return r.Response == nil }

// Header returns a forwarded request header's values; names compare
// without regard to case.
func (r *Result) Header(name string) []string {
	var out []string
	for _, kv := range r.Headers {
		if strings.EqualFold(kv[0], name) {
			out = append(out, kv[1])
		}
	}
	return out
}

// present makes the stream of a request as the host presents it to the
// module: its header map and the properties the host answers for it.
func (h *Host) present(req Request) (*stream, error) {
	var ngxHost, requestLine string
	if h.flavor == kong {
		// $request_line: an HTTP/1.1 line as the client sent it.
		requestLine = req.Method + " " + req.Path + " HTTP/1.1"
		ngxHost, req.Path = nginxHost(req, h.opts.ServerName)
	}
	headers, err := h.requestHeaders(req)
	if err != nil {
		return nil, err
	}
	return &stream{headers: headers, target: req.Path, ngxHost: ngxHost, requestLine: requestLine, answerTo: req.AnswerTo}, nil
}

// Presented is a request as the host that opts describes presents it to the
// module: the request header map and the properties it answers (by path,
// segments joined by NUL, as proxy_get_property asks), for measuring the
// same request in another engine (internal/testing/v8test).
func Presented(opts Options, req Request) (headers [][2]string, properties map[string]string, err error) {
	h, err := model(opts)
	if err != nil {
		return nil, nil, err
	}
	s, err := h.present(req)
	if err != nil {
		return nil, nil, err
	}
	properties = map[string]string{}
	for _, path := range []string{"request\x00path", "ngx\x00host", "ngx\x00request_line"} {
		if v, ok := s.property(path); ok {
			properties[path] = v
		}
	}
	return s.headers, properties, nil
}

// Do runs one request through the filter the way Envoy or Kong would:
// context create, request headers, call-outs answered through the Caller,
// then done, log and delete.
func (vm *VM) Do(ctx context.Context, req Request) (*Result, error) {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	ctx = context.WithValue(ctx, vmKey{}, vm)
	s, err := vm.host.present(req)
	if err != nil {
		// nginx answers itself; no filter runs.
		return &Result{Response: &LocalResponse{Status: 400, Details: HostRefused}}, nil
	}
	id := vm.nextID
	vm.nextID++
	s.id = id
	vm.streams[id] = s
	defer func() {
		delete(vm.streams, id)
		for tok, c := range vm.calls {
			if c.stream == id {
				delete(vm.calls, tok)
			}
		}
	}()
	parent := uint64(rootID)
	if req.Parent != 0 {
		parent = uint64(req.Parent)
	}
	if _, err := vm.call(ctx, "proxy_on_context_create", uint64(id), parent); err != nil {
		return nil, err
	}
	res := &Result{}
	// Kong always passes end_of_stream 0 (ngx_http_proxy_wasm_on_request_headers);
	// Envoy passes 1 when no body follows.
	eos := uint64(0)
	if vm.host.flavor != kong && len(req.Body) == 0 {
		eos = 1
	}
	vm.effective, vm.inCallback = id, "proxy_on_request_headers"
	action, err := vm.call(ctx, "proxy_on_request_headers", uint64(id), uint64(len(s.headers)), eos)
	vm.inCallback = ""
	if err != nil {
		return nil, err
	}
	switch action {
	case 0:
		if s.response == nil {
			s.resumed = true
		}
	case 1:
		s.paused = true
	default:
		return nil, fmt.Errorf("wasmhost: proxy_on_request_headers returned action %d", action)
	}
	for s.paused && s.response == nil && !s.resumed {
		tok, pc := vm.pendingFor(id)
		if pc == nil {
			if vm.inFlight == 0 {
				return nil, errors.New("wasmhost: the filter paused the request with no local response and no call-out pending: the request would hang")
			}
			vm.changed.Wait() // another request's call-out may resume this one
			continue
		}
		res.Callouts = append(res.Callouts, pc.call)
		if err := vm.answer(ctx, tok, pc); err != nil {
			return nil, err
		}
	}
	if err := vm.finishStream(ctx, s, len(req.Body)); err != nil {
		return nil, err
	}
	res.Response = s.response
	res.ResponseHeaders = s.respHeaders
	if s.response == nil {
		res.Headers = append(s.headers, s.ghosts...)
		if vm.host.flavor == kong {
			res.Headers = kongUpstreamHeaders(s.headers, s.ghosts)
		}
	}
	return res, nil
}

// HostRefused is the Details of a response the host itself gave before
// any filter ran (nginx's 400 for a target it cannot parse).
const HostRefused = "host_refused"

// upstreamResponse is what the model's upstream answers a request the
// filter let through.
var upstreamResponse = struct {
	headers [][2]string
	body    []byte
}{[][2]string{{":status", "200"}, {"content-type", "text/plain"}, {"content-length", "2"}}, []byte("ok")}

// finishStream runs a stream's callbacks after its request headers, in
// the flavour's order (flavor.go): the request body when there is one and
// the request went on, the response (the filter's own or the upstream's)
// headers, body and trailers, then done, log and delete.
func (vm *VM) finishStream(ctx context.Context, s *stream, bodySize int) error {
	id := uint64(s.id)
	vm.effective = s.id
	if bodySize > 0 && s.response == nil {
		if _, err := vm.call(ctx, cbRequestBody, id, uint64(bodySize), 1); err != nil {
			return err
		}
	}
	// The response's headers, shared until the module reads or changes
	// them (respHeadersFor copies them then).
	s.respHeaders, s.respShared = upstreamResponse.headers, true
	respBody := len(upstreamResponse.body)
	if s.response != nil {
		s.respHeaders, s.respShared = append([][2]string{{":status", strconv.Itoa(s.response.Status)}}, s.response.Headers...), false
		respBody = len(s.response.Body)
	}
	respHeaders := len(s.respHeaders)
	steps := [...]struct {
		name string
		args [3]uint64
		n    int
	}{
		{cbResponseHeaders, [3]uint64{id, uint64(respHeaders), 0}, 3},
		{cbResponseBody, [3]uint64{id, uint64(respBody), 1}, 3},
		{cbResponseTrailers, [3]uint64{id, 0}, 2},
		{cbDone, [3]uint64{id}, 1},
		{cbLog, [3]uint64{id}, 1},
		{cbDelete, [3]uint64{id}, 1},
	}
	for i := range steps {
		st := &steps[i]
		if st.name == cbResponseTrailers && vm.host.flavor != kong {
			continue // Envoy calls it only when the response has trailers
		}
		vm.effective = s.id
		s.inResponse = st.name == cbResponseHeaders
		r, err := vm.call(ctx, st.name, st.args[:st.n]...)
		s.inResponse = false
		if err != nil {
			return err
		}
		if (st.name == cbResponseHeaders || st.name == cbResponseBody) && r != 0 && vm.exports[st.name] != nil {
			return fmt.Errorf("wasmhost: %s returned action %d: the filter has nothing to pause the response for", st.name, r)
		}
	}
	return nil
}

func (vm *VM) pendingFor(id uint32) (uint32, *pendingCall) {
	var best uint32
	var found *pendingCall
	for tok, c := range vm.calls {
		if c.stream == id && (found == nil || tok < best) {
			best, found = tok, c
		}
	}
	return best, found
}

// answer runs the Caller for a call-out and delivers the result to the
// root context as the flavor's host would.
func (vm *VM) answer(ctx context.Context, tok uint32, pc *pendingCall) error {
	delete(vm.calls, tok)
	vm.inFlight++
	defer func() { vm.inFlight--; vm.changed.Broadcast() }()
	var resp *CalloutResponse
	var err error
	if vm.host.opts.Caller != nil {
		vm.mu.Unlock() // the caller may take time; the VM is not in a callback
		resp, err = vm.host.opts.Caller(ctx, &pc.call)
		vm.mu.Lock()
	} else {
		err = errors.New("no upstream")
	}
	cr := &callResult{}
	if err != nil {
		cr.headers, cr.body = vm.host.flavor.failedCall(err)
	} else {
		cr.headers, cr.body = resp.Headers, resp.Body
	}
	vm.callResp = cr
	// Envoy runs the callback in the root context, and the module picks
	// the stream with proxy_set_effective_context. Kong runs it on the
	// instance of the request that dispatched the call
	// (ngx_http_proxy_wasm_on_dispatch_response in
	// src/http/proxy_wasm/ngx_http_proxy_wasm.c): whatever the module
	// does then acts on that request, and only that request resumes.
	vm.effective = rootID
	if !vm.host.gw.AnswersAtRoot {
		vm.effective = pc.stream
	}
	vm.inCallback = "proxy_on_http_call_response"
	to := uint64(rootID)
	if s, ok := vm.streams[pc.stream]; ok && s.answerTo != 0 {
		to = uint64(s.answerTo)
	}
	_, cerr := vm.call(ctx, "proxy_on_http_call_response", to, uint64(tok), uint64(len(cr.headers)), uint64(len(cr.body)), 0)
	vm.callResp, vm.inCallback = nil, ""
	return cerr
}

package session

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/filter"
	"github.com/keycard-gw/keycard/state"
)

// Root is one plugin instance: its configuration, its engine, and the
// sidecar calls in flight.
type Root struct {
	host    Host
	clock   clock
	engine  *filter.Engine
	metrics metrics
	logs    logLimit
	calls   map[uint32]*inflight // by call-out token
	byToken map[string]*inflight // by state.Name key: requests for one token share a call

	// responseCORS are the CORS headers for the responses of allowed
	// cross-origin requests, by stream, until their response headers.
	responseCORS map[uint32][][2]string

	keyCalls     map[uint32]*keyCall // key fetches by call-out token
	keysByIssuer map[string]*keyCall // the fetch in flight per issuer
	ticking      bool                // the tick period is set (once per root: Kong traps on a second)

	// req is the request being decided, reused so that a request costs
	// no allocation; a request that waits keeps a copy (keep).
	req filter.Request
	// stripRemove and stripSet are the header changes of the verdict
	// apply is carrying out, and strip the walk that removes headers,
	// made once (a closure made per request would be an allocation per
	// request).
	stripRemove []string
	stripSet    [][2]string
	strip       func(name, value string)
}

// keyCall is one fetch of an issuer's keys from the sidecar and the
// requests waiting for it.
type keyCall struct {
	issuer  string
	waiters []keyWaiter
}

type keyWaiter struct {
	stream uint32
	req    filter.Request
}

// inflight is one sidecar call and the requests waiting for it.
type inflight struct {
	name    string // the token's state.Name key
	waiters []waiter
}

type waiter struct {
	stream  uint32
	pending *filter.Pending
}

type metrics struct {
	on           bool
	allowed      uint32
	denied       map[string]uint32
	shadowDenied map[string]uint32
}

// logLimit bounds the denial log lines a VM writes: at most
// logsPerSecond a second, then one line saying how many were dropped.
type logLimit struct {
	second  int64
	written int
	dropped int
}

const logsPerSecond = 20

// allow reports whether a line may be written now, and how many were
// dropped since the last one.
func (l *logLimit) allow(now time.Time) (bool, int) {
	sec := now.Unix()
	if sec != l.second {
		dropped := l.dropped
		l.second, l.written, l.dropped = sec, 1, 0
		return true, dropped
	}
	if l.written >= logsPerSecond {
		l.dropped++
		return false, 0
	}
	l.written++
	return true, 0
}

// clock reads the host's clock once per callback: time.Now is two host
// calls on wasip1 (wall clock and monotonic), and what one callback
// decides happens at one instant anyway.
type clock struct {
	src func() time.Time // the host's clock
	t   time.Time
	set bool
}

func (c *clock) now() time.Time {
	if !c.set {
		c.t, c.set = c.src(), true
	}
	return c.t
}

// reset makes the next now read the host's clock again; every callback
// that decides starts with it.
func (c *clock) reset() { c.set = false }

// New makes a plugin instance on host.
func New(host Host) *Root {
	r := &Root{host: host}
	r.clock.src = host.Clock()
	r.strip = func(name, _ string) { r.stripHeader(name) }
	return r
}

// Configure decodes and validates the whole configuration before it
// replaces the running one: a bad configuration leaves the old one (or
// none) in place and fails with one log line.
func (r *Root) Configure(size int) bool {
	data, err := r.host.PluginConfiguration(size)
	if err != nil {
		r.host.Log(LogError, "keycard: cannot read the plugin configuration: "+err.Error())
		return false
	}
	r.clock.reset()
	e, err := filter.FromJSON(data, r.clock.now)
	if err != nil {
		r.host.Log(LogError, "keycard: bad configuration: "+err.Error())
		return false
	}
	m := metrics{on: e.Config().Options.Metrics}
	if m.on {
		m.denied, m.shadowDenied = map[string]uint32{}, map[string]uint32{}
		m.allowed, _ = r.host.DefineCounter("keycard.requests.allowed")
		shadowing := e.Shadowing()
		for _, reason := range filter.Reasons {
			if id, err := r.host.DefineCounter("keycard.requests.denied." + reason); err == nil {
				m.denied[reason] = id
			}
			if shadowing {
				if id, err := r.host.DefineCounter("keycard.requests.shadow_denied." + reason); err == nil {
					m.shadowDenied[reason] = id
				}
			}
		}
	}
	r.engine, r.metrics = e, m
	if r.calls == nil {
		// Calls in flight survive a reconfiguration: their requests are
		// finished by the new engine instead of hanging.
		r.calls, r.byToken, r.responseCORS = map[uint32]*inflight{}, map[string]*inflight{}, map[uint32][][2]string{}
		r.keyCalls, r.keysByIssuer = map[uint32]*keyCall{}, map[string]*keyCall{}
	}
	if e.HoldsRemoteKeys() && !r.ticking {
		// Keys are fetched on the first tick (a host may refuse call-outs
		// while it configures: Kong traps on one) and whenever a token
		// needs them.
		if err := r.host.SetTickPeriod(filter.KeyTickMillis); err != nil {
			r.host.Log(LogWarn, "keycard: cannot set the tick period: "+err.Error()+"; keys are fetched only when a token needs them")
		} else {
			r.ticking = true
		}
	}
	r.host.Log(LogInfo, "keycard: configured policy "+e.Config().Policy+" ("+strconv.Itoa(len(data))+" bytes)")
	return true
}

// CallResponse finishes every request waiting for this answer. A
// failed call arrives here too (Envoy: no headers; Kong: a
// :dispatch_status header): both end in the on_error decision.
func (r *Root) CallResponse(token uint32, numHeaders, bodySize int) {
	r.clock.reset()
	if kc, ok := r.keyCalls[token]; ok {
		r.keysArrived(token, kc, numHeaders, bodySize)
		return
	}
	call, ok := r.calls[token]
	if !ok {
		r.host.Log(LogWarn, "keycard: answer for an unknown sidecar call")
		return
	}
	delete(r.calls, token)
	if r.byToken[call.name] == call {
		delete(r.byToken, call.name)
	}
	a, err := r.readAnswer(numHeaders, bodySize)
	if err != nil {
		r.host.Log(LogWarn, "keycard: sidecar: "+err.Error())
	}
	for _, w := range call.waiters {
		if r.host.SetEffective(w.stream) != nil {
			continue // the request is gone
		}
		d := r.engine.Finish(w.pending, a, err)
		if r.apply(w.stream, &d, nil) {
			_ = r.host.Resume()
		}
	}
}

// proceed carries a decision on: a fetch of keys or a sidecar call to
// wait for, or a verdict. It reports whether the request goes on now.
func (r *Root) proceed(stream uint32, req *filter.Request, d *filter.Decision, h Headers) bool {
	switch {
	case d.Keys != nil:
		return r.waitKeys(stream, req, d.Keys)
	case d.Pending != nil:
		return r.ask(stream, d.Pending)
	}
	return r.apply(stream, d, h)
}

// waitKeys sends (or, on Envoy, joins) the fetch of an issuer's keys that
// a request's token needs.
func (r *Root) waitKeys(stream uint32, req *filter.Request, k *filter.KeyFetch) bool {
	kc := r.keysByIssuer[k.Issuer]
	if kc == nil || k.Send {
		if kc = r.fetchKeys(k.Issuer, k.Query()); kc == nil {
			// Not sent: the engine now refuses it (401 or 503).
			d := r.engine.Decide(req)
			return r.proceed(stream, req, &d, nil)
		}
	}
	kc.waiters = append(kc.waiters, keyWaiter{stream, keep(req)})
	return false
}

// fetchKeys dispatches a key fetch, or says why it could not.
func (r *Root) fetchKeys(issuer, query string) *keyCall {
	// The sidecar may fetch the set from the provider before it answers.
	token, err := r.dispatch(query, r.engine.KeyTimeoutMillis(issuer))
	if err != nil {
		r.host.Log(LogWarn, "keycard: cannot ask the sidecar for the keys of "+issuer+": "+err.Error())
		_, _ = r.engine.KeysArrived(issuer, nil, err)
		return nil
	}
	kc := &keyCall{issuer: issuer}
	r.keyCalls[token], r.keysByIssuer[issuer] = kc, kc
	return kc
}

// keysArrived hands a key fetch's answer to the engine and decides the
// requests that waited for it again.
func (r *Root) keysArrived(token uint32, kc *keyCall, numHeaders, bodySize int) {
	delete(r.keyCalls, token)
	if r.keysByIssuer[kc.issuer] == kc {
		delete(r.keysByIssuer, kc.issuer)
	}
	body, err := r.readBody(numHeaders, bodySize, state.MaxKeySet)
	changed, err := r.engine.KeysArrived(kc.issuer, body, err)
	switch {
	case err != nil:
		r.host.Log(LogWarn, "keycard: keys of "+kc.issuer+": "+err.Error()+"; the keys in use stay")
	case changed:
		r.host.Log(LogInfo, "keycard: new keys of issuer "+kc.issuer)
	}
	for _, w := range kc.waiters {
		if r.host.SetEffective(w.stream) != nil {
			continue // the request is gone
		}
		d := r.engine.Decide(&w.req)
		if r.proceed(w.stream, &w.req, &d, nil) {
			_ = r.host.Resume()
		}
	}
}

func (r *Root) readAnswer(numHeaders, bodySize int) (*state.Answer, error) {
	body, err := r.readBody(numHeaders, bodySize, state.MaxAnswer)
	if err != nil {
		return nil, err
	}
	return state.Decode(body)
}

// readBody reads a sidecar answer's body: a 200 with at most max bytes.
func (r *Root) readBody(numHeaders, bodySize, max int) ([]byte, error) {
	if numHeaders == 0 {
		return nil, errors.New("call failed")
	}
	h, err := r.host.CallResponseHeaders()
	if err != nil {
		return nil, errors.New("no response headers: " + err.Error())
	}
	status := ""
	h.Each(func(k, v string) {
		switch k {
		case ":status":
			status = v
		case ":dispatch_status":
			if status == "" {
				status = "dispatch " + v
			}
		}
	})
	if status != "200" {
		return nil, errors.New("status " + status)
	}
	if bodySize <= 0 || bodySize > max {
		return nil, errors.New("answer of " + strconv.Itoa(bodySize) + " bytes")
	}
	body, err := r.host.CallResponseBody(bodySize)
	if err != nil {
		return nil, errors.New("no response body: " + err.Error())
	}
	return body, nil
}

// ask sends (or joins) the sidecar call for a pending request.
//
// On Envoy, requests for a token whose call is in flight wait for that
// call: the answer reaches the root context, which resumes each of them
// through proxy_set_effective_context. Kong's host delivers the answer
// on the instance of the request that made the call and ignores
// proxy_set_effective_context (ngx_wasm_module's
// ngx_proxy_wasm_hfuncs_set_effective_context is a no-op), so a
// request that joined another's call would never resume and the answer
// would be applied twice to one request: there, every request makes
// its own call.
func (r *Root) ask(stream uint32, p *filter.Pending) (answered bool) {
	shared := r.engine.Gateway().AnswersAtRoot
	key := p.Key
	if call, ok := r.byToken[key]; ok && shared {
		call.waiters = append(call.waiters, waiter{stream, p})
		return false
	}
	token, err := r.dispatch(p.StateQuery(), 0)
	if err != nil {
		r.host.Log(LogWarn, "keycard: cannot call the sidecar: "+err.Error())
		d := r.engine.Finish(p, nil, errors.New("dispatch: "+err.Error()))
		return r.apply(stream, &d, nil)
	}
	call := &inflight{name: key, waiters: []waiter{{stream, p}}}
	r.calls[token] = call
	if shared {
		r.byToken[key] = call
	}
	return false
}

// dispatch sends a GET to the sidecar; extra lengthens the timeout for
// an answer the sidecar may have to fetch first.
func (r *Root) dispatch(path string, extra int) (uint32, error) {
	sc := r.engine.Config().Sidecar
	authority := sc.Authority
	if authority == "" {
		authority = "keycard-sidecar"
	}
	timeout := sc.TimeoutMillis
	if timeout <= 0 {
		timeout = config.DefaultTimeoutMillis
	}
	headers := [][2]string{{":method", "GET"}, {":path", path}, {":authority", authority}, {"accept", "application/json"}}
	if sc.Key != "" {
		headers = append(headers, [2]string{"x-keycard-gateway-key", sc.Key})
	}
	return r.host.Dispatch(sc.Upstream, headers, uint32(timeout+extra))
}

// Tick asks for the key sets that are due.
func (r *Root) Tick() {
	r.clock.reset()
	if r.engine == nil {
		return
	}
	for _, issuer := range r.engine.KeysDue() {
		r.fetchKeys(issuer, state.KeysQuery(issuer, ""))
	}
}

// RequestHeaders decides the request of stream from its headers: it
// goes on (Continue), is answered, or waits for the sidecar (Pause).
func (r *Root) RequestHeaders(stream uint32) Action {
	r.clock.reset()
	e := r.engine
	if e == nil {
		// Not configured: the host should not send traffic, but if it
		// does, fail closed.
		_ = r.host.SendResponse(503, [][2]string{{"content-type", "application/json"}}, []byte(`{"code":503,"success":false,"data":"","msg":"Service Unavailable","reason":"not_configured"}`), "keycard_not_configured")
		return Pause
	}
	h, err := r.host.RequestHeaders()
	if err != nil {
		r.host.Log(LogError, "keycard: cannot read request headers: "+err.Error())
		_ = r.host.SendResponse(500, nil, nil, "keycard_headers")
		return Pause
	}
	// Field by field: zeroing the whole struct is a bulk clear with
	// write barriers inside wasm.
	req := &r.req
	req.Headers, req.Authority, req.RouteHost = h, "", ""
	// Next(name, 0), not Get: through the interface, Get is one more call.
	req.Method, _ = h.Next(":method", 0)
	gw := e.Gateway()
	if !r.readTarget(gw, req, h) {
		return Pause
	}
	if !gw.HostHeader { // else the engine reads the Host header
		req.Authority, _ = h.Next(":authority", 0)
	}
	d := e.Decide(req)
	if r.proceed(stream, req, &d, h) {
		return Continue
	}
	return Pause
}

// readTarget reads, where the host's ":path" is not the request target
// as the client sent it (Kong), the target and the host the server
// routes by from host properties. It answers the request itself and
// returns false when it cannot.
func (r *Root) readTarget(gw *filter.Gateway, req *filter.Request, h Headers) bool {
	if gw.TargetProperty == "" {
		req.Path, _ = h.Next(":path", 0)
		return true
	}
	if p := gw.RequestLineProperty; p != "" {
		// Usually the request line alone tells both, with one host call.
		if line, err := r.host.Property(string(p)); err == nil {
			if target, ok := filter.OriginTarget(line); ok {
				req.Path = target
				return true
			}
		}
	}
	// Kong's :path is nginx's decoded, normalised URI: decoding it
	// again would misread %25, and it is not what proxy_pass sends
	// upstream. The request target as the client sent it is
	// $request_uri, which ngx_wasm_module serves as request.path
	// (src/common/proxy_wasm/ngx_proxy_wasm_properties.c).
	p := gw.TargetProperty
	target, err := r.host.Property(string(p))
	if err != nil {
		r.host.Log(LogError, "keycard: cannot read "+p.String()+": "+err.Error())
		_ = r.host.SendResponse(500, nil, nil, "keycard_request_path")
		return false
	}
	req.Path = target
	if p := gw.RouteHostProperty; p != "" {
		// nginx's $host: the host it routes and proxies by, which an
		// absolute-form request line sets before the Host header.
		// (request.host is not it: ngx_wasm_module maps that to
		// ngx.hostname, the machine's name.)
		if req.RouteHost, err = r.host.Property(string(p)); err != nil {
			r.host.Log(LogError, "keycard: cannot read "+p.String()+": "+err.Error())
			_ = r.host.SendResponse(500, nil, nil, "keycard_request_host")
			return false
		}
	}
	return true
}

// apply carries a verdict out on the current request: a local response
// (false) or the identity headers (true: let it through).
// h is the request's headers when the caller has them.
func (r *Root) apply(stream uint32, d *filter.Decision, h Headers) bool {
	r.count(d)
	if d.Answered { // a preflight: the filter's answer, not a denial
		if err := r.host.SendResponse(d.Status, d.CORS, nil, "keycard_"+d.Reason); err != nil {
			r.host.Log(LogError, "keycard: cannot send the local response: "+err.Error())
		}
		return false
	}
	if !d.Allow || d.Shadow {
		// One structured line per denial and per shadowed denial, at
		// info, rate-limited so that a flood cannot flood the log.
		if ok, dropped := r.logs.allow(r.clock.now()); ok {
			if dropped > 0 {
				r.host.Log(LogInfo, "keycard: "+strconv.Itoa(dropped)+" denial log lines dropped in the last second")
			}
			r.host.Log(LogInfo, r.engine.LogLine(d))
		}
	}
	if !d.Allow {
		headers := d.ResponseHeaders()
		if len(d.CORS) > 0 { // the browser may read the denial
			headers = append(slices.Clip(headers), d.CORS...)
		}
		if err := r.host.SendResponse(d.Status, headers, d.Body(), "keycard_"+d.Reason); err != nil {
			r.host.Log(LogError, "keycard: cannot send the local response: "+err.Error())
		}
		return false
	}
	// Every client header that names a stripped one (forwarded identity
	// headers, override headers) in any case or with "_" for "-" goes;
	// the exact name of one that gets a value is replaced instead (which
	// drops every copy). A remove costs a host call only when the
	// request carries such a header. Where the host cannot remove a
	// header (Kong), the engine refused every request that carried one
	// of these names before deciding it (filter.Engine's refuse list
	// holds every name of its remove list), so there is nothing to walk.
	if len(d.Remove) > 0 && r.engine.Gateway().RemovesHeaders {
		if h == nil {
			if got, err := r.host.RequestHeaders(); err == nil {
				h = got
			}
		}
		if h != nil {
			r.stripRemove, r.stripSet = d.Remove, d.Set
			h.EachIn(r.engine.RemoveNames(), r.strip)
			r.stripRemove, r.stripSet = nil, nil
		}
	}
	for _, kv := range d.Set {
		if err := r.host.ReplaceRequestHeader(kv[0], kv[1]); err != nil {
			r.host.Log(LogError, "keycard: cannot set "+kv[0]+": "+err.Error())
			_ = r.host.SendResponse(500, nil, nil, "keycard_headers")
			return false
		}
	}
	if len(d.CORS) > 0 { // for the upstream's response, after this callback
		r.responseCORS[stream] = filter.CloneHeaders(d.CORS)
	}
	return true
}

// stripHeader removes a request header if it names one that the verdict
// being applied removes (r.stripRemove). The walk passes only names the
// engine's RemoveNames may hold, so none is empty.
func (r *Root) stripHeader(name string) {
	if name[0] == ':' {
		return
	}
	for _, strip := range r.stripRemove {
		if !filter.SameHeaderName(name, strip) {
			continue
		}
		if !(strings.EqualFold(name, strip) && setsHeader(r.stripSet, strip)) {
			_ = r.host.RemoveRequestHeader(name)
		}
		return
	}
}

// keep copies a request that waits past its callback: its strings may
// live in memory the host reuses for the next request (filter.Request).
func keep(req *filter.Request) filter.Request {
	k := filter.Request{Method: strings.Clone(req.Method), Authority: strings.Clone(req.Authority),
		Path: strings.Clone(req.Path), RouteHost: strings.Clone(req.RouteHost)}
	var h filter.HeaderList
	req.Headers.Each(func(name, value string) {
		h = append(h, [2]string{strings.Clone(name), strings.Clone(value)})
	})
	k.Headers = h
	return k
}

// OnHTTPResponseHeaders adds the CORS headers decided for an allowed
// cross-origin request to the upstream's response: they replace any the
// upstream set (the gateway answers for CORS), except Vary, to which
// Origin is added.
func (r *Root) ResponseHeaders(stream uint32) Action {
	if len(r.responseCORS) == 0 {
		return Continue // the usual case: no map lookup, and no call (this inlines)
	}
	return r.responseCORSHeaders(stream)
}

func (r *Root) responseCORSHeaders(stream uint32) Action {
	cors, ok := r.responseCORS[stream]
	if !ok {
		return Continue
	}
	delete(r.responseCORS, stream)
	for _, kv := range cors {
		v := kv[1]
		if kv[0] == "vary" {
			if h, err := r.host.ResponseHeaders(); err == nil {
				if old, found := h.Get("vary"); found && old != "" {
					v = old + ", " + v
				}
			}
		}
		if err := r.host.ReplaceResponseHeader(kv[0], v); err != nil {
			r.host.Log(LogWarn, "keycard: cannot set the response's "+kv[0]+": "+err.Error())
		}
	}
	return Continue
}

// Delete forgets what the stream left behind.
func (r *Root) Delete(stream uint32) {
	if len(r.responseCORS) > 0 {
		delete(r.responseCORS, stream)
	}
}

func setsHeader(set [][2]string, name string) bool {
	for _, kv := range set {
		if kv[0] == name {
			return true
		}
	}
	return false
}

func (r *Root) count(d *filter.Decision) {
	if !r.metrics.on {
		return
	}
	if d.Shadow {
		if id, ok := r.metrics.shadowDenied[d.Reason]; ok {
			_ = r.host.IncrementCounter(id)
		}
	}
	if d.Allow || d.Answered {
		_ = r.host.IncrementCounter(r.metrics.allowed)
		return
	}
	if id, ok := r.metrics.denied[d.Reason]; ok {
		_ = r.host.IncrementCounter(id)
	}
}

//go:build wasip1

// Command wasm is the Keycard filter as a proxy-wasm module: build it with
// GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared (make wasm). It
// glues the ABI layer (filter/abi) to the decision engine (filter).
package main

import (
	"strconv"
	"strings"
	"time"

	"github.com/keycard-gw/keycard/filter"
	"github.com/keycard-gw/keycard/filter/abi"
)

// main is not run in a reactor; the host calls _initialize, then the
// exported callbacks.
func main() {}

func init() {
	abi.SetNewRootContext(func(id uint32) abi.RootContext { return &root{id: id} })
}

// root is one plugin instance: its configuration and its engine.
type root struct {
	id      uint32
	engine  *filter.Engine
	metrics metrics
}

type metrics struct {
	on      bool
	allowed uint32
	denied  map[string]uint32
}

func (r *root) OnVMStart(int) bool { return true }

// OnPluginStart decodes and validates the whole configuration before it
// replaces the running one: a bad configuration leaves the old one (or
// none) in place and fails with one log line.
func (r *root) OnPluginStart(size int) bool {
	data, err := abi.GetPluginConfiguration(size)
	if err != nil {
		abi.Log(abi.LogError, "keycard: cannot read the plugin configuration: "+err.Error())
		return false
	}
	e, err := filter.FromJSON(data, time.Now)
	if err != nil {
		abi.Log(abi.LogError, "keycard: bad configuration: "+err.Error())
		return false
	}
	m := metrics{on: e.Config().Options.Metrics}
	if m.on {
		m.denied = map[string]uint32{}
		m.allowed, _ = abi.DefineCounter("keycard.requests.allowed")
		for _, reason := range filter.Reasons {
			id, err := abi.DefineCounter("keycard.requests.denied." + reason)
			if err == nil {
				m.denied[reason] = id
			}
		}
	}
	r.engine, r.metrics = e, m
	abi.Log(abi.LogInfo, "keycard: configured policy "+e.Config().Policy+" ("+strconv.Itoa(len(data))+" bytes)")
	return true
}

func (r *root) NewHTTPContext(id uint32) abi.HTTPContext                               { return &stream{id: id, root: r} }
func (r *root) OnHTTPCallResponse(token uint32, numHeaders, bodySize, numTrailers int) {}
func (r *root) OnTick()                                                                {}
func (r *root) OnDone() bool                                                           { return true }
func (r *root) OnDelete()                                                              {}

// stream is one HTTP request.
type stream struct {
	id   uint32
	root *root
}

// requestHeaders reads the host's header map in place.
type requestHeaders struct{ h abi.Headers }

func (rh requestHeaders) Values(name string) []string {
	var out []string
	rh.h.Each(func(k, v string) {
		if k == name || (len(k) == len(name) && strings.EqualFold(k, name)) {
			out = append(out, v)
		}
	})
	return out
}

func (s *stream) OnHTTPRequestHeaders(numHeaders int, endOfStream bool) abi.Action {
	e := s.root.engine
	if e == nil {
		// Not configured: the host should not send traffic, but if it
		// does, fail closed.
		_ = abi.SendHTTPResponse(503, [][2]string{{"content-type", "application/json"}}, []byte(`{"code":503,"success":false,"data":"","msg":"Service Unavailable","reason":"not_configured"}`), "keycard_not_configured")
		return abi.ActionPause
	}
	h, err := abi.GetHTTPRequestHeaders()
	if err != nil {
		abi.Log(abi.LogError, "keycard: cannot read request headers: "+err.Error())
		_ = abi.SendHTTPResponse(500, nil, nil, "keycard_headers")
		return abi.ActionPause
	}
	req := filter.Request{Headers: requestHeaders{h}}
	h.Each(func(k, v string) {
		switch k {
		case ":method":
			req.Method = v
		case ":authority":
			req.Authority = v
		case ":path":
			req.Path = v
		}
	})
	d := e.Decide(&req)
	s.root.count(&d)
	if !d.Allow {
		abi.Log(abi.LogDebug, "keycard: deny "+d.String())
		if err := abi.SendHTTPResponse(uint32(d.Status), d.ResponseHeaders(), d.Body(), "keycard_"+d.Reason); err != nil {
			abi.Log(abi.LogError, "keycard: cannot send the local response: "+err.Error())
		}
		return abi.ActionPause
	}
	// Every client-sent identity header goes; one that gets a value is
	// replaced (which drops every copy), and a remove costs a host call
	// only when the request carries the header.
	for _, name := range d.Remove {
		if !setsHeader(d.Set, name) && hasHeader(h, name) {
			_ = abi.RemoveHTTPRequestHeader(name)
		}
	}
	for _, kv := range d.Set {
		if err := abi.ReplaceHTTPRequestHeader(kv[0], kv[1]); err != nil {
			abi.Log(abi.LogError, "keycard: cannot set "+kv[0]+": "+err.Error())
			_ = abi.SendHTTPResponse(500, nil, nil, "keycard_headers")
			return abi.ActionPause
		}
	}
	return abi.ActionContinue
}

func setsHeader(set [][2]string, name string) bool {
	for _, kv := range set {
		if kv[0] == name {
			return true
		}
	}
	return false
}

func hasHeader(h abi.Headers, name string) bool {
	found := false
	h.Each(func(k, _ string) { found = found || strings.EqualFold(k, name) })
	return found
}

func (r *root) count(d *filter.Decision) {
	if !r.metrics.on {
		return
	}
	if d.Allow {
		_ = abi.IncrementCounter(r.metrics.allowed, 1)
		return
	}
	if id, ok := r.metrics.denied[d.Reason]; ok {
		_ = abi.IncrementCounter(id, 1)
	}
}

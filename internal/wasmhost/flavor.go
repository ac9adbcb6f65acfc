package wasmhost

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
)

// What each flavour does differently, taken from the hosts' sources:
//
//   - Kong: Kong/ngx_wasm_module at a376e67 (the commit Kong 3.10 pins),
//     src/common/proxy_wasm/ngx_proxy_wasm.c (callback lookup and
//     ngx_proxy_wasm_on_log/on_done), src/http/proxy_wasm/
//     ngx_http_proxy_wasm.c (the per-stream steps),
//     src/common/proxy_wasm/ngx_proxy_wasm_maps.c (pseudo-headers) and
//     ngx_proxy_wasm_properties.c (properties).
//   - Envoy: proxy-wasm/proxy-wasm-cpp-host src/context.cc (every
//     callback is skipped when the module lacks it) and Envoy's
//     source/extensions/common/wasm/context.cc (pseudo-headers are
//     Envoy's own request headers; request.path is ":path").
//
// The traits the filter reads too (whose header is the host, whether a
// removed header is gone, where a call-out's answer goes, which callbacks
// are skipped) are filter.Gateway's, chosen by the same gateway value;
// this file and wasi.go hold the rest of the model's differences.
//
// The real hosts run in the tests too (internal/testing/kongtest and
// envoytest): where one and this model disagree, the model is wrong.

// streamCallbacks are a stream's callbacks after proxy_on_request_headers,
// in the order the hosts call them.
//
// Kong calls proxy_on_request_body when the request has a body (eof 1,
// the whole body read), then proxy_on_response_headers,
// proxy_on_response_body (once per chunk; the last with eof 1) and
// proxy_on_response_trailers for every response, its own local responses
// included; then ngx_proxy_wasm_on_log calls proxy_on_done and
// proxy_on_log, and the context's finalisation calls proxy_on_delete. It
// looks each one up once and calls it without a NULL check: a missing
// export is a crash of the nginx worker (SIGSEGV), which this model turns
// into an error.
//
// Envoy calls the same callbacks when there is something to call them
// for, and skips any the module does not export.
const (
	cbRequestBody      = "proxy_on_request_body"
	cbResponseHeaders  = "proxy_on_response_headers"
	cbResponseBody     = "proxy_on_response_body"
	cbResponseTrailers = "proxy_on_response_trailers"
	cbDone             = "proxy_on_done"
	cbLog              = "proxy_on_log"
	cbDelete           = "proxy_on_delete"
)

// localReplyHeaders are the headers a local reply goes out with. Envoy
// sets content-length to the body's (Http::Utility::sendLocalReply in
// source/common/http/utility.cc; 0 for none), and content-type
// text/plain for a body that has none; it stamps date and server too,
// which the model leaves out. Kong's form is the module's headers as
// they are.
func (f flavor) localReplyHeaders(headers [][2]string, body []byte) [][2]string {
	if f != envoy {
		return headers
	}
	out := slices.DeleteFunc(slices.Clone(headers), func(kv [2]string) bool { return strings.EqualFold(kv[0], "content-length") })
	if len(body) > 0 && !slices.ContainsFunc(out, func(kv [2]string) bool { return strings.EqualFold(kv[0], "content-type") }) {
		out = append(out, [2]string{"content-type", "text/plain"})
	}
	return append(out, [2]string{"content-length", strconv.Itoa(len(body))})
}

// failedCall is what the module's proxy_on_http_call_response gets for
// a call-out that got no answer.
//
// Kong: a response whose only header is the pseudo-header
// :dispatch_status (ngx_http_proxy_wasm_dispatch.c).
//
// Envoy: the call goes through the cluster's router
// (AsyncStreamImpl, source/common/http/async_client_impl.cc), which
// answers a refused connection or a reset before the response's
// headers with a local reply, 503 and "upstream connect error or
// disconnect/reset before headers", and a call that outlives its
// timeout with 504 "upstream request timeout"
// (source/common/router/router.cc), headers and body both; only a
// reset after the headers arrived reaches the module as onFailure, a
// response with no headers, which HTTPCaller never produces. Checked in
// Envoy's host core (internal/testing/envoytest).
func (f flavor) failedCall(err error) ([][2]string, []byte) {
	if f == kong {
		return [][2]string{{":dispatch_status", "broken connection"}}, nil
	}
	status, body := "503", "upstream connect error or disconnect/reset before headers. reset reason: connection failure"
	if errors.Is(err, context.DeadlineExceeded) {
		status, body = "504", "upstream request timeout"
	}
	return [][2]string{{":status", status}, {"content-length", strconv.Itoa(len(body))}, {"content-type", "text/plain"}}, []byte(body)
}

// mandatory reports whether a host that does not skip missing callbacks
// (filter.Gateway.SkipsMissingCallbacks) calls this one without checking
// that the module exports it.
func mandatory(callback string) bool {
	switch callback {
	case cbRequestBody, cbResponseHeaders, cbResponseBody, cbResponseTrailers, cbDone, cbLog, cbDelete:
		return true
	}
	return false
}

// requestHeaders builds the request header map the module sees.
//
// Envoy: ":authority" is the client's host (HTTP/1's Host becomes it) and
// ":path" the request target as received; header names are lower case.
//
// Kong: ":path" is nginx's URI (r->uri: percent-decoded once, dot
// segments resolved, slashes merged) plus "?" and the raw arguments
// (ngx_proxy_wasm_maps_get_path); ":authority" is the server block's
// server_name, or the machine's host name when it has none, plus ":" and
// the local port (ngx_proxy_wasm_maps_get_authority) — never the client's
// host, which is only in the Host header. Pseudo-headers come first
// (ngx_proxy_wasm_maps_get_all's "extras"), then nginx's header list as
// the client sent it, names in the client's case.
func (h *Host) requestHeaders(req Request) ([][2]string, error) {
	out := make([][2]string, 0, 5+len(req.Headers))
	if !h.gw.HostHeader {
		out = append(out, [2]string{":method", req.Method}, [2]string{":authority", req.Authority}, [2]string{":path", req.Path}, [2]string{":scheme", "http"})
		for _, kv := range req.Headers {
			name := strings.ToLower(kv[0])
			if envoyInline[name] {
				if i := slices.IndexFunc(out, func(o [2]string) bool { return o[0] == name }); i >= 0 {
					out[i][1] += "," + kv[1]
					continue
				}
			}
			out = append(out, [2]string{name, kv[1]})
		}
		return out, nil
	}
	uri, err := NginxURI(req.Path)
	if err != nil {
		return nil, err
	}
	name := h.opts.ServerName
	if name == "" {
		name = "kong"
	}
	port := h.opts.Port
	if port == 0 {
		port = 8000
	}
	out = append(out, [2]string{":path", uri}, [2]string{":method", req.Method}, [2]string{":scheme", "http"}, [2]string{":authority", name + ":" + strconv.Itoa(port)})
	if req.Authority != "" {
		out = append(out, [2]string{"Host", req.Authority})
	}
	out = append(out, req.Headers...)
	return out, nil
}

// ErrNginxRefuses is a request target nginx answers 400 itself, before
// any filter runs.
var ErrNginxRefuses = errors.New("nginx refuses the request target (400)")

// NginxURI is what nginx (1.27, merge_slashes on) makes of a request
// target for r->uri, plus "?" and the arguments: the path is cut at the
// first "?" (the arguments stay raw) or "#", percent-escapes are decoded
// once, "." and ".." segments are resolved (".." above the root is
// refused) and repeated slashes are merged. A malformed escape or an
// encoded NUL is refused. This is ngx_http_parse_complex_uri's effect as
// the real host shows it; the real-host tests compare it with nginx's
// $uri.
func NginxURI(target string) (string, error) {
	path, args, hasArgs := strings.Cut(target, "?")
	if i := strings.IndexByte(path, '#'); i >= 0 {
		path, args, hasArgs = path[:i], "", false
	}
	if path == "" || path[0] != '/' {
		return "", ErrNginxRefuses
	}
	if strings.IndexByte(path, '%') < 0 && !strings.Contains(path, "//") && !strings.Contains(path, "/.") {
		// Nothing to decode, merge or resolve (the usual target): nginx
		// leaves the path as it is, and the model allocates nothing.
		if hasArgs && args != "" {
			return target, nil // no "#" before the "?": the target is path?args
		}
		return path, nil
	}
	return nginxComplexURI(path, args, hasArgs)
}

// nginxComplexURI is NginxURI for a path with escapes, repeated slashes
// or dot segments.
func nginxComplexURI(path, args string, hasArgs bool) (string, error) {
	var dec strings.Builder
	for i := 0; i < len(path); i++ {
		c := path[i]
		if c == '%' {
			if i+2 >= len(path) {
				return "", ErrNginxRefuses
			}
			v, err := strconv.ParseUint(path[i+1:i+3], 16, 8)
			if err != nil || v == 0 || path[i+1] == '+' || path[i+1] == '-' {
				return "", ErrNginxRefuses
			}
			c = byte(v)
			i += 2
		}
		dec.WriteByte(c)
	}
	var segs []string
	parts := strings.Split(dec.String()[1:], "/")
	for i, s := range parts {
		last := i == len(parts)-1
		switch s {
		case "", ".":
			if last {
				segs = append(segs, "")
			}
		case "..":
			if len(segs) == 0 {
				return "", ErrNginxRefuses
			}
			segs = segs[:len(segs)-1]
			if last {
				segs = append(segs, "")
			}
		default:
			segs = append(segs, s)
		}
	}
	uri := "/" + strings.Join(segs, "/")
	if hasArgs && args != "" {
		uri += "?" + args
	}
	return uri, nil
}

// property answers proxy_get_property for the paths the filter reads.
// Both hosts serve request.path: Kong as nginx's $request_uri (the
// target as the client sent it), Envoy as the ":path" header.
func (s *stream) property(path string) (string, bool) {
	switch path {
	case "request\x00path", "request.path":
		return s.target, true
	case "ngx\x00host", "ngx.host":
		if s.ngxHost != "" {
			return s.ngxHost, true
		}
	case "ngx\x00request_line", "ngx.request_line":
		if s.requestLine != "" {
			return s.requestLine, true
		}
	}
	return "", false
}

// kongProxySets are the request headers Kong's proxy location sets with
// proxy_set_header (kong/templates/nginx_kong.lua), with the value this
// model gives them: the path, and no prefix (an empty value is not sent).
var kongProxySets = []string{"x-forwarded-path", "x-forwarded-prefix"}

// kongUpstreamHeaders is what nginx's proxy module sends upstream on
// Kong: the request headers as the module left them, where
// proxy_set_header replaces every live copy of kongProxySets (spelled as
// they are, in any case) with its own value, then the copies the module
// "removed" — nginx still forwards them, and proxy_set_header no longer
// recognises them once their hash is zeroed
// (ngx_http_proxy_create_request skips only copies whose hash matches a
// set header's), so a removed X-Forwarded-Path reaches the upstream next
// to Kong's own — as the real-host suite saw. One difference is known and
// not modelled: there, a removed X-Forwarded-Prefix (set to "", so not
// sent) did not reach the upstream either; the filter removes neither
// header on Kong, so no decision depends on it.
func kongUpstreamHeaders(live, ghosts [][2]string) [][2]string {
	out := make([][2]string, 0, len(live)+len(ghosts)+1)
	path := ""
	for _, kv := range live {
		if kv[0] == ":path" {
			path, _, _ = strings.Cut(kv[1], "?")
		}
		set := false
		for _, name := range kongProxySets {
			set = set || strings.EqualFold(kv[0], name)
		}
		if !set {
			out = append(out, kv)
		}
	}
	out = append(out, [2]string{"X-Forwarded-Path", path})
	return append(out, ghosts...)
}

// envoyInline are request headers Envoy keeps as one inline entry: a
// second copy is appended to the first with "," (HeaderMapImpl's
// addViaMove/appendToHeader), so a filter sees one value. Those seen so in
// Envoy's host core; cookies and other headers stay separate entries.
var envoyInline = map[string]bool{"authorization": true, "user-agent": true}

// nginxHost is what nginx makes of a request's host, and the target
// with an absolute form's scheme and host taken off: $host is the
// request line's host when the target is absolute-form
// ("GET http://b.example/x"), else the Host header's, lower case and
// without the port, else the server name
// (ngx_http_process_request_line, ngx_http_variable_host). $request_uri
// starts at the path.
func nginxHost(req Request, serverName string) (host, target string) {
	target = req.Path
	raw := req.Authority
	for _, scheme := range []string{"http://", "https://"} {
		if len(target) > len(scheme) && strings.EqualFold(target[:len(scheme)], scheme) {
			rest := target[len(scheme):]
			end := strings.IndexAny(rest, "/?")
			if end < 0 {
				end = len(rest)
			}
			raw, target = rest[:end], rest[end:]
			if target == "" || target[0] == '?' {
				target = "/" + target
			}
			break
		}
	}
	if i := strings.LastIndexByte(raw, ':'); i >= 0 && !strings.HasSuffix(raw, "]") {
		raw = raw[:i]
	}
	host = strings.ToLower(strings.TrimSuffix(raw, "."))
	if host == "" {
		host = serverName
		if host == "" {
			host = "kong"
		}
	}
	return host, target
}

package kongtest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Echoed is what the upstream received.
type Echoed struct {
	Method   string              `json:"method"`
	Target   string              `json:"target"` // the request target, raw
	Proto    string              `json:"proto"`
	Headers  map[string][]string `json:"headers"` // lower-case names
	BodySize int64               `json:"body_size"`
}

// Header is a received header's first value, and whether there was one.
func (e *Echoed) Header(name string) (string, bool) {
	v := e.Headers[strings.ToLower(name)]
	if len(v) == 0 {
		return "", false
	}
	return v[0], true
}

// StartEcho starts an upstream on loopback that answers 200 with what it
// received as JSON (a content type of application/x-echo tells it apart
// from the filter's own answers).
func StartEcho(t testing.TB) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		e := Echoed{Method: r.Method, Target: r.RequestURI, Proto: r.Proto, Headers: map[string][]string{}, BodySize: n}
		for k, vs := range r.Header {
			e.Headers[strings.ToLower(k)] = vs
		}
		if r.Host != "" {
			e.Headers["host"] = []string{r.Host}
		}
		w.Header().Set("Content-Type", "application/x-echo")
		_ = json.NewEncoder(w).Encode(&e)
	}))
	t.Cleanup(srv.Close)
	return srv
}

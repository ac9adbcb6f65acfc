package wasmhost

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// HTTPCaller answers call-outs over real HTTP: upstreams maps the
// module's upstream (an Envoy cluster name or Kong's host:port) to a base
// URL such as http://127.0.0.1:8181. The call's timeout is the module's.
func HTTPCaller(client *http.Client, upstreams map[string]string) Caller {
	return func(ctx context.Context, c *Callout) (*CalloutResponse, error) {
		base, ok := upstreams[c.Upstream]
		if !ok {
			return nil, fmt.Errorf("no upstream %q", c.Upstream)
		}
		var method, path string
		for _, kv := range c.Headers {
			switch kv[0] {
			case ":method":
				method = kv[1]
			case ":path":
				path = kv[1]
			}
		}
		if c.Timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, c.Timeout)
			defer cancel()
		}
		req, err := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(string(c.Body)))
		if err != nil {
			return nil, err
		}
		for _, kv := range c.Headers {
			if !strings.HasPrefix(kv[0], ":") {
				req.Header.Add(kv[0], kv[1])
			}
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return nil, err
		}
		out := &CalloutResponse{Body: body, Headers: [][2]string{{":status", strconv.Itoa(resp.StatusCode)}}}
		for k, vs := range resp.Header {
			for _, v := range vs {
				out.Headers = append(out.Headers, [2]string{strings.ToLower(k), v})
			}
		}
		return out, nil
	}
}

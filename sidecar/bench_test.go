package sidecar

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keycard-gw/keycard/internal/testing/redistest"
	"github.com/keycard-gw/keycard/state"
)

// BenchmarkStateEndpoint drives the filter-facing read endpoint over
// loopback HTTP with real Redis behind it: 16 keep-alive clients, each
// asking about a registered token of its own user. It reports answers per
// second and the 50th and 99th percentile latency seen by the clients.
func BenchmarkStateEndpoint(b *testing.B) {
	rs := redistest.Start(b)
	SetRedisLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	opts := Options{RedisURL: rs.URL(), AdminKey: adminKey, Prefix: "kc:", DefaultService: "shop", UserTTL: time.Hour, TokenTTL: time.Hour, ReadTimeout: time.Second, WriteTimeout: time.Second, DialTimeout: time.Second}
	client, err := opts.Client()
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	store := NewStore(client, opts.Prefix, opts.UserTTL)
	const workers = 16
	ctx := context.Background()
	var paths []string
	for i := range workers {
		user := "user" + string(rune('a'+i))
		id := state.Name{Service: "shop", Kind: state.KindJWT, Subject: user, ID: state.JTIID("bench-" + user)}
		if err := store.Issue(ctx, id, user, time.Now().Add(time.Hour), true, false); err != nil {
			b.Fatal(err)
		}
		_ = store.SetUser(ctx, "shop", user, &UserDoc{Roles: []RoleDoc{{RoleID: "r", Perms: []string{"/a/.*"}}}, Type: "2", Status: "1"})
		paths = append(paths, id.Query())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: NewServer(store, opts, slog.New(slog.NewTextHandler(io.Discard, nil)))}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	tr := &http.Transport{MaxIdleConnsPerHost: workers}
	hc := &http.Client{Transport: tr}

	b.ResetTimer()
	start := time.Now()
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	per := b.N/workers + 1
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, per)
			for range per {
				t0 := time.Now()
				resp, err := hc.Get(base + paths[w])
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) == 0 {
		return
	}
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "answers/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

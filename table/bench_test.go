package table

import (
	"fmt"
	"regexp"
	"testing"
)

// genSpec makes one service with n routes shaped like a real API:
// /v1/r{i}/{id}/items/** style patterns, a third with methods.
func genSpec(n int) *Spec {
	s := ServiceSpec{Name: "api", Mounts: []Mount{{"api.example", "/"}}}
	for i := range n {
		var p string
		switch i % 3 {
		case 0:
			p = fmt.Sprintf("/v1/r%d", i)
		case 1:
			p = fmt.Sprintf("/v1/r%d/{id}", i-1)
		case 2:
			p = fmt.Sprintf("/v1/r%d/{id}/items/**", i-2)
		}
		r := route(p, uint8(i%3), 0, i+1)
		if i%6 == 2 {
			r.Methods = MethodGet | MethodPost
		}
		s.Routes = append(s.Routes, r)
	}
	return &Spec{Services: []ServiceSpec{s}}
}

func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{100, 10_000, 100_000} {
		tb := mustBuild(b, genSpec(n))
		path := fmt.Sprintf("/v1/r%d/42/items/a/b", (n/2)/3*3)
		if m := tb.Lookup("api.example", "GET", path); m.Rule < 0 {
			b.Fatalf("no match for %s", path)
		}
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tb.Lookup("api.example", "GET", path)
			}
			b.ReportMetric(float64(len(tb.Encode()))/float64(n), "table-bytes/route")
		})
	}
}

// BenchmarkRegexScan is the seed plugin's way: a list of compiled regular
// expressions, scanned in order per request, here at 1k rules with the
// match halfway down the list (the average case).
func BenchmarkRegexScan(b *testing.B) {
	const n = 1000
	res := make([]*regexp.Regexp, n)
	for i := range res {
		res[i] = regexp.MustCompile(fmt.Sprintf(`^/v1/r%d/[^/]+/items(/.*)?$`, i))
	}
	path := fmt.Sprintf("/v1/r%d/42/items/a/b", n/2)
	b.Run("rules=1000", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, re := range res {
				if re.MatchString(path) {
					break
				}
			}
		}
	})
}

package compiler

import (
	"fmt"
	"strings"
	"testing"
)

func genPolicy(n int) []byte {
	var b strings.Builder
	b.WriteString(`version: 1
name: bench
identity:
  issuers: [{name: login, algorithms: [HS256], secret: {env: SECRET}}]
levels: {public: 0, user: 1, admin: 2}
services:
  - name: api
    hosts: [api.example]
    routes:
`)
	for i := range n {
		fmt.Fprintf(&b, "      - {path: \"/v1/r%d/{id}/items/**\", access: user}\n", i)
	}
	return []byte(b.String())
}

func BenchmarkCompile(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		src := map[string][]byte{"p.yaml": genPolicy(n)}
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			for b.Loop() {
				res, err := Compile([]string{"p.yaml"}, src, Settings{Env: testEnv})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(len(res.Config.Table))/float64(n), "table-bytes/route")
			}
		})
	}
}

package sidecar

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/keycard-gw/keycard/internal/testing/redistest"
	"github.com/keycard-gw/keycard/state"
	"github.com/redis/go-redis/v9"
)

const adminKey = "test-admin-key-0123456789"

type fixture struct {
	log   lockedBuffer
	srv   *httptest.Server
	rdb   *redis.Client
	redis *redistest.Server
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	rs := redistest.Start(t)
	SetRedisLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	opts := Options{RedisURL: rs.URL(), AdminKey: adminKey, GatewayKey: gatewayKey, Prefix: "kc:", DefaultService: "shop", UserTTL: time.Hour, TokenTTL: time.Hour, ReadTimeout: time.Second, WriteTimeout: time.Second, DialTimeout: time.Second}
	client, err := opts.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	f := &fixture{rdb: redis.NewClient(&redis.Options{Addr: rs.Addr}), redis: rs}
	srv := httptest.NewServer(NewServer(NewStore(client, opts.Prefix, opts.UserTTL), opts, slog.New(slog.NewTextHandler(&f.log, nil))))
	t.Cleanup(srv.Close)
	f.srv = srv
	return f
}

// lockedBuffer is a log sink the server's goroutines write to.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestAuditLog: every business write leaves one line with endpoint,
// service, user and outcome, and never the token.
func TestAuditLog(t *testing.T) {
	f := newFixture(t)
	_, env := f.post(t, "/auth/getToken", `{"userId":"audit-1","serviceId":"shop"}`, adminKey)
	tok, _ := env.Data.(string)
	f.post(t, "/auth/delToken", `{"token":"`+tok+`","userId":"audit-1"}`, adminKey)
	f.post(t, "/user/roles", `{"userId":"audit-2","type":"9"}`, adminKey)
	log := f.log.String()
	for _, want := range []string{
		"msg=audit endpoint=getToken service=shop user=audit-1 outcome=ok",
		"msg=audit endpoint=delToken service=shop user=audit-1 outcome=ok",
		"msg=audit endpoint=userRoles service=shop user=audit-2 outcome=rejected",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("no %q in the log:\n%s", want, log)
		}
	}
	if tok == "" || strings.Contains(log, tok) {
		t.Errorf("the token is in the log (or none was issued): %q", tok)
	}
}

func (f *fixture) post(t *testing.T, path, body string, key string) (int, envelope) {
	t.Helper()
	req, _ := http.NewRequest("POST", f.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("X-Admin-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env envelope
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatalf("%s: body is not an envelope: %v", path, err)
	}
	return resp.StatusCode, env
}

// answer asks the state endpoint about n, as the filter would.
func (f *fixture) answer(t *testing.T, n state.Name) *state.Answer {
	t.Helper()
	req, _ := http.NewRequest("GET", f.srv.URL+n.Query(), nil)
	req.Header.Set(GatewayKeyHeader, gatewayKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("state: %d %s", resp.StatusCode, data)
	}
	a, err := state.Decode(data)
	if err != nil {
		t.Fatalf("state answer %s: %v", data, err)
	}
	return a
}

func (f *fixture) keys(t *testing.T) []string {
	keys, err := f.rdb.Keys(context.Background(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

func TestOpaqueTokenLifecycle(t *testing.T) {
	f := newFixture(t)
	status, env := f.post(t, "/auth/getToken", `{"serviceId":"shop","userId":"u1","param":{"timeout":"600"}}`, adminKey)
	tok, _ := env.Data.(string)
	if status != 200 || env.Code != 0 || len(tok) != 32 {
		t.Fatalf("getToken: %d %+v", status, env)
	}
	id := opaqueName(tok)
	if a := f.answer(t, id); a.Token != state.Active || a.User != "u1" || a.Status != state.Enabled {
		t.Fatalf("after getToken: %+v", a)
	}
	for _, k := range f.keys(t) {
		if strings.Contains(k, tok) {
			t.Errorf("key %s holds the raw token", k)
		}
		if ttl := f.rdb.TTL(context.Background(), k).Val(); ttl <= 0 || ttl > 601*time.Second+MarkerMargin {
			t.Errorf("key %s has TTL %v", k, ttl)
		}
	}
	if status, env := f.post(t, "/auth/delToken", `{"token":"`+tok+`"}`, adminKey); status != 200 || env.Code != 0 {
		t.Fatalf("delToken: %d %+v", status, env)
	}
	if a := f.answer(t, id); a.Token != state.Revoked {
		t.Fatalf("after delToken: %+v", a)
	}
}

func TestClearTokenKillsEveryDevice(t *testing.T) {
	f := newFixture(t)
	var ids []state.Name
	for range 3 {
		_, env := f.post(t, "/auth/getToken", `{"serviceId":"shop","userId":"u2"}`, adminKey)
		ids = append(ids, opaqueName(env.Data.(string)))
	}
	_, other := f.post(t, "/auth/getToken", `{"serviceId":"shop","userId":"u3"}`, adminKey)
	status, env := f.post(t, "/auth/clearToken", `{"userId":"u2","serviceId":"shop"}`, adminKey)
	if status != 200 || env.Data != float64(3) {
		t.Fatalf("clearToken: %d %+v", status, env)
	}
	for _, id := range ids {
		if a := f.answer(t, id); a.Token != state.Revoked {
			t.Errorf("token of u2 after clear: %s", a.Token)
		}
	}
	if a := f.answer(t, opaqueName(other.Data.(string))); a.Token != state.Active {
		t.Errorf("u3's token after clearing u2: %s", a.Token)
	}
}

func TestSingleSessionLogin(t *testing.T) {
	f := newFixture(t)
	exp := time.Now().Add(time.Hour).Unix()
	jwt1 := fakeJWT("13000000001", "j1", exp)
	jwt2 := fakeJWT("13000000001", "j2", exp)
	if status, env := f.post(t, "/auth/login", `{"serviceId":"shop","userId":"13000000001","token":"`+jwt1+`","single":true}`, adminKey); status != 200 {
		t.Fatalf("login 1: %d %+v", status, env)
	}
	if a := f.answer(t, jwtName("13000000001", "j1")); a.Token != state.Active {
		t.Fatalf("first login: %+v", a)
	}
	f.post(t, "/auth/login", `{"serviceId":"shop","userId":"13000000001","token":"`+jwt2+`","single":true}`, adminKey)
	if a := f.answer(t, jwtName("13000000001", "j1")); a.Token != state.Conflict {
		t.Errorf("older token after a new single-session login: %s", a.Token)
	}
	if a := f.answer(t, jwtName("13000000001", "j2")); a.Token != state.Active {
		t.Errorf("newer token: %s", a.Token)
	}
	if a := f.answer(t, jwtName("13000000001", "never")); a.Token != state.Unknown {
		t.Errorf("unregistered token: %s", a.Token)
	}
}

// fakeJWT is a JWT of user, issued a second ago: the sidecar reads its
// claims without verifying them.
func fakeJWT(user, jti string, exp int64) string {
	return fakeJWTClaims(map[string]any{"sub": user, "jti": jti, "exp": exp, "iat": time.Now().Unix() - 1})
}

func fakeJWTClaims(claims map[string]any) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": "HS256"}) + "." + enc(claims) + ".sig"
}

// jwtName names a JWT of user in service shop, without issuer or iat,
// as the filter asks about it.
func jwtName(user, jti string) state.Name {
	return state.Name{Service: "shop", Kind: state.KindJWT, Subject: user, ID: state.JTIID(jti)}
}

// opaqueName names an opaque token of service shop.
func opaqueName(tok string) state.Name {
	return state.Name{Service: "shop", Kind: state.KindOpaque, ID: state.SignedID(tok)}
}

func TestUserAndRoles(t *testing.T) {
	f := newFixture(t)
	f.post(t, "/role/roles", `{"serviceId":"shop","roles":[{"roleId":"a-role","perms":["/a/x/.*"]}]}`, adminKey)
	status, env := f.post(t, "/user/roles", `{"userId":"5533","serviceId":"shop","roles":[{"roleId":"a-role","perms":["/a/test/a"]},{"roleId":"b-role","perms":["/a/test/b"]}],"excludes":["/a/test/b"],"type":"2","status":"1","statusDesc":"ok"}`, adminKey)
	if status != 200 || env.Code != 0 {
		t.Fatalf("user/roles: %d %+v", status, env)
	}
	a := f.answer(t, jwtName("5533", "x"))
	want := &state.Answer{Version: state.Version, Token: state.Unknown, User: "5533", Status: state.Enabled, Roles: []string{"a-role", "b-role"}, Allow: []string{"/a/test/a", "/a/x/.*", "/a/test/b"}, Deny: []string{"/a/test/b"}}
	if !equalAnswer(a, want) {
		t.Errorf("got %+v\nwant %+v", a, want)
	}
	f.post(t, "/user/roles", `{"userId":"5533","serviceId":"shop","roles":[{"roleId":"a-role","perms":["/a/test/a"]}],"excludes":["/a/ok"],"type":"1","status":"0"}`, adminKey)
	a = f.answer(t, jwtName("5533", "x"))
	if a.Status != state.Disabled || len(a.Deny) != 2 || len(a.Allow) != 1 || a.Allow[0] != "/a/ok" {
		t.Errorf("black list, disabled: %+v", a)
	}
}

func equalAnswer(a, b *state.Answer) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestBadInput: every refusal answers with the envelope and writes
// nothing.
func TestBadInput(t *testing.T) {
	f := newFixture(t)
	huge := `{"userId":"u","param":{"timeout":"` + strings.Repeat("9", 70<<10) + `"}}`
	tests := []struct {
		name, path, body, key string
		status                int
		msg                   string
	}{
		{"no key", "/auth/getToken", `{"userId":"u"}`, "", 401, "admin key required"},
		{"wrong key", "/auth/getToken", `{"userId":"u"}`, "wrong-key-0123456789", 401, "admin key required"},
		{"malformed JSON", "/auth/getToken", `{"userId":`, adminKey, 400, "the body ends inside its JSON"},
		{"syntax error", "/auth/getToken", `{"userId" "u"}`, adminKey, 400, "malformed JSON at byte 11"},
		{"wrong type", "/auth/getToken", `{"userId":5}`, adminKey, 400, "field userId must be a string, not a number"},
		{"an array body", "/user/roles", `[{"userId":"u"}]`, adminKey, 400, "the body must be a JSON object"},
		{"an empty body", "/user/roles", ``, adminKey, 400, "the body is empty: it must be a JSON object"},
		{"unknown field", "/auth/clearToken", `{"userId":"u","usrId":"v"}`, adminKey, 400, `unknown field "usrId"`},
		{"type of the wrong kind", "/user/roles", `{"userId":"u","type":[2]}`, adminKey, 400, "field type must be a string or a number"},
		{"level not a number", "/user/roles", `{"userId":"u","level":"high"}`, adminKey, 400, "level must be 0 to 255"},
		{"missing user", "/auth/getToken", `{}`, adminKey, 400, "userId is required"},
		{"bad timeout", "/auth/getToken", `{"userId":"u","param":{"timeout":"-1"}}`, adminKey, 400, "param.timeout must be seconds from 1 to one year"},
		{"huge body", "/auth/getToken", huge, adminKey, 413, "body larger than 65536 bytes"},
		{"trailing data", "/auth/clearToken", `{"userId":"u"} {}`, adminKey, 400, "data after the JSON body"},
		{"long id", "/auth/getToken", `{"userId":"` + strings.Repeat("u", 4097) + `"}`, adminKey, 400, "ids must be 1 to 4096 bytes"},
		{"unseen token without user", "/auth/delToken", `{"token":"abc"}`, adminKey, 400, "userId is required for an opaque token the sidecar has not seen"},
		{"delToken of a token under another user", "/auth/delToken", `{"token":"` + fakeJWT("u1", "j", 0) + `","userId":"u2"}`, adminKey, 400, `userId "u2" is not the token's user "u1"`},
		{"delToken of a malformed JWT", "/auth/delToken", `{"token":"a.b.c"}`, adminKey, 400, "token: not a JWT: its payload is not base64url"},
		{"delToken of a JWT with jti twice", "/auth/delToken", `{"token":"eyJhbGciOiJIUzI1NiJ9.eyJqdGkiOiJhIiwianRpIjoiYiJ9.c2ln"}`, adminKey, 400, "token: claim jti given twice"},
		{"login of garbage", "/auth/login", `{"userId":"u","token":"garbage"}`, adminKey, 400, "token: not a JWT (login registers JWTs; getToken issues opaque tokens)"},
		{"login of a token of another user", "/auth/login", `{"userId":"u2","token":"` + fakeJWT("u1", "j", 0) + `"}`, adminKey, 400, `userId "u2" is not the token's user "u1"`},
		{"login of a token without subject", "/auth/login", `{"userId":"u","token":"` + fakeJWTClaims(map[string]any{"jti": "j"}) + `"}`, adminKey, 400, "token: no sub claim: a token without a subject belongs to no user"},
		{"bad regex", "/user/roles", `{"userId":"u","roles":[{"roleId":"r","perms":["(["]}]}`, adminKey, 400, "permission \"([\" is not a valid RE2 expression: error parsing regexp: missing closing ]: `[`"},
		{"bad type", "/user/roles", `{"userId":"u","type":"3"}`, adminKey, 400, `type must be "1" (black list) or "2" (white list)`},
		{"type as a number out of range", "/user/roles", `{"userId":"u","type":3}`, adminKey, 400, `type must be "1" (black list) or "2" (white list)`},
		{"duplicate role", "/role/roles", `{"roles":[{"roleId":"r","perms":[]},{"roleId":"r","perms":[]}]}`, adminKey, 400, `roleId "r" given twice`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, env := f.post(t, tc.path, tc.body, tc.key)
			if status != tc.status || env.Code != 1 || env.Msg != tc.msg {
				t.Errorf("got %d %+v, want %d %q", status, env, tc.status, tc.msg)
			}
			if keys := f.keys(t); len(keys) != 0 {
				t.Errorf("keys written: %v", keys)
			}
		})
	}
}

func TestHealthAndMetrics(t *testing.T) {
	f := newFixture(t)
	for _, p := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(f.srv.URL + p)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", p, err, resp)
		}
		resp.Body.Close()
	}
	f.post(t, "/auth/getToken", `{"userId":"u"}`, adminKey)
	resp, _ := http.Get(f.srv.URL + "/metrics")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`keycard_sidecar_requests_total{endpoint="getToken",outcome="ok"} 1`, `keycard_sidecar_request_seconds_count 1`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s:\n%s", want, body)
		}
	}
	f.redis.Stop()
	resp, err := http.Get(f.srv.URL + "/readyz")
	if err != nil || resp.StatusCode != 503 {
		t.Errorf("readyz with Redis down: %v %v", err, resp)
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"no admin key", Options{RedisURL: "redis://x"}, "sidecar: --admin-key (or KEYCARD_ADMIN_KEY) is required"},
		{"short admin key", Options{RedisURL: "redis://x", AdminKey: "short"}, "sidecar: the admin key must be at least 16 bytes"},
		{"no redis", Options{AdminKey: adminKey}, "sidecar: give --redis-url (standalone) or --redis-addrs (Sentinel or Cluster)"},
		{"bad url", Options{AdminKey: adminKey, RedisURL: "http://x"}, "sidecar: --redis-url http://x: redis: invalid URL scheme: http"},
		{"a bad url's password is not printed", Options{AdminKey: adminKey, RedisURL: "redis://:hunter2@127.0.0.1:x/0"}, `sidecar: --redis-url redis://xxxxx@127.0.0.1:x/0: parse "redis://xxxxx@127.0.0.1:x/0": invalid port ":x" after host`},
		{"a negative token lifetime", Options{AdminKey: adminKey, RedisURL: "redis://x", TokenTTL: -5 * time.Second}, "sidecar: --token-ttl and --user-ttl cannot be negative"},
		{"addrs without mode", Options{AdminKey: adminKey, RedisAddrs: "a:1,b:2"}, "sidecar: --redis-addrs needs --sentinel-master or --cluster"},
		{"cluster db", Options{AdminKey: adminKey, RedisAddrs: "a:1", Cluster: true, DB: 2}, "sidecar: Redis Cluster has only database 0"},
		{"both modes", Options{AdminKey: adminKey, RedisAddrs: "a:1", Cluster: true, MasterName: "m"}, "sidecar: --cluster and --sentinel-master exclude each other"},
		{"sentinel", Options{AdminKey: adminKey, RedisAddrs: "a:26379, b:26379", MasterName: "mymaster", DB: 3}, ""},
		{"cluster", Options{AdminKey: adminKey, RedisAddrs: "a:7000,b:7001", Cluster: true}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.o.Client()
			got := ""
			if err != nil {
				got = err.Error()
			} else {
				defer c.Close()
				switch {
				case tc.o.MasterName != "":
					if _, ok := c.(*redis.Client); !ok {
						t.Errorf("sentinel: got %T", c)
					}
				case tc.o.Cluster:
					if _, ok := c.(*redis.ClusterClient); !ok {
						t.Errorf("cluster: got %T", c)
					}
				}
			}
			if got != tc.want {
				t.Errorf("err %q, want %q", got, tc.want)
			}
		})
	}
}

// TestSentinel runs the store through a live Sentinel.
func TestSentinel(t *testing.T) {
	SetRedisLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	master := redistest.Start(t)
	sentinel := redistest.StartSentinel(t, master)
	opts := Options{RedisAddrs: sentinel, MasterName: "mymaster", AdminKey: adminKey, DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second, Retries: 2}
	store := connect(t, opts)
	ctx := context.Background()
	var lastErr error
	for range 50 { // the sentinel needs a moment to learn the master
		if lastErr = store.Issue(ctx, jwtName("u1", "s1"), "u1", time.Now().Add(time.Minute), false, false); lastErr == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if lastErr != nil {
		t.Fatal(lastErr)
	}
	a, err := store.Answer(ctx, jwtName("u1", "s1"))
	if err != nil || a.Token != state.Active {
		t.Fatalf("through the sentinel: %+v %v", a, err)
	}
	direct := redis.NewClient(&redis.Options{Addr: master.Addr})
	defer direct.Close()
	if n := direct.Exists(ctx, "kc:{4:shop2:u1}tok:0:6:jti:s1").Val(); n != 1 {
		t.Errorf("the master does not hold the token key")
	}
}

// TestGetTokenJWT: with a JWT secret, getToken issues an HS256 JWT the
// policy's issuer can verify, registered so that delToken revokes it.
func TestGetTokenJWT(t *testing.T) {
	f := newFixture(t)
	rs := redistest.Start(t)
	secret := "jwt-secret-0123456789abcdef0123456789"
	opts := Options{RedisURL: rs.URL(), AdminKey: adminKey, Prefix: "kc:", DefaultService: "shop", UserTTL: time.Hour, TokenTTL: time.Hour,
		JWTSecret: secret, JWTIssuer: "https://login.shop.example", JWTAudience: "shop-api", JWTSubjectClaim: "phone"}
	client, err := opts.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	srv := httptest.NewServer(NewServer(NewStore(client, opts.Prefix, opts.UserTTL), opts, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer srv.Close()
	f.srv = srv
	f.post(t, "/user/roles", `{"userId":"13000000001","roles":[{"roleId":"support","perms":[]}],"level":2,"status":"1"}`, adminKey)
	_, env := f.post(t, "/auth/getToken", `{"userId":"13000000001"}`, adminKey)
	tok, _ := env.Data.(string)
	parsed, err := jwt.Parse(tok, func(*jwt.Token) (any, error) { return []byte(secret), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithIssuer("https://login.shop.example"), jwt.WithAudience("shop-api"))
	if err != nil {
		t.Fatalf("issued token does not verify: %v", err)
	}
	c := parsed.Claims.(jwt.MapClaims)
	if c["phone"] != "13000000001" || c["level"] != float64(2) {
		t.Errorf("claims %v", c)
	}
	if c[state.ServiceClaim] != "shop" {
		t.Errorf("issued JWT is not bound to its service: %v", c)
	}
	id := state.Name{Service: "shop", Kind: state.KindJWT, Issuer: "https://login.shop.example", Subject: "13000000001", ID: state.JTIID(c["jti"].(string)), IssuedAt: int64(c["iat"].(float64))}
	if a := f.answer(t, id); a.Token != state.Active {
		t.Errorf("issued JWT state %s", a.Token)
	}
	other := id
	other.Service = "blog"
	if a := f.answer(t, other); a.Token != state.Unknown || a.Level != 0 || len(a.Roles) != 0 {
		t.Errorf("the token asked about for another service: %+v", a)
	}
	f.post(t, "/auth/delToken", `{"token":"`+tok+`"}`, adminKey)
	if a := f.answer(t, id); a.Token != state.Revoked {
		t.Errorf("after delToken: %s", a.Token)
	}
}

// TestCluster runs the store on a live three-node Redis Cluster: the
// per-user hash tags keep every script's keys in one slot, including the
// single-session conflict marking, which touches the user's other tokens.
func TestCluster(t *testing.T) {
	SetRedisLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	addrs := redistest.StartCluster(t)
	opts := Options{RedisAddrs: strings.Join(addrs, ","), Cluster: true, AdminKey: adminKey, DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second, Retries: 3}
	store := connect(t, opts)
	ctx := context.Background()
	for i := range 20 { // users spread over the slots
		user := fmt.Sprintf("u%d", i)
		exp := time.Now().Add(time.Minute)
		if err := store.Issue(ctx, jwtName(user, "old-"+user), user, exp, true, true); err != nil {
			t.Fatal(err)
		}
		if err := store.Issue(ctx, jwtName(user, "new-"+user), user, exp, true, true); err != nil {
			t.Fatal(err)
		}
		for id, want := range map[string]string{"old-" + user: state.Conflict, "new-" + user: state.Active} {
			a, err := store.Answer(ctx, jwtName(user, id))
			if err != nil || a.Token != want {
				t.Fatalf("%s %s: %+v %v, want %s", user, id, a, err, want)
			}
		}
		if n, err := store.Clear(ctx, "shop", user); err != nil || n != 2 {
			t.Fatalf("clear %s: %d %v", user, n, err)
		}
		if a, _ := store.Answer(ctx, jwtName(user, "new-"+user)); a.Token != state.Revoked {
			t.Fatalf("%s after clear: %+v", user, a)
		}
		if a, _ := store.Answer(ctx, jwtName(user, "unregistered")); a.Token != state.Revoked {
			t.Fatalf("%s: an unregistered token without iat after clear: %+v", user, a)
		}
	}
}

// TestEnvelopeEverywhere: wrong methods and unknown paths answer in the
// envelope; seed 002's numeric and string forms of type, status and
// level are both taken.
func TestEnvelopeEverywhere(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		method, path string
		status       int
		msg          string
	}{
		{"GET", "/auth/getToken", 405, "use POST"},
		{"PUT", "/user/roles", 405, "use POST"},
		{"POST", "/v1/state", 405, "use GET"},
		{"GET", "/nowhere", 404, "no such endpoint"},
	} {
		req, _ := http.NewRequest(tc.method, f.srv.URL+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var env struct {
			Code int    `json:"code"`
			Msg  string `json:"msg"`
		}
		err = json.NewDecoder(resp.Body).Decode(&env)
		resp.Body.Close()
		if err != nil || resp.StatusCode != tc.status || env.Code != 1 || env.Msg != tc.msg || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s: %d %+v %v", tc.method, tc.path, resp.StatusCode, env, err)
		}
	}
	for _, body := range []string{
		`{"userId":"n1","type":2,"status":1,"level":2}`,
		`{"userId":"n2","type":"2","status":"1","level":"2"}`,
	} {
		if status, env := f.post(t, "/user/roles", body, adminKey); status != 200 || env.Code != 0 {
			t.Errorf("%s: %d %+v", body, status, env)
		}
	}
}

// TestStartWithRedisDown: a sidecar started while Redis is down says so.
func TestStartWithRedisDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	var log lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opts := Options{RedisURL: "redis://" + addr + "/0", AdminKey: adminKey, GatewayKey: gatewayKey, Listen: "127.0.0.1:0", Prefix: "kc:", DefaultService: "shop",
		UserTTL: time.Hour, TokenTTL: time.Hour, DialTimeout: 100 * time.Millisecond, ReadTimeout: 100 * time.Millisecond, WriteTimeout: 100 * time.Millisecond}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, opts, slog.New(slog.NewTextHandler(&log, nil)), nil) }()
	for i := 0; i < 100 && !strings.Contains(log.String(), "Redis is unreachable"); i++ {
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
	if !strings.Contains(log.String(), "Redis is unreachable") {
		t.Errorf("no word of Redis being down:\n%s", log.String())
	}
}

const gatewayKey = "test-gateway-key-0123456789abcdef"

// TestStateNeedsTheGatewayKey: only the gateway reads token state; the
// admin key (a business service's) does not, and the gateway key writes
// nothing. Run refuses to start without a gateway key of its own.
func TestStateNeedsTheGatewayKey(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name, header, key string
		status            int
	}{
		{"no key", "", "", 401},
		{"the admin key", GatewayKeyHeader, adminKey, 401},
		{"the admin key as an admin", "X-Admin-Key", adminKey, 401},
		{"a wrong key", GatewayKeyHeader, "nope-nope-nope-nope", 401},
		{"the gateway key", GatewayKeyHeader, gatewayKey, 200},
	} {
		req, _ := http.NewRequest("GET", f.srv.URL+"/v1/state?service=shop&kind=opaque&token=sha256:00", nil)
		if tc.header != "" {
			req.Header.Set(tc.header, tc.key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, resp.StatusCode, tc.status)
		}
	}
	if status, env := f.post(t, "/user/roles", `{"userId":"u1","status":"0"}`, gatewayKey); status != 401 || env.Msg != "admin key required" {
		t.Errorf("a business write with the gateway key: %d %+v", status, env)
	}
	for _, tc := range []struct {
		key, want string
	}{
		{"", "sidecar: --gateway-key (or KEYCARD_GATEWAY_KEY) is required: the key the filter sends to read token state (keycard render --sidecar-key)"},
		{"short", "sidecar: the gateway key must be at least 16 bytes"},
		{adminKey, "sidecar: the gateway key and the admin key must differ: the gateway reads state, business services write it"},
	} {
		opts := Options{RedisURL: "redis://127.0.0.1:1/0", AdminKey: adminKey, GatewayKey: tc.key, Listen: "127.0.0.1:0"}
		if err := Run(context.Background(), opts, slog.New(slog.NewTextHandler(io.Discard, nil)), nil); err == nil || err.Error() != tc.want {
			t.Errorf("gateway key %q: %v, want %q", tc.key, err, tc.want)
		}
	}
}

// TestDebugListen: the profiler is off unless asked for, serves only on
// loopback, and never on the API's listener.
func TestDebugListen(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"0.0.0.0:6060", "sidecar: --debug-listen 0.0.0.0:6060: the profiler serves on a loopback address only (127.0.0.1, ::1 or localhost)"},
		{"10.1.2.3:6060", "sidecar: --debug-listen 10.1.2.3:6060: the profiler serves on a loopback address only (127.0.0.1, ::1 or localhost)"},
		{":6060", "sidecar: --debug-listen :6060: the profiler serves on a loopback address only (127.0.0.1, ::1 or localhost)"},
		{"6060", `sidecar: --debug-listen "6060": address 6060: missing port in address`},
	} {
		opts := Options{RedisURL: "redis://127.0.0.1:1/0", AdminKey: adminKey, GatewayKey: gatewayKey, Listen: "127.0.0.1:0", DebugListen: tc.addr}
		if err := Run(context.Background(), opts, slog.New(slog.NewTextHandler(io.Discard, nil)), nil); err == nil || err.Error() != tc.want {
			t.Errorf("%s: %v, want %q", tc.addr, err, tc.want)
		}
	}

	rs := redistest.Start(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	debugAddr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	api := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		opts := Options{RedisURL: rs.URL(), AdminKey: adminKey, GatewayKey: gatewayKey, Listen: "127.0.0.1:0", DebugListen: debugAddr, Prefix: "kc:", DefaultService: "shop",
			UserTTL: time.Hour, TokenTTL: time.Hour, ReadTimeout: time.Second, WriteTimeout: time.Second, DialTimeout: time.Second}
		done <- Run(ctx, opts, slog.New(slog.NewTextHandler(io.Discard, nil)), func(addr string) { api <- addr })
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	apiAddr := <-api
	for _, tc := range []struct {
		url    string
		status int
	}{
		{"http://" + debugAddr + "/debug/pprof/cmdline", 200},
		{"http://" + apiAddr + "/debug/pprof/cmdline", 404},
	} {
		resp, err := http.Get(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %d, want %d", tc.url, resp.StatusCode, tc.status)
		}
	}
}

// TestBatchedReads: answers asked for at once share Redis pipelines, and
// each still gets its own token's state and its own user's level; when
// Redis goes away mid-traffic every waiting answer fails, none hangs,
// and answers come back with Redis (restarted empty: every token is
// unknown then).
func TestBatchedReads(t *testing.T) {
	SetRedisLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	rs := redistest.Start(t)
	opts := Options{RedisURL: rs.URL(), AdminKey: adminKey, GatewayKey: gatewayKey, DialTimeout: 200 * time.Millisecond, ReadTimeout: time.Second, WriteTimeout: time.Second}
	store := connect(t, opts)
	ctx := context.Background()
	const users = 40
	want := map[string]string{}
	for i := range users {
		user := fmt.Sprintf("u%d", i)
		if err := store.Issue(ctx, jwtName(user, user), user, time.Now().Add(time.Minute), true, false); err != nil {
			t.Fatal(err)
		}
		want[user] = state.Active
		if i%3 == 0 {
			if _, err := store.Revoke(ctx, jwtName(user, user), user, time.Now().Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			want[user] = state.Revoked
		}
		if err := store.SetUser(ctx, "shop", user, &UserDoc{Status: "1", Type: "2", Level: i}); err != nil {
			t.Fatal(err)
		}
	}
	ask := func(rounds int, check bool) (failed int) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		for g := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range rounds {
					i := (g*7 + k) % users
					user := fmt.Sprintf("u%d", i)
					// A gateway gives up on an answer after its timeout.
					actx, cancel := context.WithTimeout(ctx, time.Second)
					a, err := store.Answer(actx, jwtName(user, user))
					cancel()
					if err != nil {
						mu.Lock()
						failed++
						mu.Unlock()
						continue
					}
					if check && (a.Token != want[user] || a.Level != i || a.User != user) {
						t.Errorf("%s: %+v, want token %s level %d", user, a, want[user], i)
					}
				}
			}()
		}
		wg.Wait()
		return failed
	}
	if n := ask(50, true); n != 0 {
		t.Fatalf("%d answers failed with Redis up", n)
	}
	reads, pipelines := store.reads.reads.Load(), store.reads.pipelines.Load()
	if reads != 32*50 || pipelines >= reads {
		t.Errorf("%d reads in %d pipelines: want 1600 reads sharing pipelines", reads, pipelines)
	}
	t.Logf("%d reads in %d pipelines", reads, pipelines)

	rs.Stop()
	t0 := time.Now()
	if n := ask(2, false); n != 32*2 {
		t.Errorf("with Redis down %d of %d answers failed, want all", n, 32*2)
	}
	t.Logf("down: %v", time.Since(t0))
	rs.Restart()
	t0 = time.Now()
	deadline := time.Now().Add(5 * time.Second)
	for ask(1, false) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("answers did not come back with Redis")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("back: %v", time.Since(t0))
}

// connect makes a Store on opts' Redis; its client closes with the test.
func connect(t *testing.T, opts Options) *Store {
	t.Helper()
	client, err := opts.Client()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	return NewStore(client, "kc:", time.Hour)
}

package sidecar

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/sidecar/keyset"
	"github.com/keycard-gw/keycard/state"
)

// Server is the sidecar's HTTP side.
type Server struct {
	store   *Store
	opts    Options
	log     *slog.Logger
	metrics metrics
	mux     *http.ServeMux
}

// NewServer builds the handler.
func NewServer(store *Store, opts Options, log *slog.Logger) *Server {
	if opts.MaxBody == 0 {
		opts.MaxBody = 64 << 10
	}
	s := &Server{store: store, opts: opts, log: log, mux: http.NewServeMux()}
	s.mux.HandleFunc("GET /v1/state", s.count("state", s.handleState))
	s.mux.HandleFunc("GET /v1/keys", s.count("keys", s.handleKeys))
	s.mux.HandleFunc("POST /auth/getToken", s.count("getToken", s.admin(s.handleGetToken)))
	s.mux.HandleFunc("POST /auth/delToken", s.count("delToken", s.admin(s.handleDelToken)))
	s.mux.HandleFunc("POST /auth/clearToken", s.count("clearToken", s.admin(s.handleClearToken)))
	s.mux.HandleFunc("POST /auth/login", s.count("login", s.admin(s.handleLogin)))
	s.mux.HandleFunc("POST /user/roles", s.count("userRoles", s.admin(s.handleUserRoles)))
	s.mux.HandleFunc("POST /role/roles", s.count("roleRoles", s.admin(s.handleRoleRoles)))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	s.mux.HandleFunc("GET /readyz", s.handleReady)
	s.mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		s.metrics.serve(w, r)
		s.store.reads.writeMetrics(w)
		if s.opts.Keys != nil {
			s.opts.Keys.WriteMetrics(w)
		}
	})
	// Wrong methods and unknown paths answer in the envelope too, not
	// in ServeMux's plain text.
	for _, p := range []string{"/auth/getToken", "/auth/delToken", "/auth/clearToken", "/auth/login", "/user/roles", "/role/roles"} {
		s.mux.HandleFunc(p, s.refuse(http.StatusMethodNotAllowed, "POST", "use POST"))
	}
	for _, p := range []string{"/v1/state", "/v1/keys", "/healthz", "/readyz", "/metrics"} {
		s.mux.HandleFunc(p, s.refuse(http.StatusMethodNotAllowed, "GET", "use GET"))
	}
	s.mux.HandleFunc("/", s.refuse(http.StatusNotFound, "", "no such endpoint"))
	return s
}

// refuse answers with an error envelope (and Allow, for a wrong method).
func (s *Server) refuse(status int, allow, msg string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		if allow != "" {
			w.Header().Set("Allow", allow)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(envelope{Code: 1, Msg: msg, Data: ""})
	}
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// envelope is seed 002's response shape.
type envelope struct {
	Code int    `json:"code"` // 0 success, 1 failure
	Msg  string `json:"msg"`
	Data any    `json:"data"`
}

// httpError is a failure with its status.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func bad(format string, args ...any) error {
	return &httpError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

type handler func(w http.ResponseWriter, r *http.Request) (any, error)

func (s *Server) reply(w http.ResponseWriter, endpoint string, data any, err error) string {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err == nil {
		json.NewEncoder(w).Encode(envelope{Code: 0, Msg: "success", Data: data})
		return "ok"
	}
	status, outcome := http.StatusInternalServerError, "error"
	msg := err.Error()
	var he *httpError
	switch {
	case errors.As(err, &he):
		status, msg, outcome = he.status, he.msg, "rejected"
	case errors.Is(err, ErrBadID):
		status, outcome = http.StatusBadRequest, "rejected"
	default:
		s.log.Error("request failed", "endpoint", endpoint, "err", err)
		status, msg = http.StatusServiceUnavailable, "token store unavailable"
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(envelope{Code: 1, Msg: msg, Data: ""})
	return outcome
}

// count wraps a handler with metrics and the envelope.
func (s *Server) count(endpoint string, h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		filterFacing := endpoint == "state" || endpoint == "keys"
		if !filterFacing {
			r.Body = &keptBody{ReadCloser: r.Body}
		}
		data, err := h(w, r)
		if filterFacing && err == nil {
			// The filter reads the bare answer, not the envelope.
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			json.NewEncoder(w).Encode(data)
			s.metrics.observe(endpoint, "ok", time.Since(start))
			return
		}
		outcome := s.reply(w, endpoint, data, err)
		s.metrics.observe(endpoint, outcome, time.Since(start))
		if !filterFacing {
			svc, user := auditFields(r)
			s.log.Info("audit", "endpoint", endpoint, "service", s.service(svc), "user", user, "outcome", outcome, "remote", r.RemoteAddr)
		}
	}
}

// auditFields are the service and user a business write named, read
// from the body the handler decoded (kept by keepBody); never a token.
func auditFields(r *http.Request) (svc, user string) {
	kb, _ := r.Body.(*keptBody)
	if kb == nil {
		return "", ""
	}
	var ids struct {
		ServiceID any `json:"serviceId"`
		UserID    any `json:"userId"`
	}
	if json.Unmarshal(kb.data.Bytes(), &ids) != nil {
		return "", ""
	}
	str := func(v any) string {
		if v == nil {
			return ""
		}
		t := fmt.Sprint(v)
		if len(t) > 256 {
			t = t[:256]
		}
		return t
	}
	return str(ids.ServiceID), str(ids.UserID)
}

// keptBody keeps what was read of a request body, for the audit line.
type keptBody struct {
	io.ReadCloser
	data bytes.Buffer
}

func (k *keptBody) Read(p []byte) (int, error) {
	n, err := k.ReadCloser.Read(p)
	k.data.Write(p[:n])
	return n, err
}

// admin refuses requests without the admin key, before reading the body.
func (s *Server) admin(h handler) handler {
	return func(w http.ResponseWriter, r *http.Request) (any, error) {
		key := r.Header.Get("X-Admin-Key")
		if key == "" {
			key, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		}
		if subtle.ConstantTimeCompare([]byte(key), []byte(s.opts.AdminKey)) != 1 || s.opts.AdminKey == "" {
			return nil, &httpError{http.StatusUnauthorized, "admin key required"}
		}
		return h(w, r)
	}
}

// decode reads a JSON body of at most MaxBody bytes into v.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return &httpError{http.StatusUnsupportedMediaType, "body must be application/json"}
	}
	body := http.MaxBytesReader(w, r.Body, s.opts.MaxBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &httpError{http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", s.opts.MaxBody)}
		}
		return bad("%s", bodyError(err))
	}
	if dec.More() {
		return bad("data after the JSON body")
	}
	return nil
}

// codeField reads a field that may be a JSON string ("2") or a number
// (2) as its text; absent or null is "".
func codeField(name string, raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var str string
	if json.Unmarshal(raw, &str) == nil {
		return str, nil
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String(), nil
	}
	return "", bad("field %s must be a string or a number", name)
}

// bodyError says what is wrong with a JSON body in the API's words:
// which field, what it should be, never a Go type.
func bodyError(err error) string {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te) && te.Field == "":
		return "the body must be a JSON object"
	case errors.As(err, &te):
		want := map[string]string{"string": "a string", "int": "an integer", "bool": "true or false"}[te.Type.Kind().String()]
		if te.Type.Kind().String() == "slice" {
			want = "a list"
		}
		if want == "" {
			want = "an object"
		}
		return fmt.Sprintf("field %s must be %s, not %s", te.Field, want, jsonKind(te.Value))
	case errors.As(err, &se):
		return fmt.Sprintf("malformed JSON at byte %d", se.Offset)
	case errors.Is(err, io.EOF):
		return "the body is empty: it must be a JSON object"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the body ends inside its JSON"
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return "unknown field " + f
	}
	return "malformed JSON body"
}

// jsonKind names the kind of JSON value a type error found.
func jsonKind(v string) string {
	switch v {
	case "number", "string", "bool", "array", "object":
		return "a" + map[bool]string{true: "n", false: ""}[v == "array" || v == "object"] + " " + v
	}
	return v
}

func (s *Server) service(svc string) string {
	if svc == "" {
		return s.opts.DefaultService
	}
	return svc
}

// GatewayKeyHeader carries the gateway key on /v1/state.
const GatewayKeyHeader = "X-Keycard-Gateway-Key"

// gateway refuses a filter-facing request without the gateway key.
func (s *Server) gateway(r *http.Request) error {
	if k := s.opts.GatewayKey; k != "" && subtle.ConstantTimeCompare([]byte(r.Header.Get(GatewayKeyHeader)), []byte(k)) != 1 {
		return &httpError{http.StatusUnauthorized, "gateway key required"}
	}
	return nil
}

// handleKeys answers the keys the sidecar holds for an issuer (a fetched
// key set, a run-time secret): the gateway's alone, like token state.
func (s *Server) handleKeys(_ http.ResponseWriter, r *http.Request) (any, error) {
	if err := s.gateway(r); err != nil {
		return nil, err
	}
	q := r.URL.Query()
	issuer := q.Get("issuer")
	if issuer == "" {
		return nil, bad("issuer is required")
	}
	if s.opts.Keys == nil {
		return nil, &httpError{http.StatusNotFound, "this sidecar holds no keys (start it with --policy)"}
	}
	ks, err := s.opts.Keys.Get(r.Context(), issuer, q.Get("kid"))
	switch {
	case errors.Is(err, keyset.ErrUnknownIssuer):
		return nil, &httpError{http.StatusNotFound, "no keys of issuer " + strconv.Quote(issuer) + " here (is the sidecar's --policy the filter's?)"}
	case err != nil:
		return nil, &httpError{http.StatusServiceUnavailable, err.Error()}
	}
	return ks, nil
}

func (s *Server) handleState(_ http.ResponseWriter, r *http.Request) (any, error) {
	if err := s.gateway(r); err != nil {
		return nil, err
	}
	n, err := state.ParseQuery(r.URL.Query())
	if err != nil {
		return nil, bad("%s", err.Error())
	}
	return s.store.Answer(r.Context(), n)
}

// timeout reads seed 002's param.timeout: seconds as a number or string.
// params is getToken's "param": seed 002's "other attributes" of a
// login, of which the sidecar reads timeout and keeps none of the rest.
type params map[string]json.RawMessage

func (t params) duration(def time.Duration) (time.Duration, error) {
	raw := strings.Trim(string(t["timeout"]), `"`)
	if raw == "" || raw == "null" {
		return def, nil
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n <= 0 || n > 366*24*3600 {
		return 0, bad("param.timeout must be seconds from 1 to one year")
	}
	return time.Duration(n) * time.Second, nil
}

func (s *Server) handleGetToken(w http.ResponseWriter, r *http.Request) (any, error) {
	var req struct {
		ServiceID string `json:"serviceId"`
		UserID    string `json:"userId"`
		Param     params `json:"param"`
	}
	if err := s.decode(w, r, &req); err != nil {
		return nil, err
	}
	if req.UserID == "" {
		return nil, bad("userId is required")
	}
	ttl, err := req.Param.duration(s.opts.TokenTTL)
	if err != nil {
		return nil, err
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	svc, now := s.service(req.ServiceID), time.Now()
	tok := hex.EncodeToString(b[:])
	n := state.Name{Service: svc, Kind: state.KindOpaque, ID: state.SignedID(tok)}
	if s.opts.JWTSecret != "" {
		jti := tok
		if tok, err = s.signJWT(r.Context(), svc, req.UserID, jti, now, ttl); err != nil {
			return nil, err
		}
		n = state.Name{Service: svc, Kind: state.KindJWT, Issuer: s.opts.JWTIssuer, Subject: req.UserID, ID: state.JTIID(jti), IssuedAt: now.Unix()}
	}
	if err := s.store.Issue(r.Context(), n, req.UserID, now.Add(ttl), true, false); err != nil {
		return nil, err
	}
	return tok, nil
}

// signJWT issues an HS256 JWT for a user: jti from fresh random bits, the
// user id in the configured subject claim, the service it is for
// (state.ServiceClaim, which the filter checks), and the level and roles
// the user's /user/roles record holds.
func (s *Server) signJWT(ctx context.Context, svc, user, jti string, now time.Time, ttl time.Duration) (string, error) {
	claims := jwt.MapClaims{"jti": jti, "sub": user, "iat": now.Unix(), "exp": now.Add(ttl).Unix(), state.ServiceClaim: svc}
	claims[s.opts.subjectClaim()] = user
	if s.opts.JWTIssuer != "" {
		claims["iss"] = s.opts.JWTIssuer
	}
	if s.opts.JWTAudience != "" {
		claims["aud"] = []string{s.opts.JWTAudience}
	}
	if doc, err := s.store.User(ctx, svc, user); err != nil {
		return "", err
	} else if doc != nil {
		claims["level"] = doc.Level
		roles := []string{}
		for _, r := range doc.Roles {
			roles = append(roles, r.RoleID)
		}
		claims["roles"] = roles
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(s.opts.JWTSecret))
}

// NameToken names a raw token as the filter names it (state.Name) for a
// service: a JWT by its own claims (read, not verified: a token only
// chooses which state a business call writes; subjectClaim is the
// policy's claims.subject), an opaque token by its hash. It also returns
// the JWT's exp, zero when it has none or is opaque.
func NameToken(svc, raw, subjectClaim string) (state.Name, time.Time, error) {
	if !state.IsJWT(raw) {
		return state.Name{Service: svc, Kind: state.KindOpaque, ID: state.SignedID(raw)}, time.Time{}, nil
	}
	c, err := state.ParseJWT(raw, subjectClaim)
	if err != nil {
		return state.Name{}, time.Time{}, err
	}
	var exp time.Time
	if c.Expires != 0 {
		exp = time.Unix(c.Expires, 0)
	}
	return state.Name{Service: svc, Kind: state.KindJWT, Issuer: c.Issuer, Subject: c.Subject, ID: state.JWTID(&c, raw), IssuedAt: c.IssuedAt}, exp, nil
}

// tokenName names a token a business call hands over (NameToken) and
// says whose it is: the user the sidecar registered it for, else the
// JWT's subject. An opaque token's exp is now: its revoked marker keeps
// the longer lifetime its record already has.
func (s *Server) tokenName(ctx context.Context, svc, raw string) (n state.Name, user string, registered bool, exp time.Time, err error) {
	n, exp, err = NameToken(svc, raw, s.opts.subjectClaim())
	if err != nil {
		return n, "", false, exp, bad("token: %s", err.Error())
	}
	user = n.Subject
	if n.Kind == state.KindOpaque {
		exp = s.now()
	}
	owner, found, err := s.store.Owner(ctx, n)
	if err != nil {
		return n, "", false, exp, err
	}
	if found {
		user = owner
	}
	return n, user, found, exp, nil
}

func (s *Server) now() time.Time { return s.store.now() }

func (s *Server) handleDelToken(w http.ResponseWriter, r *http.Request) (any, error) {
	var req struct {
		Token     string `json:"token"`
		UserID    string `json:"userId"`
		ServiceID string `json:"serviceId"`
	}
	if err := s.decode(w, r, &req); err != nil {
		return nil, err
	}
	if req.Token == "" {
		return nil, bad("token is required")
	}
	n, user, registered, exp, err := s.tokenName(r.Context(), s.service(req.ServiceID), req.Token)
	if err != nil {
		return nil, err
	}
	switch {
	case n.Kind == state.KindOpaque && !registered && req.UserID == "":
		return nil, bad("userId is required for an opaque token the sidecar has not seen")
	case n.Kind == state.KindOpaque && !registered:
		user = req.UserID
	case req.UserID != "" && req.UserID != user:
		// The filter asks about the token under its own subject: a
		// marker under another user would revoke nothing.
		return nil, bad("userId %q is not the token's user %q", req.UserID, user)
	}
	_, err = s.store.Revoke(r.Context(), n, user, exp)
	return "", err
}

func (s *Server) handleClearToken(w http.ResponseWriter, r *http.Request) (any, error) {
	var req struct {
		UserID    string `json:"userId"`
		ServiceID string `json:"serviceId"`
	}
	if err := s.decode(w, r, &req); err != nil {
		return nil, err
	}
	if req.UserID == "" {
		return nil, bad("userId is required")
	}
	n, err := s.store.Clear(r.Context(), s.service(req.ServiceID), req.UserID)
	return n, err
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) (any, error) {
	var req struct {
		ServiceID string `json:"serviceId"`
		UserID    string `json:"userId"`
		Token     string `json:"token"`
		Single    bool   `json:"single"`
		Param     params `json:"param"`
	}
	if err := s.decode(w, r, &req); err != nil {
		return nil, err
	}
	if req.UserID == "" || req.Token == "" {
		return nil, bad("userId and token are required")
	}
	if _, err := req.Param.duration(s.opts.TokenTTL); err != nil {
		return nil, err
	}
	if !state.IsJWT(req.Token) {
		return nil, bad("token: not a JWT (login registers JWTs; getToken issues opaque tokens)")
	}
	n, user, _, exp, err := s.tokenName(r.Context(), s.service(req.ServiceID), req.Token)
	if err != nil {
		return nil, err
	}
	switch {
	case n.Subject == "":
		return nil, bad("token: no %s claim: a token without a subject belongs to no user", s.opts.subjectClaim())
	case user != req.UserID:
		return nil, bad("userId %q is not the token's user %q", req.UserID, user)
	}
	err = s.store.Issue(r.Context(), n, user, exp, false, req.Single)
	if errors.Is(err, ErrRevoked) || errors.Is(err, ErrCleared) {
		return nil, &httpError{http.StatusConflict, err.Error()}
	}
	return "", err
}

// checkPerms refuses patterns the filter could not compile (RE2).
func checkPerms(perms []string) error {
	for _, p := range perms {
		if p == "" || len(p) > 1024 {
			return bad("permission patterns must be 1 to 1024 bytes")
		}
		if _, err := regexp.Compile(p); err != nil {
			return bad("permission %q is not a valid RE2 expression: %v", p, err)
		}
	}
	return nil
}

func (s *Server) handleUserRoles(w http.ResponseWriter, r *http.Request) (any, error) {
	// type, status and level come as strings or numbers: seed 002's
	// clients send "2" and 2 alike.
	var req struct {
		UserID     string          `json:"userId"`
		ServiceID  string          `json:"serviceId"`
		Roles      []RoleDoc       `json:"roles"`
		Excludes   []string        `json:"excludes"`
		Type       json.RawMessage `json:"type"`
		Status     json.RawMessage `json:"status"`
		StatusDesc string          `json:"statusDesc"`
		Level      json.RawMessage `json:"level"`
		UserDoc    `json:"-"`
	}
	if err := s.decode(w, r, &req); err != nil {
		return nil, err
	}
	if req.UserID == "" {
		return nil, bad("userId is required")
	}
	var err error
	if req.UserDoc.Type, err = codeField("type", req.Type); err != nil {
		return nil, err
	}
	if req.UserDoc.Status, err = codeField("status", req.Status); err != nil {
		return nil, err
	}
	level, err := codeField("level", req.Level)
	if err != nil {
		return nil, err
	}
	if level != "" {
		if req.UserDoc.Level, err = strconv.Atoi(level); err != nil {
			return nil, bad("level must be 0 to 255")
		}
	}
	req.UserDoc.Roles, req.UserDoc.Excludes, req.UserDoc.StatusDesc = req.Roles, req.Excludes, req.StatusDesc
	if t := req.UserDoc.Type; t != "" && t != "1" && t != "2" {
		return nil, bad(`type must be "1" (black list) or "2" (white list)`)
	}
	if st := req.UserDoc.Status; st != "" && st != "0" && st != "1" {
		return nil, bad(`status must be "1" (enabled) or "0" (disabled)`)
	}
	if req.UserDoc.Level < 0 || req.UserDoc.Level > config.MaxLevel {
		return nil, bad("level must be 0 to 255")
	}
	for _, role := range req.Roles {
		if err := checkID(role.RoleID); err != nil {
			return nil, bad("roleId: %v", err)
		}
		if err := checkPerms(role.Perms); err != nil {
			return nil, err
		}
	}
	if err := checkPerms(req.Excludes); err != nil {
		return nil, err
	}
	return map[string]any{}, s.store.SetUser(r.Context(), s.service(req.ServiceID), req.UserID, &req.UserDoc)
}

func (s *Server) handleRoleRoles(w http.ResponseWriter, r *http.Request) (any, error) {
	var req struct {
		ServiceID string    `json:"serviceId"`
		Roles     []RoleDoc `json:"roles"`
	}
	if err := s.decode(w, r, &req); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, role := range req.Roles {
		if err := checkID(role.RoleID); err != nil {
			return nil, bad("roleId: %v", err)
		}
		if seen[role.RoleID] {
			return nil, bad("roleId %q given twice", role.RoleID)
		}
		seen[role.RoleID] = true
		if err := checkPerms(role.Perms); err != nil {
			return nil, err
		}
	}
	return map[string]any{}, s.store.SetRoles(r.Context(), s.service(req.ServiceID), req.Roles)
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		http.Error(w, "redis: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	if s.opts.Keys != nil {
		if ok, missing := s.opts.Keys.Ready(); !ok {
			http.Error(w, "no keys yet for issuer "+strings.Join(missing, "; "), http.StatusServiceUnavailable)
			return
		}
	}
	io.WriteString(w, "ready\n")
}

// metrics is a small Prometheus text exposition: requests by endpoint
// and outcome, and request latency.
type metrics struct {
	mu       sync.Mutex
	requests map[[2]string]uint64
	buckets  [len(latencyBounds) + 1]uint64
	sum      float64
	count    uint64
}

var latencyBounds = [...]float64{0.0005, 0.001, 0.002, 0.005, 0.01, 0.05, 0.1, 0.5, 1}

func (m *metrics) observe(endpoint, outcome string, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.requests == nil {
		m.requests = map[[2]string]uint64{}
	}
	m.requests[[2]string{endpoint, outcome}]++
	sec := d.Seconds()
	i := sort.SearchFloat64s(latencyBounds[:], sec)
	m.buckets[i]++
	m.sum += sec
	m.count++
}

func (m *metrics) serve(w http.ResponseWriter, _ *http.Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	fmt.Fprintln(w, "# HELP keycard_sidecar_requests_total Requests by endpoint and outcome.")
	fmt.Fprintln(w, "# TYPE keycard_sidecar_requests_total counter")
	keys := make([][2]string, 0, len(m.requests))
	for k := range m.requests {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+keys[i][1] < keys[j][0]+keys[j][1] })
	for _, k := range keys {
		fmt.Fprintf(w, "keycard_sidecar_requests_total{endpoint=%q,outcome=%q} %d\n", k[0], k[1], m.requests[k])
	}
	fmt.Fprintln(w, "# HELP keycard_sidecar_request_seconds Request latency, Redis included.")
	fmt.Fprintln(w, "# TYPE keycard_sidecar_request_seconds histogram")
	var cum uint64
	for i, b := range latencyBounds {
		cum += m.buckets[i]
		fmt.Fprintf(w, "keycard_sidecar_request_seconds_bucket{le=\"%g\"} %d\n", b, cum)
	}
	fmt.Fprintf(w, "keycard_sidecar_request_seconds_bucket{le=\"+Inf\"} %d\n", m.count)
	fmt.Fprintf(w, "keycard_sidecar_request_seconds_sum %g\n", m.sum)
	fmt.Fprintf(w, "keycard_sidecar_request_seconds_count %d\n", m.count)
}

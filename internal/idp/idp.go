// Package idp is a small OpenID provider on loopback, for keycard dev and
// the tests: it serves a discovery document and a JWKS over HTTPS (its
// own certificate, which CertPEM gives to whoever must trust it), signs
// ES256 tokens with its current key, and rotates and retires keys on
// demand. Faults make it fail the ways real providers do: down, slow,
// answering 500, an oversized body, invalid JSON, or keys for an
// algorithm the policy does not pin.
package idp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/keycard-gw/keycard/config"
)

// Fault is a way for the provider to fail.
type Fault int

// Faults.
const (
	Healthy     Fault = iota
	Down              // the connection is closed without an answer
	Slow              // the answer comes after SlowBy
	Status500         // 500 Internal Server Error
	Huge              // a 5 MiB body
	Garbage           // invalid JSON
	UnpinnedAlg       // a key set whose only key is for HS256 (and oct): nothing a public-key issuer may take
)

// Provider is a running provider.
type Provider struct {
	URL      string // the issuer: https://127.0.0.1:PORT
	JWKSPath string
	SlowBy   time.Duration
	Audience string // the aud of tokens signed without one; "" for none
	// TrailingSlash makes the issuer URL + "/", as Auth0's are: in the
	// discovery document and in the iss of the tokens it signs.
	TrailingSlash bool

	srv          *httptest.Server
	adminKey     string
	mu           sync.Mutex
	keys         []*key // published; keys[0] signs
	cacheControl string // of JWKS answers (SetCacheControl)
	fault        Fault
	fetches      atomic.Int64 // JWKS answers (of any kind) served
	discovery    atomic.Int64
	notModified  atomic.Int64
	serial       int
}

type key struct {
	kid  string
	priv *ecdsa.PrivateKey
}

// Start starts a provider on addr ("" for a free loopback port) with one
// key. adminKey, when not "", lets callers with X-Admin-Key rotate the
// key (POST /rotate, ?retire=1 to stop publishing the old ones) and sign
// tokens (POST /token with the claims as a JSON object; exp defaults to
// an hour).
func Start(addr, adminKey string) (*Provider, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	p := &Provider{JWKSPath: "/protocol/openid-connect/certs", SlowBy: 10 * time.Second, cacheControl: "max-age=300", adminKey: adminKey}
	if _, err := p.Rotate(); err != nil {
		ln.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.serveDiscovery)
	mux.HandleFunc("GET "+p.JWKSPath, p.serveJWKS)
	mux.HandleFunc("POST /rotate", p.serveRotate)
	mux.HandleFunc("POST /token", p.serveToken)
	p.srv = httptest.NewUnstartedServer(mux)
	p.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // clients that hang up mid-handshake are no news
	p.srv.Listener.Close()
	p.srv.Listener = ln
	p.srv.StartTLS()
	p.URL = p.srv.URL
	return p, nil
}

// Close stops the provider.
func (p *Provider) Close() { p.srv.Close() }

// CertPEM is the provider's certificate, for --ca-file.
func (p *Provider) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw})
}

// Client is an HTTP client that trusts the provider.
func (p *Provider) Client() *http.Client { return p.srv.Client() }

// JWKSURL is the key set's address.
func (p *Provider) JWKSURL() string { return p.URL + p.JWKSPath }

// Fetches counts the JWKS requests served.
func (p *Provider) Fetches() int64 { return p.fetches.Load() }

// NotModified counts the JWKS requests answered 304.
func (p *Provider) NotModified() int64 { return p.notModified.Load() }

// SetCacheControl sets the JWKS answer's Cache-Control.
func (p *Provider) SetCacheControl(v string) {
	p.mu.Lock()
	p.cacheControl = v
	p.mu.Unlock()
}

// SetFault makes the provider fail (or stop failing, with Healthy).
func (p *Provider) SetFault(f Fault) {
	if f == UnpinnedAlg {
		_, _ = rsaKey() // made now: generating it while a fetch waits could outlast the fetch's timeout
	}
	p.mu.Lock()
	p.fault = f
	p.mu.Unlock()
}

// Rotate adds a new signing key; the previous ones stay published until
// Retire. It returns the new key's kid.
func (p *Provider) Rotate() (string, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.serial++
	k := &key{kid: "key-" + strconv.Itoa(p.serial) + "-" + strconv.FormatInt(time.Now().UnixNano()%1e6, 36), priv: priv}
	p.keys = append([]*key{k}, p.keys...)
	return k.kid, nil
}

// Retire stops publishing every key but the current one.
func (p *Provider) Retire() {
	p.mu.Lock()
	p.keys = p.keys[:1]
	p.mu.Unlock()
}

// Kid is the current signing key's kid.
func (p *Provider) Kid() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.keys[0].kid
}

// Sign signs claims (iss is set to the provider's URL and aud to
// Audience unless given) with
// the current key.
func (p *Provider) Sign(claims jwt.MapClaims) (string, error) { return p.SignWith("", claims) }

// SignWith signs with the key of kid ("" for the current one), which may
// be one the provider no longer publishes.
func (p *Provider) SignWith(kid string, claims jwt.MapClaims) (string, error) {
	p.mu.Lock()
	var k *key
	for _, c := range p.keys {
		if kid == "" || c.kid == kid {
			k = c
			break
		}
	}
	p.mu.Unlock()
	if k == nil {
		return "", fmt.Errorf("no key %q", kid)
	}
	if _, ok := claims["iss"]; !ok {
		claims["iss"] = p.Issuer()
	}
	if _, ok := claims["aud"]; !ok && p.Audience != "" {
		claims["aud"] = p.Audience
	}
	t := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	t.Header["kid"] = k.kid
	return t.SignedString(k.priv)
}

// Issuer is the issuer the provider names: its URL, with a slash after
// it when TrailingSlash says so.
func (p *Provider) Issuer() string {
	if p.TrailingSlash {
		return p.URL + "/"
	}
	return p.URL
}

func (p *Provider) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	p.discovery.Add(1)
	if p.fail(w) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"issuer":                                p.Issuer(),
		"jwks_uri":                              p.JWKSURL(),
		"id_token_signing_alg_values_supported": []string{"ES256"},
	})
}

func (p *Provider) serveJWKS(w http.ResponseWriter, r *http.Request) {
	p.fetches.Add(1)
	if p.fail(w) {
		return
	}
	p.mu.Lock()
	fault := p.fault
	var keys []map[string]string
	for _, k := range p.keys {
		jk, err := config.KeyFrom(k.kid, &k.priv.PublicKey)
		if err != nil {
			p.mu.Unlock()
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		keys = append(keys, map[string]string{"kty": jk.Kty, "kid": jk.Kid, "crv": jk.Crv, "x": jk.X, "y": jk.Y, "use": "sig", "alg": "ES256"})
	}
	p.mu.Unlock()
	if fault == UnpinnedAlg {
		rk, err := rsaKey()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		keys = []map[string]string{{"kty": rk.Kty, "kid": "rsa-only", "alg": "RS256", "use": "sig", "n": rk.N, "e": rk.E}}
	}
	// An encryption key, as Keycloak publishes beside its signing keys:
	// never a verification key.
	keys = append(keys, map[string]string{"kty": "EC", "kid": "enc-1", "use": "enc", "crv": "P-256", "x": keys[0]["x"], "y": keys[0]["y"]})
	body, _ := json.Marshal(map[string]any{"keys": keys})
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	p.mu.Lock()
	cc := p.cacheControl
	p.mu.Unlock()
	w.Header().Set("Cache-Control", cc)
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		p.notModified.Add(1)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

// fail carries out the fault on an answer, reporting whether it did.
func (p *Provider) fail(w http.ResponseWriter) bool {
	p.mu.Lock()
	fault, slow := p.fault, p.SlowBy
	p.mu.Unlock()
	switch fault {
	case Down:
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return true
			}
		}
		http.Error(w, "down", http.StatusBadGateway)
	case Slow:
		time.Sleep(slow)
		return false
	case Status500:
		http.Error(w, "internal error", http.StatusInternalServerError)
	case Huge:
		w.Header().Set("Content-Type", "application/json")
		chunk := []byte(strings.Repeat(" ", 64<<10))
		w.Write([]byte(`{"keys":[`))
		for range 80 { // 5 MiB
			if _, err := w.Write(chunk); err != nil {
				break
			}
		}
		w.Write([]byte(`]}`))
	case Garbage:
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"keys": [{"kty": "EC", `))
	default:
		return false
	}
	return true
}

// rsaKey is one RSA public key, made once: the UnpinnedAlg fault's.
var rsaKey = sync.OnceValues(func() (config.Key, error) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return config.Key{}, err
	}
	return config.KeyFrom("rsa-only", &priv.PublicKey)
})

func (p *Provider) admin(w http.ResponseWriter, r *http.Request) bool {
	if p.adminKey == "" || subtle.ConstantTimeCompare([]byte(r.Header.Get("X-Admin-Key")), []byte(p.adminKey)) != 1 {
		http.Error(w, "X-Admin-Key required", http.StatusUnauthorized)
		return false
	}
	return true
}

func (p *Provider) serveToken(w http.ResponseWriter, r *http.Request) {
	if !p.admin(w, r) {
		return
	}
	claims := jwt.MapClaims{}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10)).Decode(&claims); err != nil {
		http.Error(w, "the body is the token's claims as a JSON object", http.StatusBadRequest)
		return
	}
	if _, ok := claims["exp"]; !ok {
		claims["exp"] = time.Now().Add(time.Hour).Unix()
	}
	tok, err := p.Sign(claims)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if r.URL.Query().Get("raw") == "1" { // the token alone, for a shell variable
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, tok+"\n")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"token": tok, "kid": p.Kid()})
}

func (p *Provider) serveRotate(w http.ResponseWriter, r *http.Request) {
	if !p.admin(w, r) {
		return
	}
	kid, err := p.Rotate()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if r.URL.Query().Get("retire") != "" {
		p.Retire()
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"kid": kid})
}

package interop

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keycard-gw/keycard/internal/testing/loopback"
)

// Resource is one resource server the provider issues access tokens
// for: its audience, the signing algorithm and claims added to each
// token.
type Resource struct {
	Audience string         `json:"audience"`
	Alg      string         `json:"alg"`
	Claims   map[string]any `json:"claims,omitempty"`
}

// Key is one of the provider's signing keys.
type Key struct {
	Kid string
	Alg string // RS256 or ES256
	jwk map[string]string
}

// NewKey makes a signing key: RSA 2048 for RS256, P-256 for ES256.
func NewKey(t testing.TB, kid, alg string) Key {
	t.Helper()
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	k := Key{Kid: kid, Alg: alg}
	switch alg {
	case "RS256":
		priv, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		k.jwk = map[string]string{"kty": "RSA", "n": b64(priv.N.Bytes()), "e": b64(big.NewInt(int64(priv.E)).Bytes()), "d": b64(priv.D.Bytes()),
			"p": b64(priv.Primes[0].Bytes()), "q": b64(priv.Primes[1].Bytes()), "dp": b64(priv.Precomputed.Dp.Bytes()),
			"dq": b64(priv.Precomputed.Dq.Bytes()), "qi": b64(priv.Precomputed.Qinv.Bytes())}
	case "ES256":
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := priv.PublicKey.Bytes() // 0x04 || x || y
		d, _ := priv.Bytes()
		k.jwk = map[string]string{"kty": "EC", "crv": "P-256", "x": b64(raw[1:33]), "y": b64(raw[33:]), "d": b64(d)}
	default:
		t.Fatalf("interop: no key for %s", alg)
	}
	k.jwk["kid"], k.jwk["alg"], k.jwk["use"] = kid, alg, "sig"
	return k
}

// ProviderConfig configures an oidc-provider run.
type ProviderConfig struct {
	TrailingSlash bool                // the issuer is the URL with a slash after it, as Auth0's
	Resources     map[string]Resource // by resource indicator; the first in sorted order is the default
	Keys          []Key               // the signing keys, in order: the first of each alg signs
}

// Provider is a running oidc-provider.
type Provider struct {
	URL    string // https://127.0.0.1:PORT
	Issuer string // URL, or URL + "/"
	CAFile string // the certificate authority its TLS certificate chains to
	Client *http.Client

	t        testing.TB
	dir      string
	port     int
	conf     ProviderConfig
	cmd      *exec.Cmd
	certFile string
	keyFile  string
}

const (
	clientID     = "keycard-interop"
	clientSecret = "keycard-interop-client-secret"
)

// StartProvider runs oidc-provider from node (Node's result) on a free
// loopback port. It stops when the test ends.
func StartProvider(t testing.TB, node string, conf ProviderConfig) *Provider {
	t.Helper()
	port := loopback.Port(t)
	p := &Provider{t: t, dir: node, port: port, URL: fmt.Sprintf("https://127.0.0.1:%d", port)}
	p.Issuer = p.URL
	if conf.TrailingSlash {
		p.Issuer += "/"
	}
	tmp := t.TempDir()
	p.CAFile, p.certFile, p.keyFile = filepath.Join(tmp, "ca.pem"), filepath.Join(tmp, "cert.pem"), filepath.Join(tmp, "key.pem")
	pool := writeCerts(t, p.CAFile, p.certFile, p.keyFile)
	p.Client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	t.Cleanup(p.stop)
	p.Restart(conf)
	return p
}

// Restart runs the provider again with conf (new keys, say) on the same
// address, as a provider's rotation would publish them.
func (p *Provider) Restart(conf ProviderConfig) {
	t := p.t
	t.Helper()
	p.stop()
	p.conf = conf
	keys := make([]map[string]string, len(conf.Keys))
	for i, k := range conf.Keys {
		keys[i] = k.jwk
	}
	data, _ := json.Marshal(map[string]any{"issuer": p.Issuer, "port": p.port, "cert": p.certFile, "key": p.keyFile, "keys": keys,
		"resources": conf.Resources, "client_id": clientID, "client_secret": clientSecret})
	file := filepath.Join(t.TempDir(), "provider.json")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("node", "provider.mjs", file)
	cmd.Dir = p.dir
	var stderr bytes.Buffer // its warnings (runtime, in-memory adapter) only when it fails
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.cmd = cmd
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(out).ReadString('\n')
		if err == nil && strings.TrimSpace(line) != "ready" {
			err = fmt.Errorf("said %q", line)
		}
		ready <- err
		io.Copy(io.Discard, out)
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("interop: oidc-provider did not start: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("interop: oidc-provider did not start within 30s")
	}
}

func (p *Provider) stop() {
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Kill()
		p.cmd.Wait()
		p.cmd = nil
	}
}

// Token asks the provider for an access token for resource with the
// client-credentials grant, as a machine client would.
func (p *Provider) Token(resource string) string {
	t := p.t
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {resource}, "scope": {"api"}}
	req, _ := http.NewRequestWithContext(context.Background(), "POST", p.URL+"/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, clientSecret)
	resp, err := p.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
	}
	data, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(data, &body); err != nil || resp.StatusCode != 200 || body.AccessToken == "" {
		t.Fatalf("interop: token for %s: %d %s", resource, resp.StatusCode, data)
	}
	return body.AccessToken
}

// JWKS is the provider's published key set, as a file would save it.
func (p *Provider) JWKS() []byte {
	t := p.t
	t.Helper()
	resp, err := p.Client.Get(p.URL + "/jwks")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("interop: jwks: %d %s", resp.StatusCode, data)
	}
	return data
}

// ClientID is the client-credentials client's id: the sub and client_id
// of its tokens.
const ClientID = clientID

// writeCerts makes a certificate authority and a certificate for
// 127.0.0.1 it signed, writes them as PEM, and returns a pool trusting
// the authority.
func writeCerts(t testing.TB, caFile, certFile, keyFile string) *x509.CertPool {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Keycard interop CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(24 * time.Hour), IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	for file, block := range map[string]*pem.Block{caFile: {Type: "CERTIFICATE", Bytes: caDER}, certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return pool
}

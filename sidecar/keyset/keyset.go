package keyset

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/state"
)

// MaxBody bounds a JWKS or discovery document.
const MaxBody = 1 << 20

// Source is one issuer whose keys the sidecar holds.
type Source struct {
	Issuer     string // the policy's issuer name
	Remote     config.Remote
	Algorithms []string // the issuer's pinned algorithms
	Secret     []byte   // the run-time secret Remote.Secret names, resolved
}

// Sources picks the issuers whose keys the sidecar holds out of a
// compiled configuration, resolving run-time secrets with secret.
func Sources(cfg *config.Config, secret func(name string) ([]byte, error)) ([]Source, error) {
	var out []Source
	for _, is := range cfg.Identity.Issuers {
		if is.Remote == nil {
			continue
		}
		src := Source{Issuer: is.Name, Remote: *is.Remote, Algorithms: is.Algorithms}
		if is.Remote.Secret != "" {
			v, err := secret(is.Remote.Secret)
			if err != nil {
				return nil, fmt.Errorf("issuer %s: %w", is.Name, err)
			}
			if v, err = config.DecodeSecret(v, is.Remote.SecretEncoding); err != nil {
				return nil, fmt.Errorf("issuer %s: run-time secret %s (encoding %s): %w", is.Name, is.Remote.Secret, is.Remote.SecretEncoding, err)
			}
			for _, alg := range is.Algorithms {
				if n := config.MinSecretBytes(alg); len(v) < n {
					return nil, fmt.Errorf("issuer %s: run-time secret %s is %d bytes; %s needs at least %d", is.Name, is.Remote.Secret, len(v), alg, n)
				}
			}
			src.Secret = v
		}
		out = append(out, src)
	}
	return out, nil
}

// Outcomes of a fetch, as counted in the metrics.
const (
	OutcomeOK          = "ok"
	OutcomeNotModified = "not_modified"
	OutcomeUnreachable = "unreachable" // connection refused, timeout, TLS
	OutcomeStatus      = "bad_status"
	OutcomeTooLarge    = "too_large"
	OutcomeInvalid     = "invalid" // not a JWKS or discovery document
	OutcomeNoKeys      = "no_usable_keys"
	OutcomeDiscovery   = "discovery" // the discovery document is wrong for the issuer
)

var outcomes = []string{OutcomeOK, OutcomeNotModified, OutcomeUnreachable, OutcomeStatus, OutcomeTooLarge, OutcomeInvalid, OutcomeNoKeys, OutcomeDiscovery}

// Sets holds every remote issuer's keys.
type Sets struct {
	client *http.Client
	now    func() time.Time
	log    *slog.Logger
	sets   map[string]*set
	names  []string
}

type set struct {
	src Source

	mu        sync.Mutex
	fetched   []config.Key  // usable keys of the last good answer
	served    *state.KeySet // what the filter gets: fetched plus the secret, made when they change; nil while there are none
	goodAt    time.Time     // when the last good answer came (zero: never)
	triedAt   time.Time     // when the last fetch started
	kidAt     time.Time     // when the last fetch for a kid the set lacked started
	nextAt    time.Time     // when the next scheduled fetch is due
	etag      string
	jwksURL   string // found through discovery
	lastErr   string
	fetching  chan struct{} // closed when the fetch in flight ends
	outcomes  map[string]uint64
	refused   uint64 // keys left out of answers
	sinceGood int    // fetches failed since the last good one
}

// New builds the sets; client does the fetching (its Transport carries
// the trusted roots), now is the clock.
func New(sources []Source, client *http.Client, now func() time.Time, log *slog.Logger) *Sets {
	s := &Sets{client: client, now: now, log: log, sets: map[string]*set{}}
	for _, src := range sources {
		st := &set{src: src, outcomes: map[string]uint64{}}
		st.serve()
		s.sets[src.Issuer] = st
		s.names = append(s.names, src.Issuer)
	}
	sort.Strings(s.names)
	return s
}

// Issuers names the issuers held, sorted.
func (s *Sets) Issuers() []string { return s.names }

// Run fetches each set at start and whenever it is due, until ctx ends.
func (s *Sets) Run(ctx context.Context) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, name := range s.names {
			st := s.sets[name]
			if st.src.Remote.URL() == "" {
				continue
			}
			st.mu.Lock()
			due := st.fetching == nil && !s.now().Before(st.nextAt)
			st.mu.Unlock()
			if due {
				go s.refresh(ctx, st)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// ErrUnknownIssuer is Get's error for an issuer the sidecar holds no keys
// for.
var ErrUnknownIssuer = errors.New("no such issuer")

// ErrNoKeys is Get's error while an issuer has no good set yet.
var ErrNoKeys = errors.New("no keys yet")

// Get returns an issuer's keys for the filter. When there is no good set
// yet, or kid is not "" and no key of the set has it, the set is fetched
// again first, unless it was fetched less than min_interval ago: a flood
// of tokens with made-up kids costs the provider at most one fetch per
// min_interval.
func (s *Sets) Get(ctx context.Context, issuer, kid string) (*state.KeySet, error) {
	st, ok := s.sets[issuer]
	if !ok {
		return nil, ErrUnknownIssuer
	}
	if st.src.Remote.URL() != "" {
		st.mu.Lock()
		// A set that lacks the kid, or no good set yet, is worth asking
		// the provider again.
		none := len(st.fetched) == 0
		unknownKid := !none && kid != "" && !slices.ContainsFunc(st.fetched, func(k config.Key) bool { return k.Kid == kid })
		stale := none || unknownKid
		interval := time.Duration(st.src.Remote.MinIntervalMillis) * time.Millisecond
		// An unknown kid's allowance is its own: the periodic refresh
		// just before a rotation must not keep the new key out for
		// min_interval. Kids still cost at most one fetch per interval.
		last := st.triedAt
		if unknownKid {
			last = st.kidAt
		}
		wait := st.fetching
		if stale && wait == nil && (last.IsZero() || s.now().Sub(last) >= interval) {
			wait = s.start(st)
			if unknownKid {
				st.kidAt = st.triedAt
			}
			go s.fetch(context.WithoutCancel(ctx), st)
		}
		st.mu.Unlock()
		if stale && wait != nil {
			select {
			case <-wait:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	return st.answer()
}

// answer is the set as the filter gets it; the caller must not change it.
func (st *set) answer() (*state.KeySet, error) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.served == nil {
		if st.lastErr != "" {
			return nil, fmt.Errorf("%w: %s", ErrNoKeys, st.lastErr)
		}
		return nil, ErrNoKeys
	}
	return st.served, nil
}

// serve makes what answer hands out from the fetched keys and the
// secret, with the digest that names them; st.mu is held (or st is not
// shared yet).
func (st *set) serve() {
	keys := append([]config.Key(nil), st.fetched...)
	if st.src.Secret != nil {
		k, _ := config.KeyFrom("", st.src.Secret)
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		st.served = nil
		return
	}
	data, _ := json.Marshal(keys)
	sum := sha256.Sum256(data)
	st.served = &state.KeySet{Version: state.KeySetVersion, Issuer: st.src.Issuer, Set: hex.EncodeToString(sum[:12]), Keys: keys}
}

// start marks a fetch in flight; st.mu is held.
func (s *Sets) start(st *set) chan struct{} {
	st.fetching = make(chan struct{})
	st.triedAt = s.now()
	return st.fetching
}

func (s *Sets) refresh(ctx context.Context, st *set) {
	st.mu.Lock()
	if st.fetching != nil {
		st.mu.Unlock()
		return
	}
	s.start(st)
	st.mu.Unlock()
	s.fetch(ctx, st)
}

// fetch runs one fetch (started with start) and records its outcome.
func (s *Sets) fetch(ctx context.Context, st *set) {
	r := st.src.Remote
	ctx, cancel := context.WithTimeout(ctx, time.Duration(r.TimeoutMillis)*time.Millisecond)
	defer cancel()
	res := s.get(ctx, st)
	now := s.now()
	st.mu.Lock()
	defer func() {
		close(st.fetching)
		st.fetching = nil
		st.mu.Unlock()
	}()
	if res.err != nil && context.Cause(ctx) == context.Canceled {
		return // shutting down: not the provider's failure
	}
	st.outcomes[res.outcome]++
	st.refused += uint64(res.refused)
	minInterval := time.Duration(r.MinIntervalMillis) * time.Millisecond
	refresh := time.Duration(r.RefreshMillis) * time.Millisecond
	switch res.outcome {
	case OutcomeOK, OutcomeNotModified:
		if res.outcome == OutcomeOK {
			before := st.served
			st.fetched, st.etag = res.keys, res.etag
			st.serve()
			if before == nil || before.Set != st.served.Set {
				s.log.Info("key set fetched", "issuer", st.src.Issuer, "keys", len(res.keys), "left_out", res.refused, "set", st.served.Set)
			}
		}
		st.goodAt, st.lastErr, st.sinceGood = now, "", 0
		st.nextAt = now.Add(min(max(res.maxAge, minInterval), refresh))
	default:
		st.lastErr = res.err.Error()
		st.sinceGood++
		// Try again soon, backing off to the refresh interval while the
		// provider stays broken.
		st.nextAt = now.Add(min(minInterval*time.Duration(1<<min(st.sinceGood-1, 10)), refresh))
		if st.sinceGood == 1 || st.sinceGood%10 == 0 {
			s.log.Warn("key set fetch failed; the last good keys stay in use", "issuer", st.src.Issuer, "outcome", res.outcome, "err", res.err, "failures", st.sinceGood, "have_keys", len(st.fetched) > 0)
		}
	}
}

type result struct {
	outcome string
	err     error
	keys    []config.Key
	refused int
	etag    string
	maxAge  time.Duration // from Cache-Control; 0 when none
}

func fail(outcome string, format string, args ...any) result {
	return result{outcome: outcome, err: fmt.Errorf(format, args...)}
}

func (s *Sets) get(ctx context.Context, st *set) result {
	r := st.src.Remote
	st.mu.Lock()
	jwksURL, etag := st.jwksURL, st.etag
	st.mu.Unlock()
	if r.JWKSURL != "" {
		jwksURL = r.JWKSURL
	}
	if jwksURL == "" {
		u, res := s.discover(ctx, st)
		if res.err != nil {
			return res
		}
		jwksURL, etag = u, ""
		st.mu.Lock()
		st.jwksURL = u
		st.mu.Unlock()
	}
	body, resp, res := s.download(ctx, jwksURL, etag)
	if res.err != nil {
		if r.OIDCIssuer != "" && res.outcome != OutcomeUnreachable {
			st.mu.Lock()
			st.jwksURL = "" // discover again next time: the provider may have moved it
			st.mu.Unlock()
		}
		return res
	}
	maxAge := cacheMaxAge(resp.Header.Get("Cache-Control"))
	if resp.StatusCode == http.StatusNotModified {
		return result{outcome: OutcomeNotModified, maxAge: maxAge}
	}
	entries, err := config.ParseJWKS(body)
	if err != nil {
		return fail(OutcomeInvalid, "%s: %v", jwksURL, err)
	}
	if len(entries) > state.MaxKeys {
		return fail(OutcomeInvalid, "%s: %d keys, at most %d", jwksURL, len(entries), state.MaxKeys)
	}
	var keys []config.Key
	refused := 0
	for _, e := range entries {
		if e.Unusable(st.src.Algorithms) != nil {
			refused++
			continue
		}
		keys = append(keys, e.Key)
	}
	if len(keys) == 0 {
		return result{outcome: OutcomeNoKeys, err: fmt.Errorf("%s: none of its %d keys verifies %s", jwksURL, len(entries), strings.Join(st.src.Algorithms, ", ")), refused: refused}
	}
	return result{outcome: OutcomeOK, keys: keys, refused: refused, etag: resp.Header.Get("ETag"), maxAge: maxAge}
}

// discover reads the OpenID provider's discovery document for jwks_uri.
func (s *Sets) discover(ctx context.Context, st *set) (string, result) {
	r := st.src.Remote
	body, _, res := s.download(ctx, r.URL(), "")
	if res.err != nil {
		return "", res
	}
	var doc struct {
		Issuer  *string `json:"issuer"`
		JWKSURI *string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return "", fail(OutcomeInvalid, "%s: not a discovery document (invalid JSON)", r.URL())
	}
	switch {
	case doc.Issuer == nil || doc.JWKSURI == nil:
		return "", fail(OutcomeDiscovery, "%s: no issuer or jwks_uri", r.URL())
	case *doc.Issuer != r.OIDCIssuer:
		// OpenID Connect Discovery 1.0 section 4.3: the document's issuer
		// is identical to the URL discovery started from, and it is what
		// the provider's tokens carry as iss. A trailing slash is part of
		// it: the policy must spell the issuer as the provider does, or
		// every token would be refused for its iss.
		return "", fail(OutcomeDiscovery, "%s: the provider's issuer is %q, not the policy's %q: its tokens carry %q as iss; write oidc.issuer exactly so", r.URL(), *doc.Issuer, r.OIDCIssuer, *doc.Issuer)
	}
	if err := config.CheckKeyURL(*doc.JWKSURI, r.AllowHTTP); err != nil {
		return "", fail(OutcomeDiscovery, "%s: jwks_uri %v", r.URL(), err)
	}
	return *doc.JWKSURI, result{}
}

// download GETs a document of at most MaxBody bytes; a 304 (with etag
// sent) comes back with no body.
func (s *Sets) download(ctx context.Context, url, etag string) ([]byte, *http.Response, result) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, fail(OutcomeUnreachable, "%s: %v", url, err)
	}
	req.Header.Set("Accept", "application/json")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, nil, fail(OutcomeUnreachable, "%v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified && etag != "" {
		return nil, resp, result{}
	}
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, nil, fail(OutcomeStatus, "%s: status %d", url, resp.StatusCode)
	}
	if resp.ContentLength > MaxBody {
		return nil, nil, fail(OutcomeTooLarge, "%s: %d bytes, at most %d", url, resp.ContentLength, MaxBody)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return nil, nil, fail(OutcomeUnreachable, "%s: %v", url, err)
	}
	if len(body) > MaxBody {
		return nil, nil, fail(OutcomeTooLarge, "%s: more than %d bytes", url, MaxBody)
	}
	return body, resp, result{}
}

// cacheMaxAge reads max-age from Cache-Control; no-cache and no-store
// read as 0 (fetch again after min_interval).
func cacheMaxAge(v string) time.Duration {
	for _, part := range strings.Split(v, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(strings.ToLower(part)), "=")
		switch name {
		case "no-cache", "no-store":
			return 0
		case "max-age":
			if n, err := strconv.Atoi(strings.Trim(value, `"`)); err == nil && n > 0 {
				return time.Duration(min(n, 365*24*3600)) * time.Second
			}
		}
	}
	return 0
}

// Ready reports whether every issuer has keys, naming those without and
// why, when a fetch failed: "sso (https://idp/...: status 500)".
func (s *Sets) Ready() (bool, []string) {
	var missing []string
	for _, name := range s.names {
		if _, err := s.sets[name].answer(); err != nil {
			st := s.sets[name]
			st.mu.Lock()
			why := st.lastErr
			st.mu.Unlock()
			if why != "" {
				name += " (" + why + ")"
			}
			missing = append(missing, name)
		}
	}
	return len(missing) == 0, missing
}

// WriteMetrics writes the fetch outcomes, key counts and set ages in
// Prometheus text format.
func (s *Sets) WriteMetrics(w io.Writer) {
	if len(s.names) == 0 {
		return
	}
	now := s.now()
	fmt.Fprintln(w, "# HELP keycard_sidecar_key_fetches_total Fetches of remote key sets by issuer and outcome.")
	fmt.Fprintln(w, "# TYPE keycard_sidecar_key_fetches_total counter")
	for _, name := range s.names {
		st := s.sets[name]
		st.mu.Lock()
		for _, o := range outcomes {
			fmt.Fprintf(w, "keycard_sidecar_key_fetches_total{issuer=%q,outcome=%q} %d\n", name, o, st.outcomes[o])
		}
		st.mu.Unlock()
	}
	fmt.Fprintln(w, "# HELP keycard_sidecar_keys_left_out_total Published keys left out: not for signing, unparseable, or fitting none of the issuer's algorithms.")
	fmt.Fprintln(w, "# TYPE keycard_sidecar_keys_left_out_total counter")
	for _, name := range s.names {
		st := s.sets[name]
		st.mu.Lock()
		fmt.Fprintf(w, "keycard_sidecar_keys_left_out_total{issuer=%q} %d\n", name, st.refused)
		st.mu.Unlock()
	}
	fmt.Fprintln(w, "# HELP keycard_sidecar_key_set_keys Keys the filter gets per issuer.")
	fmt.Fprintln(w, "# TYPE keycard_sidecar_key_set_keys gauge")
	fmt.Fprintln(w, "# HELP keycard_sidecar_key_set_age_seconds Seconds since the issuer's set was last fetched good; -1 before the first.")
	fmt.Fprintln(w, "# TYPE keycard_sidecar_key_set_age_seconds gauge")
	for _, name := range s.names {
		st := s.sets[name]
		n := 0
		if ks, err := st.answer(); err == nil {
			n = len(ks.Keys)
		}
		st.mu.Lock()
		age := -1.0
		if !st.goodAt.IsZero() {
			age = now.Sub(st.goodAt).Seconds()
		}
		st.mu.Unlock()
		fmt.Fprintf(w, "keycard_sidecar_key_set_keys{issuer=%q} %d\n", name, n)
		fmt.Fprintf(w, "keycard_sidecar_key_set_age_seconds{issuer=%q} %.3f\n", name, age)
	}
}

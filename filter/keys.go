package filter

import (
	"errors"
	"slices"
	"strconv"
	"time"

	"github.com/keycard-gw/keycard/config"
	"github.com/keycard-gw/keycard/filter/token"
	"github.com/keycard-gw/keycard/state"
)

// Remote keys: the keys of issuers the sidecar holds, fetched when a
// token needs them and polled on the root's tick.

// keyState is the engine's side of one issuer's remote keys: when they
// were last asked for and when to ask again.
type keyState struct {
	remote *config.Remote
	// When a token last had keys fetched for it (the fetch sent, then
	// its answer), zero for never: for a kid the keys lack, and while
	// there are no keys at all. Each allows one fetch per min_interval;
	// the periodic poll spends neither, so a key rotated in just after a
	// poll, or after the first keys arrived, is fetched for at once.
	kidAsked, noneAsked time.Time
	inflight            bool
	asking              *time.Time // the allowance the fetch in flight spends; nil for a poll
	nextPoll            time.Time
	polledAt            time.Time // when the poll in flight, if any, was sent
	set                 string    // KeySet.Set of the keys in use
}

// KeyFetch is a request whose token's issuer keys the sidecar holds and
// the filter does not have yet: send the fetch (Send) or wait for the one
// in flight, hand its answer to KeysArrived, then decide the request
// again.
type KeyFetch struct {
	Issuer string
	Kid    string // the kid the token names, "" when none
	Send   bool
}

// Query is the sidecar path of the fetch.
func (k *KeyFetch) Query() string { return state.KeysQuery(k.Issuer, k.Kid) }

// needKeys decides a token that keys the filter lacks might verify. The
// issuer's keys are asked for at most once per min_interval, however many
// tokens name unknown kids; on Envoy requests wait for the fetch in
// flight (the answer resumes them from the root context), on Kong only
// the request that sent it can. A request that cannot wait is refused:
// 401 when the issuer has keys and none is the token's, 503 while it has
// none at all (the token may be good; the keys are what is missing).
func (e *Engine) needKeys(d Decision, n *token.NeedKeys) Decision {
	st := e.keySets[n.Issuer]
	now := e.now()
	switch {
	case st.inflight && e.gw.AnswersAtRoot:
		return Decision{Keys: &KeyFetch{Issuer: n.Issuer, Kid: n.Kid}, Service: d.Service, Route: d.Route, RouteLine: d.RouteLine}
	case !st.inflight && allowed(*st.allowance(n), now, st.remote):
		st.inflight, st.asking = true, st.allowance(n)
		*st.asking = now
		return Decision{Keys: &KeyFetch{Issuer: n.Issuer, Kid: n.Kid, Send: true}, Service: d.Service, Route: d.Route, RouteLine: d.RouteLine}
	case n.None:
		return into(d, withDetail(deny(503, ReasonKeysUnavailable), n))
	default:
		return into(d, withDetail(deny(401, ReasonInvalidToken), n))
	}
}

// allowance is the time a token's fetch of keys spends: its own for a
// kid the keys lack, another while there are no keys.
func (st *keyState) allowance(n *token.NeedKeys) *time.Time {
	if n.None {
		return &st.noneAsked
	}
	return &st.kidAsked
}

// allowed reports whether a fetch last spent at may be sent now.
func allowed(at, now time.Time, r *config.Remote) bool {
	return at.IsZero() || now.Sub(at) >= time.Duration(r.MinIntervalMillis)*time.Millisecond
}

// KeyTickMillis is how often the host should call KeysDue (the root's
// tick period).
const KeyTickMillis = 1000

// KeysDue names the issuers whose keys are due to be asked for again
// (at start, then every Remote.PollMillis) and marks them in flight: send
// a fetch for each (KeysQuery with no kid) and hand its answer to
// KeysArrived.
//
// The next poll counts from when this one was sent, and a poll is due
// half a tick early: a host's ticks come about KeyTickMillis apart,
// never exactly, and a poll due just after a tick would wait for the
// next one, doubling a one-second period.
func (e *Engine) KeysDue() []string {
	now := e.now()
	var due []string
	for name, st := range e.keySets {
		if !st.inflight && !now.Before(st.nextPoll.Add(-KeyTickMillis/2*time.Millisecond)) {
			st.inflight, st.asking, st.polledAt = true, nil, now
			due = append(due, name)
		}
	}
	slices.Sort(due)
	return due
}

// KeyTimeoutMillis is how long the sidecar may take to fetch an issuer's
// keys from the provider.
func (e *Engine) KeyTimeoutMillis(issuer string) int {
	if st, ok := e.keySets[issuer]; ok {
		return st.remote.TimeoutMillis
	}
	return 0
}

// HoldsRemoteKeys reports whether any issuer's keys come from the sidecar.
func (e *Engine) HoldsRemoteKeys() bool { return len(e.keySets) > 0 }

// KeysArrived takes the sidecar's answer to a key fetch (its body, or the
// error that kept it from answering). A failed fetch keeps the keys in
// use and is tried again after min_interval. It reports whether the
// keys changed.
func (e *Engine) KeysArrived(issuer string, body []byte, fetchErr error) (bool, error) {
	st, ok := e.keySets[issuer]
	if !ok {
		return false, errors.New("keys for an unknown issuer " + strconv.Quote(issuer))
	}
	now := e.now()
	// min_interval counts from the answer: a fetch slower than it must
	// not let the requests that waited for it send the next one. The
	// periodic poll spends no kid's allowance: a token signed with a key
	// rotated in just after a poll is fetched for at once.
	wasPoll := st.inflight && st.asking == nil
	if st.asking != nil {
		*st.asking = now
	}
	st.inflight, st.asking = false, nil
	retry := now.Add(time.Duration(st.remote.MinIntervalMillis) * time.Millisecond)
	if fetchErr != nil {
		st.nextPoll = retry
		return false, fetchErr
	}
	ks, err := state.DecodeKeySet(body, issuer)
	if err != nil {
		st.nextPoll = retry
		return false, err
	}
	from := now
	if wasPoll {
		from = st.polledAt
	}
	st.nextPoll = from.Add(time.Duration(st.remote.PollMillis()) * time.Millisecond)
	if ks.Set == st.set && st.set != "" {
		return false, nil
	}
	if _, err := e.verifier.SetRemoteKeys(issuer, ks.Keys); err != nil {
		return false, err
	}
	st.set = ks.Set
	return true, nil
}

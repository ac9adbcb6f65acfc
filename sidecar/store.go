package sidecar

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/keycard-gw/keycard/state"
	"github.com/redis/go-redis/v9"
)

// Store is the Redis side of the sidecar.
type Store struct {
	rdb     redis.UniversalClient
	prefix  string
	userTTL time.Duration
	now     func() time.Time
	reads   *readBatcher
}

// NewStore wraps a Redis client.
func NewStore(rdb redis.UniversalClient, prefix string, userTTL time.Duration) *Store {
	return &Store{rdb: rdb, prefix: prefix, userTTL: userTTL, now: time.Now, reads: &readBatcher{rdb: rdb}}
}

// part encodes one part of a key: its length, a colon and its bytes, so
// that (shop, u1:x) and (shop:u1, x) make different keys whatever bytes
// the parts hold (braces, newlines, NUL included). A part over 200 bytes
// is named by its SHA-256 instead ("#" and hex, which no length starts
// with), which keeps keys short for the longest subject a token may carry.
func part(b *strings.Builder, v string) {
	if len(v) > 200 {
		sum := sha256.Sum256([]byte(v))
		b.WriteByte('#')
		b.WriteString(hex.EncodeToString(sum[:]))
		return
	}
	b.WriteString(strconv.Itoa(len(v)))
	b.WriteByte(':')
	b.WriteString(v)
}

// key joins the prefix, the parts and a suffix.
func (s *Store) key(tag bool, suffix string, parts ...string) string {
	var b strings.Builder
	b.WriteString(s.prefix)
	if tag {
		// A Redis Cluster hash tag ends at the first "}": a part may hold
		// one, but the tag still starts with a length, so it is never
		// empty and a user's keys still share one slot.
		b.WriteByte('{')
	}
	for _, p := range parts {
		part(&b, p)
	}
	if tag {
		b.WriteByte('}')
	}
	b.WriteString(suffix)
	return b.String()
}

// tokenField names a token within its user: issuer and id.
func tokenField(issuer, id string) string {
	var b strings.Builder
	part(&b, issuer)
	part(&b, id)
	return b.String()
}

func (s *Store) userTag(svc, user string) string   { return s.key(true, "", svc, user) }
func (s *Store) tokPrefix(svc, user string) string { return s.userTag(svc, user) + "tok:" }
func (s *Store) tokKey(n *state.Name, user string) string {
	return s.tokPrefix(n.Service, user) + tokenField(n.Issuer, n.ID)
}
func (s *Store) tokensKey(svc, user string) string { return s.userTag(svc, user) + "tokens" }
func (s *Store) userKey(svc, user string) string   { return s.userTag(svc, user) + "user" }
func (s *Store) clearedKey(svc, user string) string {
	return s.userTag(svc, user) + "cleared"
}
func (s *Store) rolesKey(svc string) string { return s.key(true, "roles", svc) }
func (s *Store) idxKey(n *state.Name) string {
	return s.key(false, "", "idx", n.Service, n.Kind, n.Issuer, n.ID)
}

// issueScript registers a token as active for a user; with ARGV[5] = "1"
// (single session) every other active token of the user becomes
// "conflict" in the same step. It prunes expired index entries. A token
// already revoked stays revoked (returns 0), and so does one issued (iat,
// ARGV[8]) no later than the user's last clear; a revoked marker is
// never turned active again.
var issueScript = redis.NewScript(`
local field, kind, ttl, exp, single, tokprefix, now, iat = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8])
if redis.call('HGET', KEYS[1], 'state') == 'revoked' then return 0 end
local cleared = tonumber(redis.call('GET', KEYS[3]))
if cleared ~= nil and iat ~= nil and iat <= cleared then return -1 end
local entries = redis.call('HGETALL', KEYS[2])
for i = 1, #entries, 2 do
  local old, oldexp = entries[i], tonumber(entries[i+1])
  if oldexp ~= nil and oldexp > 0 and oldexp < now then
    redis.call('HDEL', KEYS[2], old)
  elseif single == '1' and old ~= field then
    local k = tokprefix .. old
    if redis.call('HGET', k, 'state') == 'active' then
      redis.call('HSET', k, 'state', 'conflict')
    end
  end
end
redis.call('HSET', KEYS[1], 'state', 'active', 'kind', kind, 'exp', exp)
if ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl) else redis.call('PERSIST', KEYS[1]) end
local existed, left = redis.call('EXISTS', KEYS[2]), redis.call('TTL', KEYS[2])
redis.call('HSET', KEYS[2], field, exp)
if ttl <= 0 then redis.call('PERSIST', KEYS[2])
elseif existed == 0 or (left >= 0 and left < ttl) then redis.call('EXPIRE', KEYS[2], ttl) end
return 1
`)

// revokeScript marks one token revoked: its marker lives ARGV[1] seconds
// (0: as long as Redis keeps data, for a token without exp), never less
// than it already had. It returns 1 if the token was not revoked before.
var revokeScript = redis.NewScript(`
local ttl = tonumber(ARGV[1])
local before, left = redis.call('HGET', KEYS[1], 'state'), redis.call('TTL', KEYS[1])
redis.call('HSET', KEYS[1], 'state', 'revoked')
if before == false then redis.call('HSET', KEYS[1], 'kind', ARGV[2]) end
if ttl <= 0 then redis.call('PERSIST', KEYS[1])
elseif before == false or (left >= 0 and left < ttl) then redis.call('EXPIRE', KEYS[1], ttl) end
if before == 'revoked' then return 0 end
return 1
`)

// clearScript revokes every registered token of a user and records when
// (ARGV[2], seconds): a token issued no later than that, registered or
// not, is refused from then on. It returns how many tokens it revoked
// that were not revoked before.
var clearScript = redis.NewScript(`
local ids = redis.call('HKEYS', KEYS[1])
local n = 0
for _, id in ipairs(ids) do
  local k = ARGV[1] .. id
  local st = redis.call('HGET', k, 'state')
  if st ~= false and st ~= 'revoked' then
    redis.call('HSET', k, 'state', 'revoked')
    n = n + 1
  end
end
redis.call('SET', KEYS[2], ARGV[2])
return n
`)

// ErrBadID refuses empty service or user ids and ids over 4 KiB. Any
// other bytes are stored, encoded into the keys (part), so that every id
// the filter can ask about can also be revoked or disabled.
var ErrBadID = errors.New("ids must be 1 to 4096 bytes")

func checkID(ids ...string) error {
	for _, id := range ids {
		if id == "" || len(id) > 4096 {
			return ErrBadID
		}
	}
	return nil
}

// Errors of registering a token that must stay refused.
var (
	ErrRevoked = errors.New("the token is revoked: a revoked token is never made active again")
	ErrCleared = errors.New("the token was issued before the user's tokens were cleared")
)

// Issue records a token as active for user: n names it (n.Subject is
// ignored; user is whose it is). fresh says the sidecar made the token
// just now (getToken), else it is a JWT a login registers. exp is when
// it expires, zero for never; single makes every other active token of
// the user "conflict".
func (s *Store) Issue(ctx context.Context, n state.Name, user string, exp time.Time, fresh, single bool) error {
	if err := checkID(n.Service, user, n.ID); err != nil {
		return err
	}
	ttl := markerTTL(exp, s.now())
	expUnix := int64(0)
	if !exp.IsZero() {
		expUnix = exp.Unix()
	}
	flag := "0"
	if single {
		flag = "1"
	}
	// A JWT registered from outside must be newer than the user's last
	// clear; one without iat cannot show it is. A token the sidecar
	// issues now (fresh) is newer by its making: it passes "".
	iat := ""
	if n.Kind == state.KindJWT && !fresh {
		iat = strconv.FormatInt(n.IssuedAt, 10)
	}
	keys := []string{s.tokKey(&n, user), s.tokensKey(n.Service, user), s.clearedKey(n.Service, user)}
	res, err := issueScript.Run(ctx, s.rdb, keys, tokenField(n.Issuer, n.ID), n.Kind, int64(ttl/time.Second), expUnix, flag, s.tokPrefix(n.Service, user), s.now().Unix(), iat).Int()
	switch {
	case err != nil:
		return err
	case res == 0:
		return ErrRevoked
	case res < 0:
		return ErrCleared
	}
	// The index lives in another slot, so it is written after the token:
	// a reader that finds no index reports "unknown", which refuses.
	return s.rdb.Set(ctx, s.idxKey(&n), user, ttl).Err()
}

// MarkerMargin is how long a token's record outlives its exp: longer than
// the largest leeway a filter's configuration can hold (3600 s), so that
// no token the filter still accepts has lost its revoked marker.
const MarkerMargin = time.Hour + time.Minute

// markerTTL is how long a token's record must live: until exp plus
// MarkerMargin, or for ever (0) when the token never expires.
func markerTTL(exp, now time.Time) time.Duration {
	if exp.IsZero() {
		return 0
	}
	return max(exp.Sub(now), 0).Truncate(time.Second) + MarkerMargin
}

// Owner returns the user a registered token belongs to, if recorded.
func (s *Store) Owner(ctx context.Context, n state.Name) (user string, found bool, err error) {
	v, err := s.rdb.Get(ctx, s.idxKey(&n)).Result()
	if errors.Is(err, redis.Nil) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return v, true, nil
}

// Revoke marks a token revoked, one the sidecar never saw included,
// until exp plus MarkerMargin (for ever when exp is zero). It reports
// whether the token was not revoked before.
func (s *Store) Revoke(ctx context.Context, n state.Name, user string, exp time.Time) (bool, error) {
	if err := checkID(n.Service, n.ID); err != nil {
		return false, err
	}
	if len(user) > 4096 {
		return false, ErrBadID
	}
	ttl := markerTTL(exp, s.now())
	res, err := revokeScript.Run(ctx, s.rdb, []string{s.tokKey(&n, user)}, int64(ttl/time.Second), n.Kind).Int()
	return res == 1, err
}

// Clear revokes every token of a user issued until now, registered or
// not, and returns how many registered tokens it newly revoked.
func (s *Store) Clear(ctx context.Context, svc, user string) (int, error) {
	if err := checkID(svc, user); err != nil {
		return 0, err
	}
	return clearScript.Run(ctx, s.rdb, []string{s.tokensKey(svc, user), s.clearedKey(svc, user)}, s.tokPrefix(svc, user), s.now().Unix()).Int()
}

// UserDoc is what /user/roles stores for a user (seed 002's fields).
type UserDoc struct {
	Roles      []RoleDoc `json:"roles"`
	Excludes   []string  `json:"excludes"`
	Type       string    `json:"type"`   // "1" black list, "2" white list
	Status     string    `json:"status"` // "1" enabled, "0" disabled
	StatusDesc string    `json:"statusDesc"`
	Level      int       `json:"level,omitempty"`
}

// User returns a user's stored record, or nil.
func (s *Store) User(ctx context.Context, svc, user string) (*UserDoc, error) {
	if err := checkID(svc, user); err != nil {
		return nil, err
	}
	raw, err := s.rdb.Get(ctx, s.userKey(svc, user)).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var u UserDoc
	if err := json.Unmarshal([]byte(raw), &u); err != nil {
		return nil, fmt.Errorf("sidecar: user %s: %w", user, err)
	}
	return &u, nil
}

// RoleDoc is a role with its permission patterns.
type RoleDoc struct {
	RoleID string   `json:"roleId"`
	Perms  []string `json:"perms"`
}

// SetUser stores a user's roles and status.
func (s *Store) SetUser(ctx context.Context, svc, user string, doc *UserDoc) error {
	if err := checkID(svc, user); err != nil {
		return err
	}
	data, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	return s.rdb.Set(ctx, s.userKey(svc, user), data, s.userTTL).Err()
}

// SetRoles replaces a service's dynamic role definitions in one step.
func (s *Store) SetRoles(ctx context.Context, svc string, roles []RoleDoc) error {
	if err := checkID(svc); err != nil {
		return err
	}
	key := s.rolesKey(svc)
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, key)
		for _, r := range roles {
			data, _ := json.Marshal(r.Perms)
			p.HSet(ctx, key, r.RoleID, data)
		}
		if len(roles) > 0 {
			p.Expire(ctx, key, s.userTTL)
		}
		return nil
	})
	return err
}

// Answer reads everything the filter needs about a token in one round
// trip (two for an opaque token, whose user comes from the service's
// index): the token's record under (service, issuer, user, id), the
// user's record and clear time, and the service's roles. An opaque token
// registered for another service is unknown here. A JWT without a
// subject belongs to no user: only its own record and nothing of a
// user's is answered.
func (s *Store) Answer(ctx context.Context, n state.Name) (*state.Answer, error) {
	unknown := &state.Answer{Version: state.Version, Token: state.Unknown, Status: state.Enabled}
	user := n.Subject
	if n.Kind == state.KindOpaque {
		owner, found, err := s.Owner(ctx, n)
		if err != nil {
			return nil, err
		}
		if !found {
			return unknown, nil
		}
		user = owner
	}
	rd := &stateRead{tokKey: s.tokKey(&n, user), userKey: s.userKey(n.Service, user), clearedKey: s.clearedKey(n.Service, user), rolesKey: s.rolesKey(n.Service)}
	if err := s.reads.read(ctx, rd); err != nil {
		return nil, err
	}
	tok, doc, roles := rd.tok, rd.doc, rd.roles
	if err := cmp.Or(tok.Err(), roles.Err()); err != nil {
		return nil, err
	}
	a := &state.Answer{Version: state.Version, Token: state.Unknown, User: user, Status: state.Enabled}
	if t := tok.Val(); len(t) > 0 {
		switch t["state"] {
		case state.Active, state.Revoked, state.Conflict:
			a.Token = t["state"]
		default:
			return nil, fmt.Errorf("sidecar: token %s has state %q in Redis", n.ID, t["state"])
		}
	}
	if a.Token == state.Unknown && n.Kind == state.KindJWT {
		// A JWT the sidecar never registered: refused when it was issued
		// no later than the user's last clear, or has no iat to tell.
		raw, err := rd.cleared.Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, err
		}
		if err == nil {
			cleared, perr := strconv.ParseInt(raw, 10, 64)
			if perr != nil {
				return nil, fmt.Errorf("sidecar: user %s has clear time %q in Redis", user, raw)
			}
			if n.IssuedAt == 0 || n.IssuedAt <= cleared {
				a.Token = state.Revoked
			}
		}
	}
	if user == "" {
		a.User = ""
		return a, nil
	}
	if raw, err := doc.Result(); err == nil {
		var u UserDoc
		if err := json.Unmarshal([]byte(raw), &u); err != nil {
			return nil, fmt.Errorf("sidecar: user %s: %w", user, err)
		}
		s.expand(a, &u, roles.Val())
	} else if !errors.Is(err, redis.Nil) {
		return nil, err
	}
	return a, nil
}

// expand turns a stored user into the answer: status, roles, and the
// allow and deny patterns its list type means (seed 002: type 2 white
// list, the roles' permissions are allowed and excludes denied; type 1
// black list, the other way round).
func (s *Store) expand(a *state.Answer, u *UserDoc, defs map[string]string) {
	if u.Status == "0" {
		a.Status = state.Disabled
	}
	a.Level = u.Level
	var perms []string
	for _, r := range u.Roles {
		a.Roles = append(a.Roles, r.RoleID)
		perms = append(perms, r.Perms...)
		if raw, ok := defs[r.RoleID]; ok {
			var p []string
			if json.Unmarshal([]byte(raw), &p) == nil {
				perms = append(perms, p...)
			}
		}
	}
	if u.Type == "1" {
		a.Deny, a.Allow = perms, u.Excludes
	} else {
		a.Allow, a.Deny = perms, u.Excludes
	}
}

// Ping checks that Redis answers.
func (s *Store) Ping(ctx context.Context) error { return s.rdb.Ping(ctx).Err() }

package sidecar

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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

func (s *Store) userTag(svc, user string) string {
	// Braces would break the hash tag: they are not allowed in ids.
	return s.prefix + "{" + svc + ":" + user + "}:"
}
func (s *Store) tokKey(svc, user, id string) string { return s.userTag(svc, user) + "tok:" + id }
func (s *Store) tokensKey(svc, user string) string  { return s.userTag(svc, user) + "tokens" }
func (s *Store) userKey(svc, user string) string    { return s.userTag(svc, user) + "user" }
func (s *Store) rolesKey(svc string) string         { return s.prefix + "{" + svc + "}:roles" }
func (s *Store) idxKey(id string) string            { return s.prefix + "idx:" + id }

// issueScript registers a token as active for a user; with ARGV[5] = "1"
// (single session) every other active token of the user becomes
// "conflict" in the same step. It prunes expired index entries.
var issueScript = redis.NewScript(`
local id, kind, ttl, exp, single, tokprefix, now = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7])
local entries = redis.call('HGETALL', KEYS[2])
for i = 1, #entries, 2 do
  local old, oldexp = entries[i], tonumber(entries[i+1])
  if oldexp ~= nil and oldexp < now then
    redis.call('HDEL', KEYS[2], old)
  elseif single == '1' and old ~= id then
    local k = tokprefix .. old
    if redis.call('HGET', k, 'state') == 'active' then
      redis.call('HSET', k, 'state', 'conflict')
    end
  end
end
redis.call('HSET', KEYS[1], 'state', 'active', 'kind', kind, 'exp', exp)
redis.call('EXPIRE', KEYS[1], ttl)
redis.call('HSET', KEYS[2], id, exp)
if redis.call('TTL', KEYS[2]) < ttl then redis.call('EXPIRE', KEYS[2], ttl) end
return 1
`)

// revokeScript marks one token revoked, keeping (or setting) its TTL.
var revokeScript = redis.NewScript(`
local ttl = tonumber(ARGV[1])
local existed = redis.call('EXISTS', KEYS[1])
redis.call('HSET', KEYS[1], 'state', 'revoked')
if existed == 0 then
  redis.call('HSET', KEYS[1], 'kind', 'unknown')
  redis.call('EXPIRE', KEYS[1], ttl)
end
return existed
`)

// clearScript revokes every token of a user.
var clearScript = redis.NewScript(`
local ids = redis.call('HKEYS', KEYS[1])
local n = 0
for _, id in ipairs(ids) do
  local k = ARGV[1] .. id
  if redis.call('EXISTS', k) == 1 then
    redis.call('HSET', k, 'state', 'revoked')
    n = n + 1
  end
end
return n
`)

// ErrBadID refuses ids that would break the key layout.
var ErrBadID = errors.New("ids must be 1 to 256 bytes without braces, newlines or NUL")

func checkID(ids ...string) error {
	for _, id := range ids {
		if id == "" || len(id) > 256 || strings.ContainsAny(id, "{}\n\r\x00") {
			return ErrBadID
		}
	}
	return nil
}

// Issue records a token: an opaque one the sidecar made, or a JWT a login
// registered. single makes every other active token of the user
// "conflict".
func (s *Store) Issue(ctx context.Context, svc, user, id, kind string, ttl time.Duration, single bool) error {
	if err := checkID(svc, user, id); err != nil {
		return err
	}
	secs := int64(max(ttl/time.Second, 1))
	exp := s.now().Add(time.Duration(secs) * time.Second).Unix()
	flag := "0"
	if single {
		flag = "1"
	}
	keys := []string{s.tokKey(svc, user, id), s.tokensKey(svc, user)}
	if err := issueScript.Run(ctx, s.rdb, keys, id, kind, secs, exp, flag, s.userTag(svc, user)+"tok:", s.now().Unix()).Err(); err != nil {
		return err
	}
	// The index lives in another slot, so it is written after the token:
	// a reader that finds no index reports "unknown", which refuses.
	return s.rdb.Set(ctx, s.idxKey(id), svc+"\n"+user, time.Duration(secs)*time.Second).Err()
}

// Owner returns the service and user a token belongs to, if recorded.
func (s *Store) Owner(ctx context.Context, id string) (svc, user string, found bool, err error) {
	v, err := s.rdb.Get(ctx, s.idxKey(id)).Result()
	if errors.Is(err, redis.Nil) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, err
	}
	svc, user, ok := strings.Cut(v, "\n")
	return svc, user, ok, nil
}

// Revoke marks a token revoked; a token the sidecar never saw is recorded
// as revoked for ttl.
func (s *Store) Revoke(ctx context.Context, svc, user, id string, ttl time.Duration) error {
	if err := checkID(svc, user, id); err != nil {
		return err
	}
	return revokeScript.Run(ctx, s.rdb, []string{s.tokKey(svc, user, id)}, int64(max(ttl/time.Second, 1))).Err()
}

// Clear revokes every token of a user and returns how many.
func (s *Store) Clear(ctx context.Context, svc, user string) (int, error) {
	if err := checkID(svc, user); err != nil {
		return 0, err
	}
	n, err := clearScript.Run(ctx, s.rdb, []string{s.tokensKey(svc, user)}, s.userTag(svc, user)+"tok:").Int()
	return n, err
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
// trip (two for an opaque token, whose user comes from the index).
func (s *Store) Answer(ctx context.Context, svc, user, id string) (*state.Answer, error) {
	if user == "" {
		osvc, ouser, found, err := s.Owner(ctx, id)
		if err != nil {
			return nil, err
		}
		if !found {
			return &state.Answer{Version: state.Version, Token: state.Unknown, Status: state.Enabled}, nil
		}
		svc, user = osvc, ouser
	}
	if checkID(svc, user, id) != nil {
		// No state can exist under such ids: nothing is known of them.
		return &state.Answer{Version: state.Version, Token: state.Unknown, Status: state.Enabled}, nil
	}
	rd := &stateRead{tokKey: s.tokKey(svc, user, id), userKey: s.userKey(svc, user), rolesKey: s.rolesKey(svc)}
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
			return nil, fmt.Errorf("sidecar: token %s has state %q in Redis", id, t["state"])
		}
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

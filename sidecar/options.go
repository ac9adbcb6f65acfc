package sidecar

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/keycard-gw/keycard/config"

	"github.com/keycard-gw/keycard/sidecar/envflag"
	"github.com/keycard-gw/keycard/sidecar/keyset"
	"github.com/redis/go-redis/v9"
)

// Options are the sidecar's settings. Every flag also reads an environment
// variable (KEYCARD_ + the flag name in upper case, - as _), so secrets
// need not appear on a command line.
type Options struct {
	Listen         string
	DebugListen    string // loopback address for Go's profiler (net/http/pprof); "" serves none
	RedisURL       string // standalone: redis://[:password@]host:port/db
	RedisAddrs     string // comma-separated: Sentinel addresses (with MasterName) or Cluster nodes
	MasterName     string
	Cluster        bool
	Password       string
	DB             int
	DialTimeout    time.Duration
	ReadTimeout    time.Duration
	WriteTimeout   time.Duration
	Retries        int
	AdminKey       string
	GatewayKey     string // the key the filter sends to read token state; "" leaves /v1/state open (tests only: Run requires one)
	Prefix         string
	DefaultService string
	UserTTL        time.Duration
	TokenTTL       time.Duration
	MaxBody        int64
	CAFile         string // PEM roots trusted for key-set fetches besides the system's

	// Keys holds the issuers' remote keys and run-time secrets (Run builds
	// it from KeySources when it is nil).
	Keys       *keyset.Sets
	KeySources []keyset.Source

	// With a JWT secret, getToken issues HS256 JWTs instead of opaque
	// tokens (the policy's issuer must hold the same secret).
	JWTSecret       string
	JWTIssuer       string
	JWTAudience     string
	JWTSubjectClaim string
}

// Register declares the flags. Every flag can also come from an
// environment variable (KEYCARD_ + the flag name in upper case, - as _),
// so secrets need not appear on a command line; --help names the
// variable and says whether it is set, never its value. The command
// applies the variables after parsing (envflag.Apply).
func (o *Options) Register(fs *flag.FlagSet) {
	bind := func(name string) { envflag.Bind(fs, name, EnvName(name)) }
	str := func(p *string, name, def, usage string) { fs.StringVar(p, name, def, usage); bind(name) }
	dur := func(p *time.Duration, name string, def time.Duration, usage string) {
		fs.DurationVar(p, name, def, usage)
		bind(name)
	}
	num := func(p *int, name string, def int, usage string) { fs.IntVar(p, name, def, usage); bind(name) }
	str(&o.Listen, "listen", "127.0.0.1:8181", "address to serve on")
	str(&o.DebugListen, "debug-listen", "", "loopback address to serve Go's profiler on (/debug/pprof/), on its own listener; off by default, other addresses refused")
	str(&o.RedisURL, "redis-url", "", "standalone Redis, redis://[:password@]host:port/db")
	str(&o.RedisAddrs, "redis-addrs", "", "Sentinel (with --sentinel-master) or Cluster (with --cluster) addresses, comma-separated")
	str(&o.MasterName, "sentinel-master", "", "Sentinel master name (seed 002's mastername)")
	fs.BoolVar(&o.Cluster, "cluster", false, "the addresses are Redis Cluster nodes")
	bind("cluster")
	str(&o.Password, "redis-password", "", "Redis password (seed 002's password)")
	num(&o.DB, "redis-db", 0, "Redis database index, not in Cluster (seed 002's dbindex)")
	dur(&o.DialTimeout, "dial-timeout", time.Second, "Redis connect timeout")
	dur(&o.ReadTimeout, "read-timeout", 500*time.Millisecond, "Redis read timeout")
	dur(&o.WriteTimeout, "write-timeout", 500*time.Millisecond, "Redis write timeout")
	num(&o.Retries, "retries", 2, "Redis retries")
	str(&o.AdminKey, "admin-key", "", "key the business endpoints require (X-Admin-Key); required, at least 16 bytes")
	str(&o.GatewayKey, "gateway-key", "", "key the filter sends to read token state and keys (X-Keycard-Gateway-Key); required, at least 16 bytes, not the admin key; keycard render --sidecar-key gives the filter the same")
	str(&o.Prefix, "prefix", "keycard:", "Redis key prefix")
	str(&o.CAFile, "ca-file", "", "PEM file of CA certificates trusted for fetching key sets, besides the system's")
	str(&o.DefaultService, "default-service", "default", "service id when a business request gives none: use the policy's name")
	dur(&o.UserTTL, "user-ttl", 30*24*time.Hour, "how long user and role records live without a write")
	dur(&o.TokenTTL, "token-ttl", 2*time.Hour, "lifetime of an issued token when the request gives none")
	str(&o.JWTSecret, "jwt-secret", "", "HS256 secret (at least 32 bytes): getToken then issues JWTs, not opaque tokens")
	str(&o.JWTIssuer, "jwt-issuer", "", "iss of issued JWTs")
	str(&o.JWTAudience, "jwt-audience", "", "aud of issued JWTs")
	str(&o.JWTSubjectClaim, "jwt-subject-claim", "sub", "claim that carries the user id in issued JWTs (the policy's claims.subject)")
}

// EnvName is the environment variable of a flag.
func EnvName(flag string) string {
	return "KEYCARD_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// subjectClaim is the claim that names a token's user: the policy's
// claims.subject, "sub" unless set.
func (o *Options) subjectClaim() string {
	if o.JWTSubjectClaim == "" {
		return "sub"
	}
	return o.JWTSubjectClaim
}

// redacted is a Redis URL with any password replaced, for errors.
func redacted(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Redacted()
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if at := strings.LastIndexByte(rest, '@'); ok && at >= 0 {
		return scheme + "://xxxxx@" + rest[at+1:]
	}
	return "(not a URL)"
}

// Client builds the Redis client the options describe.
func (o *Options) Client() (redis.UniversalClient, error) {
	if o.AdminKey == "" {
		return nil, errors.New("sidecar: --admin-key (or KEYCARD_ADMIN_KEY) is required")
	}
	if len(o.AdminKey) < config.MinKeyBytes {
		return nil, fmt.Errorf("sidecar: the admin key must be at least %d bytes", config.MinKeyBytes)
	}
	if o.JWTSecret != "" && len(o.JWTSecret) < 32 {
		return nil, errors.New("sidecar: --jwt-secret must be at least 32 bytes for HS256")
	}
	if (o.RedisURL == "") == (o.RedisAddrs == "") {
		return nil, errors.New("sidecar: give --redis-url (standalone) or --redis-addrs (Sentinel or Cluster)")
	}
	if o.TokenTTL < 0 || o.UserTTL < 0 {
		return nil, errors.New("sidecar: --token-ttl and --user-ttl cannot be negative")
	}
	if o.RedisURL != "" {
		opt, err := redis.ParseURL(o.RedisURL)
		if err != nil {
			// The URL may hold a password: the error says where, not what.
			msg := strings.ReplaceAll(err.Error(), o.RedisURL, redacted(o.RedisURL))
			if u, perr := url.Parse(o.RedisURL); perr == nil {
				if pw, set := u.User.Password(); set && pw != "" {
					msg = strings.ReplaceAll(msg, pw, "xxxxx")
				}
			} else if _, rest, ok := strings.Cut(o.RedisURL, "://"); ok {
				if at := strings.LastIndexByte(rest, '@'); at > 0 {
					msg = strings.ReplaceAll(msg, rest[:at], "xxxxx")
				}
			}
			return nil, fmt.Errorf("sidecar: --redis-url %s: %s", redacted(o.RedisURL), msg)
		}
		if o.Password != "" {
			opt.Password = o.Password
		}
		opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout, opt.MaxRetries = o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.Retries
		return redis.NewClient(opt), nil
	}
	addrs := strings.Split(o.RedisAddrs, ",")
	for i := range addrs {
		addrs[i] = strings.TrimSpace(addrs[i])
		if addrs[i] == "" {
			return nil, errors.New("sidecar: --redis-addrs has an empty address")
		}
	}
	if o.Cluster && o.MasterName != "" {
		return nil, errors.New("sidecar: --cluster and --sentinel-master exclude each other")
	}
	if !o.Cluster && o.MasterName == "" {
		return nil, errors.New("sidecar: --redis-addrs needs --sentinel-master or --cluster")
	}
	if o.Cluster && o.DB != 0 {
		return nil, errors.New("sidecar: Redis Cluster has only database 0")
	}
	return redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs: addrs, MasterName: o.MasterName, IsClusterMode: o.Cluster,
		Password: o.Password, DB: o.DB,
		DialTimeout: o.DialTimeout, ReadTimeout: o.ReadTimeout, WriteTimeout: o.WriteTimeout, MaxRetries: o.Retries,
	}), nil
}

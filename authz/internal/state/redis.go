// Package state connects hookguard to a shared state backend, Redis, for the
// nonce store and the limiter that several replicas share (their
// implementations live in packages replay and ratelimit). It owns the
// client, the per-operation timeout, the key layout, and the backend's health:
// metrics, outage log lines and the local fallback some endpoints opt into.
package state

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultTimeout bounds one Redis operation. A check waits this long at most
// for shared state before answering 503: Envoy's own check timeout is
// longer, and a provider retries a 503.
const DefaultTimeout = 50 * time.Millisecond

// DefaultPrefix starts every key hookguard writes, so a Redis shared with
// other applications keeps hookguard's keys apart.
const DefaultPrefix = "hookguard:"

// maxPrefix bounds --state-prefix; every key carries it.
const maxPrefix = 64

// Redis is a connection to the Redis that replicas share: a single node,
// a Sentinel-managed primary or a Cluster. It is safe for concurrent use.
type Redis struct {
	client  redis.UniversalClient
	prefix  string
	timeout time.Duration
	kind    string
	addr    string // for log lines: the URL without its password
	health  *Health
}

// RedisConfig configures OpenRedis.
type RedisConfig struct {
	// URL says where Redis is (see ParseRedisURL).
	URL string
	// Prefix starts every key; "" means DefaultPrefix.
	Prefix string
	// Timeout bounds each operation; 0 means DefaultTimeout.
	Timeout time.Duration
	// Health records errors and outages; nil records nothing.
	Health *Health
}

// OpenRedis checks c and returns a client. It does not connect: the first
// operation does, and a Redis that is down at start is an outage like any
// other (answered 503, or by an endpoint's local fallback), not a reason to
// refuse to start.
func OpenRedis(c RedisConfig) (*Redis, error) {
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if err := checkPrefix(c.Prefix); err != nil {
		return nil, err
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Timeout < 0 {
		return nil, fmt.Errorf("state: timeout %s is negative", c.Timeout)
	}
	opts, kind, err := ParseRedisURL(c.URL)
	if err != nil {
		return nil, err
	}
	// Each operation carries its own deadline (Timeout); the socket
	// timeouts only catch what escapes it.
	opts.ContextTimeoutEnabled = true
	// No retries: a SET NX that timed out may have been applied, and its
	// retry would find its own key and call a fresh delivery a replay. A
	// failed operation is a 503; the provider retries the delivery.
	opts.MaxRetries = -1
	// One dial per operation: during an outage the pool fails fast and
	// redials in the background once a second.
	opts.DialerRetries = 1
	if opts.DialTimeout == 0 || opts.DialTimeout > time.Second {
		opts.DialTimeout = time.Second
	}
	quietClient.Do(func() { redis.SetLogger(quiet{}) })
	u, _ := url.Parse(c.URL)
	return &Redis{
		client:  redis.NewUniversalClient(opts),
		prefix:  c.Prefix,
		timeout: c.Timeout,
		kind:    kind,
		addr:    u.Redacted(),
		health:  c.Health,
	}, nil
}

// quietClient silences go-redis's own logger, once per process: it writes
// a line to stderr for every failed dial, which during an outage is a
// flood in no format hookguard's log uses. Health logs an outage's start
// and end, and counts every failure.
var quietClient sync.Once

type quiet struct{}

func (quiet) Printf(context.Context, string, ...any) {}

// ParseRedisURL reads a --state URL:
//
//	redis://[user:password@]host:port[/db]       one node
//	rediss://...                                 one node, TLS
//	redis+sentinel://[user:password@]host:port[/db]?master_name=NAME[&addr=host:port...]
//	redis+cluster://[user:password@]host:port[?addr=host:port...]
//
// and the TLS forms rediss+sentinel:// and rediss+cluster://. The query takes
// go-redis's options in snake case (dial_timeout, pool_size, ...); for
// Sentinel, user and password are the Sentinel's, and the primary's go in
// the username and password parameters. kind is "redis", "sentinel" or
// "cluster".
func ParseRedisURL(raw string) (opts *redis.UniversalOptions, kind string, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, "", fmt.Errorf("state: %w", err)
	}
	scheme, mode, _ := strings.Cut(u.Scheme, "+")
	if scheme != "redis" && scheme != "rediss" {
		return nil, "", fmt.Errorf("state: URL scheme %q: want redis, rediss, redis+sentinel or redis+cluster", u.Scheme)
	}
	plain := *u
	plain.Scheme = scheme
	switch mode {
	case "":
		o, err := redis.ParseURL(plain.String())
		if err != nil {
			return nil, "", fmt.Errorf("state: %w", err)
		}
		return &redis.UniversalOptions{
			Addrs: []string{o.Addr}, Username: o.Username, Password: o.Password, DB: o.DB,
			TLSConfig: o.TLSConfig, DialTimeout: o.DialTimeout, PoolSize: o.PoolSize,
			ClientName: o.ClientName, Protocol: o.Protocol,
		}, "redis", nil
	case "sentinel":
		o, err := redis.ParseFailoverURL(plain.String())
		if err != nil {
			return nil, "", fmt.Errorf("state: %w", err)
		}
		if o.MasterName == "" {
			return nil, "", errors.New("state: a redis+sentinel URL needs master_name=NAME")
		}
		return &redis.UniversalOptions{
			Addrs: o.SentinelAddrs, MasterName: o.MasterName,
			SentinelUsername: o.SentinelUsername, SentinelPassword: o.SentinelPassword,
			Username: o.Username, Password: o.Password, DB: o.DB,
			TLSConfig: o.TLSConfig, DialTimeout: o.DialTimeout, PoolSize: o.PoolSize,
			ClientName: o.ClientName, Protocol: o.Protocol,
		}, "sentinel", nil
	case "cluster":
		o, err := redis.ParseClusterURL(plain.String())
		if err != nil {
			return nil, "", fmt.Errorf("state: %w", err)
		}
		return &redis.UniversalOptions{
			Addrs: o.Addrs, IsClusterMode: true, Username: o.Username, Password: o.Password,
			TLSConfig: o.TLSConfig, DialTimeout: o.DialTimeout, PoolSize: o.PoolSize,
			ClientName: o.ClientName, Protocol: o.Protocol,
		}, "cluster", nil
	default:
		return nil, "", fmt.Errorf("state: URL scheme %q: want redis, rediss, redis+sentinel or redis+cluster", u.Scheme)
	}
}

// checkPrefix refuses prefixes that would make keys hard to tell apart or
// move them between Cluster slots: braces start a hash tag, and the prefix
// is printed in log lines and typed in redis-cli.
func checkPrefix(p string) error {
	if len(p) > maxPrefix {
		return fmt.Errorf("state: key prefix is %d bytes, at most %d", len(p), maxPrefix)
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c <= ' ' || c >= 0x7f || c == '{' || c == '}' {
			return fmt.Errorf("state: key prefix %q: only printable ASCII without spaces or braces", p)
		}
	}
	return nil
}

// Prefix starts every key.
func (r *Redis) Prefix() string { return r.prefix }

// Kind is "redis", "sentinel" or "cluster".
func (r *Redis) Kind() string { return r.kind }

// Addr is the URL without its password, for log lines.
func (r *Redis) Addr() string { return r.addr }

// Client is the go-redis client, for the stores built on r.
func (r *Redis) Client() redis.UniversalClient { return r.client }

// Timeout is the per-operation deadline.
func (r *Redis) Timeout() time.Duration { return r.timeout }

// Do runs one operation, named op in the metrics, under the per-operation
// timeout, and records its outcome in the backend's health. redis.Nil (no
// such key, or SET NX that found one) is an answer, not an error. An error
// caused by ctx itself ending (Envoy gave up on the check) is returned but
// not held against the backend.
func (r *Redis) Do(ctx context.Context, op string, fn func(ctx context.Context, c redis.UniversalClient) error) error {
	return r.DoWithin(ctx, op, r.timeout, fn)
}

// DoWithin is Do with its own timeout, for work no check waits for.
func (r *Redis) DoWithin(ctx context.Context, op string, timeout time.Duration, fn func(ctx context.Context, c redis.UniversalClient) error) error {
	octx, cancel := context.WithTimeout(ctx, timeout)
	err := fn(octx, r.client)
	cancel()
	if err == nil || errors.Is(err, redis.Nil) {
		r.health.ok()
		return err
	}
	if ctx.Err() != nil {
		return err
	}
	r.health.failed(op, err)
	return fmt.Errorf("redis %s: %w", op, err)
}

// Ping checks the connection, as the health loop does.
func (r *Redis) Ping(ctx context.Context) error {
	return r.Do(ctx, "ping", func(ctx context.Context, c redis.UniversalClient) error {
		return c.Ping(ctx).Err()
	})
}

// Watch pings Redis every interval until ctx ends, so the up gauge and the
// outage log lines follow the backend even when no request comes, and the
// pool redials as soon as Redis is back.
func (r *Redis) Watch(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		r.Ping(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Close closes the client's connections.
func (r *Redis) Close() error { return r.client.Close() }

// Key is the Redis key of a fixed-size digest: the prefix, kind (one letter
// per store), the hash tag, and the digest's bytes. Every key of one
// endpoint shares the tag, so the keys of one delivery live in one Cluster
// slot and a script can check and set them atomically.
func (r *Redis) Key(kind byte, tag Tag, digest *[sha256.Size]byte) string {
	var b strings.Builder
	b.Grow(len(r.prefix) + 1 + len(tag) + 2 + sha256.Size)
	b.WriteString(r.prefix)
	b.WriteByte(kind)
	b.WriteByte('{')
	b.Write(tag[:])
	b.WriteByte('}')
	b.Write(digest[:])
	return b.String()
}

// A Tag is an endpoint's Cluster hash tag: the first four bytes of the
// SHA-256 of its name, in hex.
type Tag [8]byte

// EndpointTag returns the tag of an endpoint.
func EndpointTag(endpoint string) Tag {
	sum := sha256.Sum256([]byte(endpoint))
	var t Tag
	hex.Encode(t[:], sum[:4])
	return t
}

// MaxmemoryPolicy returns Redis's maxmemory-policy, read from INFO memory
// (managed services often refuse CONFIG GET).
func (r *Redis) MaxmemoryPolicy(ctx context.Context) (string, error) {
	var info string
	err := r.DoWithin(ctx, "ping", time.Second, func(ctx context.Context, c redis.UniversalClient) error {
		var err error
		info, err = c.Info(ctx, "memory").Result()
		return err
	})
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "maxmemory_policy:"); ok {
			return v, nil
		}
	}
	return "", errors.New("redis INFO memory has no maxmemory_policy")
}

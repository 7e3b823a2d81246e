package replay

import (
	"context"
	"crypto/sha256"
	"errors"
	"net"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/internal/state"
)

// rememberAll remembers the keys of a delivery that has several, all or
// none, in one round trip: if any key is held, the delivery is a replay and
// nothing is written. The keys share their endpoint's hash tag, so in a
// Cluster they live in one slot and the script may touch them all.
//
// KEYS: the delivery's keys. ARGV: TTL in ms, token. Reply: 1 fresh, 0 replay.
var rememberAll = redis.NewScript(`
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then return 0 end
end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], ARGV[2], 'PX', ARGV[1])
end
return 1
`)

// forgetOwned deletes the keys still held under the claim's token, and no
// other: a retry accepted in the meantime holds its own token.
//
// KEYS: the claim's keys. ARGV: token. Reply: keys deleted.
var forgetOwned = redis.NewScript(`
local n = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    n = n + redis.call('DEL', KEYS[i])
  end
end
return n
`)

// nonceKind is the key kind of nonces (see state.Redis.Key).
const nonceKind = 'n'

// maxUndo bounds the background undos of failed Remembers in flight.
const maxUndo = 16

// Redis is an authz.NonceStore in Redis, shared by every replica: a
// delivery with one key is one SET key token NX PX ttl; one with several is
// one script call. Either way one round trip, atomic on the server.
//
// Capacity is the Redis operator's, so it ignores authz.Nonces.Capacity
// and OnFull: every key expires with its TTL, so Redis holds the
// deliveries of the last TTL and no more, and nothing is evicted early as long as Redis runs with maxmemory-policy noeviction.
// A Redis that is full then refuses the write, and the check is answered
// 503 (or by an endpoint's local fallback): the on_full: reject behaviour.
// A Redis that evicts keys (allkeys-* or volatile-* policies) forgets
// deliveries early, and a replay of one is accepted. See docs/deploy.md for
// the bytes per delivery.
type Redis struct {
	r    *state.Redis
	undo chan struct{}
}

// NewRedis returns a nonce store on r.
func NewRedis(r *state.Redis) *Redis {
	return &Redis{r: r, undo: make(chan struct{}, maxUndo)}
}

// keys returns the Redis keys of c's nonce keys.
func (s *Redis) keys(c *authz.Nonces) []string {
	tag := state.EndpointTag(c.Endpoint)
	keys := make([]string, len(c.Keys))
	for i := range c.Keys {
		keys[i] = s.r.Key(nonceKind, tag, (*[sha256.Size]byte)(&c.Keys[i]))
	}
	return keys
}

// Remember records c's keys for c.TTL under c.Token, unless any is held.
//
// An error may come after Redis applied the write (a timeout on the
// reply). The check is then answered 503 and the provider retries, which
// must not find the delivery remembered: the claim is forgotten in the
// background, by its token, so only this attempt's keys can go.
func (s *Redis) Remember(ctx context.Context, c authz.Nonces) (bool, error) {
	keys := s.keys(&c)
	ttl := max(c.TTL, time.Millisecond)
	var fresh bool
	err := s.r.Do(ctx, "remember", func(ctx context.Context, cl redis.UniversalClient) error {
		var err error
		if len(keys) == 1 {
			fresh, err = cl.SetNX(ctx, keys[0], c.Token[:], ttl).Result()
			return err
		}
		var n int64
		n, err = rememberAll.Run(ctx, cl, keys, ttl.Milliseconds(), c.Token[:]).Int64()
		fresh = n == 1
		return err
	})
	if err != nil {
		if !neverSent(err) {
			s.undoLater(keys, c.Token)
		}
		return false, err
	}
	return fresh, nil
}

// neverSent reports whether err shows the command never left: no
// connection could be made (during an outage, most errors), so there is
// nothing to undo.
func neverSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// Forget removes c's keys that are still held under c.Token.
func (s *Redis) Forget(ctx context.Context, c authz.Nonces) error {
	return s.forget(ctx, s.keys(&c), c.Token)
}

func (s *Redis) forget(ctx context.Context, keys []string, token authz.NonceToken) error {
	return s.r.Do(ctx, "forget", func(ctx context.Context, cl redis.UniversalClient) error {
		return forgetOwned.Run(ctx, cl, keys, token[:]).Err()
	})
}

// undoTimeout bounds an undo: no check waits for it, and the Redis that
// just timed out may be slow rather than down.
const undoTimeout = time.Second

// undoLater forgets a claim whose Remember failed, in the background and
// at most maxUndo at a time: during an outage most writes never reached
// Redis, and an undo that cannot run either changes nothing.
func (s *Redis) undoLater(keys []string, token authz.NonceToken) {
	select {
	case s.undo <- struct{}{}:
	default:
		return
	}
	go func() {
		defer func() { <-s.undo }()
		s.r.DoWithin(context.Background(), "forget", undoTimeout, func(ctx context.Context, cl redis.UniversalClient) error {
			return forgetOwned.Run(ctx, cl, keys, token[:]).Err()
		})
	}()
}

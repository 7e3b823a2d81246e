// Package replay holds the nonce stores that remember deliveries for replay
// protection. Memory is the default, for a single replica.
package replay

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"github.com/hookguard/hookguard/authz"
)

// DefaultCapacity is the default number of deliveries a Memory store holds.
// At about 150 bytes an entry it is some 150 MB at most.
const DefaultCapacity = 1_000_000

// Memory is an in-memory authz.NonceStore: a bounded LRU of nonce keys, each
// with its own deadline.
//
// When the store is full, remembering a new delivery evicts the least
// recently used one, possibly before its TTL: a replay of that delivery would
// then be accepted. EvictedEarly counts those evictions; a non-zero count
// means the capacity is too small for the traffic and the TTLs.
type Memory struct {
	mu    sync.Mutex // makes look-up and insert one atomic step
	clock authz.Clock
	lru   *expirable.LRU[authz.NonceKey, entry]
	early atomic.Uint64
	// forgetting is set while Forget removes a key, whose eviction callback
	// must not count as an early eviction.
	forgetting atomic.Bool
}

// entry is a remembered key: until when, and under which claim's token.
type entry struct {
	deadline time.Time
	token    authz.NonceToken
}

// MemoryConfig configures a Memory store. The zero value is valid: every
// zero field has the documented default.
type MemoryConfig struct {
	// Capacity is the most deliveries the store holds; 0 or less means
	// DefaultCapacity.
	Capacity int
	// Clock tells the time for deadlines; nil means the system clock.
	Clock authz.Clock
}

// NewMemory returns an empty store configured by c.
func NewMemory(c MemoryConfig) *Memory {
	capacity, clock := c.Capacity, c.Clock
	if capacity <= 0 {
		capacity = DefaultCapacity
	}
	if clock == nil {
		clock = authz.SystemClock{}
	}
	m := &Memory{clock: clock}
	// The LRU's own expiry drops entries after authz.MaxReplayTTL at the latest, so
	// memory is returned even without new traffic; each entry's deadline,
	// on the store's clock, decides freshness.
	m.lru = expirable.NewLRU[authz.NonceKey, entry](capacity, m.onEvict, authz.MaxReplayTTL)
	return m
}

func (m *Memory) onEvict(_ authz.NonceKey, e entry) {
	if !m.forgetting.Load() && m.clock.Now().Before(e.deadline) {
		m.early.Add(1)
	}
}

// Remember records c's keys until now+TTL and reports whether the delivery
// was new: none of its keys present before its deadline. A replay records
// nothing.
func (m *Memory) Remember(_ context.Context, c *authz.NonceClaim) (bool, error) {
	now := m.clock.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, key := range c.Keys {
		if e, ok := m.lru.Peek(key); ok && now.Before(e.deadline) {
			return false, nil
		}
	}
	for _, key := range c.Keys {
		m.lru.Add(key, entry{now.Add(c.TTL), c.Token})
	}
	return true, nil
}

// Forget removes c's keys that are still held under c.Token.
func (m *Memory) Forget(_ context.Context, c *authz.NonceClaim) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.forgetting.Store(true)
	for _, key := range c.Keys {
		if e, ok := m.lru.Peek(key); ok && e.token == c.Token {
			m.lru.Remove(key)
		}
	}
	m.forgetting.Store(false)
	return nil
}

// Len returns the number of deliveries held, including expired ones not yet
// dropped.
func (m *Memory) Len() int { return m.lru.Len() }

// EvictedEarly returns how many deliveries were dropped for lack of room
// before their deadline.
func (m *Memory) EvictedEarly() uint64 { return m.early.Load() }

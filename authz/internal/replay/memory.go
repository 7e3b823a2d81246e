// Package replay holds the nonce stores that remember deliveries for replay
// protection. Memory is the default, for a single replica.
package replay

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/maphash"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hookguard/hookguard/authz"
)

// DefaultCapacity is the default number of deliveries a Memory store holds:
// about 65 MB when full.
const DefaultCapacity = 1_000_000

// NoticeInterval is the least time between two calls of
// MemoryConfig.EvictedEarly for one endpoint.
const NoticeInterval = time.Minute

// Memory is an in-memory authz.NonceStore. Every endpoint has its own share
// of it (authz.Nonces.Capacity), so one endpoint's traffic never pushes out
// another's deliveries.
//
// A share is a few shards, each a FIFO ring of deliveries with an
// open-addressing index over it. Deliveries of one endpoint share a TTL, so
// the oldest in a ring is also the first to expire: expiry needs no timer
// and no background goroutine, only a look at the head of the ring when a
// delivery is added. Rings and indexes hold no pointers, so the garbage
// collector does not scan them however many deliveries they hold, and each
// shard has its own lock, so concurrent checks seldom wait for one another.
// A ring grows as its endpoint's deliveries need it, up to the shard's part
// of the share.
//
// When a shard is full of deliveries still within their TTL, remembering a
// new one evicts the oldest, so that a replay of it would be accepted, or
// fails with *authz.ShareFullError, as authz.Nonces.OnFull says. Since a
// share is split evenly between shards, a busy share can start evicting a
// little before it holds Capacity deliveries: size it with a margin.
type Memory struct {
	capacity int
	clock    authz.Clock
	notice   func(endpoint string, total uint64)
	seed     maphash.Seed

	shares atomic.Pointer[map[string]*share] // replaced whole, under mu
	mu     sync.Mutex                        // serialises changes to shares
}

// MemoryConfig configures a Memory store. The zero value is valid: every
// zero field has the documented default.
type MemoryConfig struct {
	// Capacity bounds each endpoint's share, and so is the share of an
	// endpoint that asks for none (authz.Nonces.Capacity zero); 0 or less
	// means DefaultCapacity. The store does not add the shares up: the
	// policy compiler keeps their sum within the same capacity
	// (policy.Options.NonceCapacity), and memory is only taken as
	// deliveries arrive.
	Capacity int
	// Clock tells the time for deadlines; nil means the system clock.
	Clock authz.Clock
	// EvictedEarly, if set, is called when an endpoint's deliveries are
	// evicted before their TTL, with the endpoint's total of such
	// evictions so far: at most once per NoticeInterval per endpoint, from
	// the goroutine that evicted, with no lock held. It must not block.
	EvictedEarly func(endpoint string, total uint64)
}

// NewMemory returns an empty store configured by c. It starts no goroutine
// and needs no closing.
func NewMemory(c MemoryConfig) *Memory {
	if c.Capacity <= 0 {
		c.Capacity = DefaultCapacity
	}
	if c.Clock == nil {
		c.Clock = authz.SystemClock{}
	}
	m := &Memory{capacity: c.Capacity, clock: c.Clock, notice: c.EvictedEarly, seed: maphash.MakeSeed()}
	m.shares.Store(&map[string]*share{})
	return m
}

var (
	// errNoTTL refuses a delivery that would be forgotten at once.
	errNoTTL = errors.New("replay: ttl must be positive")
	// errNoKeys refuses a delivery with nothing to remember it by,
	// rather than let it through as new.
	errNoKeys = errors.New("replay: a delivery needs a key")
)

// Remember records n.Keys in n.Endpoint's share until now+n.TTL, and reports
// whether the delivery was new: none of its keys was held and within its
// TTL. A replay records nothing, and neither does a delivery refused for a
// full share.
func (m *Memory) Remember(_ context.Context, n authz.Nonces) (bool, error) {
	if n.TTL <= 0 {
		return false, errNoTTL
	}
	if len(n.Keys) == 0 {
		return false, errNoKeys
	}
	now := m.clock.Now().UnixNano()
	for {
		sh := m.share(n.Endpoint, n.Capacity)
		res := sh.remember(n.Keys, tokenTag(n.Token), now, now+int64(n.TTL), n.OnFull == authz.RejectWhenFull)
		if res.retired {
			m.awaitShares() // the share was resized or dropped meanwhile
			continue
		}
		if res.evicted && m.notice != nil {
			sh.noticeEvictions(now, m.notice)
		}
		if res.full > 0 {
			return false, &authz.ShareFullError{Endpoint: n.Endpoint, RetryAfter: time.Duration(res.full)}
		}
		return res.fresh, nil
	}
}

// Forget removes those of n.Keys that n.Endpoint's share still holds under
// n.Token, so the delivery is accepted again. A key remembered since under
// another token, by a later delivery, stays.
func (m *Memory) Forget(_ context.Context, n authz.Nonces) error {
	tag := tokenTag(n.Token)
	for i := range n.Keys {
		m.forget(n.Endpoint, &n.Keys[i], tag)
	}
	return nil
}

// forget removes key from endpoint's share if it is held under tag.
func (m *Memory) forget(endpoint string, key *authz.NonceKey, tag uint64) {
	for {
		sh := (*m.shares.Load())[endpoint]
		if sh == nil {
			return
		}
		h := sh.hash(key)
		s := &sh.shards[h>>sh.shift]
		s.mu.Lock()
		if s.retired {
			s.mu.Unlock()
			m.awaitShares()
			continue
		}
		if slot, pos, ok := s.find(key, h); ok && s.ring[pos].token == tag {
			s.ring[pos].deadline = forgotten
			s.unindex(slot)
		}
		s.mu.Unlock()
		return
	}
}

// tokenTag is the part of a claim's token an entry keeps: 64 of its random
// bits, enough that a forget under another claim's token matches by chance
// too seldom to matter, at 8 bytes a delivery instead of 16.
func tokenTag(t authz.NonceToken) uint64 {
	return binary.LittleEndian.Uint64(t[:8])
}

// awaitShares waits until the change of shares under way, which retired a
// share its caller found, is published.
func (m *Memory) awaitShares() {
	m.mu.Lock()
	m.mu.Unlock()
}

// Retain drops the shares of the endpoints keep refuses, with their
// deliveries: for endpoints a policy reload removed. An endpoint that comes
// back starts with an empty share, as a renamed one does.
func (m *Memory) Retain(keep func(endpoint string) bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := *m.shares.Load()
	next := make(map[string]*share, len(cur))
	for name, sh := range cur {
		if keep(name) {
			next[name] = sh
			continue
		}
		sh.lockAll()
		sh.retire()
		sh.unlockAll()
	}
	m.shares.Store(&next)
}

// Len returns the number of deliveries held, including expired and
// forgotten ones whose room is not reused yet.
func (m *Memory) Len() int {
	n := 0
	for _, st := range m.Shares() {
		n += st.Entries
	}
	return n
}

// ShareStats describes one endpoint's share.
type ShareStats struct {
	// Endpoint names the endpoint.
	Endpoint string
	// Capacity is the most deliveries the share holds.
	Capacity int
	// Entries is the number of deliveries held, including expired and
	// forgotten ones whose room is not reused yet.
	Entries int
	// EvictedEarly counts the deliveries evicted before their TTL to make
	// room, each of which a replay would have passed.
	EvictedEarly uint64
}

// Shares describes every endpoint's share, sorted by endpoint name. A
// share exists from the endpoint's first delivery until Retain drops it.
func (m *Memory) Shares() []ShareStats {
	cur := *m.shares.Load()
	out := make([]ShareStats, 0, len(cur))
	for name, sh := range cur {
		st := ShareStats{Endpoint: name, Capacity: sh.capacity, EvictedEarly: sh.evictedEarly()}
		for i := range sh.shards {
			s := &sh.shards[i]
			s.mu.Lock()
			st.Entries += s.n
			s.mu.Unlock()
		}
		out = append(out, st)
	}
	slices.SortFunc(out, func(a, b ShareStats) int { return strings.Compare(a.Endpoint, b.Endpoint) })
	return out
}

// EvictedEarly returns how many deliveries of every endpoint were evicted
// before their TTL.
func (m *Memory) EvictedEarly() uint64 {
	var n uint64
	for _, sh := range *m.shares.Load() {
		n += sh.evictedEarly()
	}
	return n
}

// share returns endpoint's share, sized for capacity (0: the store's
// capacity; never more). The first delivery of an endpoint creates its
// share; a delivery asking for another capacity, after a policy reload,
// replaces it with one of that size holding the same deliveries.
func (m *Memory) share(endpoint string, capacity int) *share {
	if capacity <= 0 || capacity > m.capacity {
		capacity = m.capacity
	}
	if sh := (*m.shares.Load())[endpoint]; sh != nil && sh.capacity == capacity {
		return sh
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := *m.shares.Load()
	old := cur[endpoint]
	if old != nil && old.capacity == capacity {
		return old
	}
	sh := newShare(endpoint, capacity, m.seed)
	if old != nil {
		old.moveTo(sh, m.clock.Now().UnixNano())
	}
	next := maps.Clone(cur)
	next[endpoint] = sh
	m.shares.Store(&next)
	return sh
}

const (
	// maxShards bounds the shards of a share: enough that checks on as
	// many cores seldom meet on one lock.
	maxShards = 64
	// minShardCapacity is the least a shard holds when a share has more
	// than one: a share is split only when the split costs little
	// accuracy, since each shard fills on its own.
	minShardCapacity = 1024
	// minRing is the first size of a ring, which doubles from there.
	minRing = 64
	// expiredPerAdd bounds the expired deliveries dropped from the head of
	// a ring beyond those that make room, per delivery added, so that no
	// single check pays for a long quiet spell.
	expiredPerAdd = 4
	// forgotten is the deadline of a delivery Forget removed, or that was
	// remembered again after it expired: out of the index, waiting in its
	// ring to be dropped.
	forgotten = 0
)

// share is one endpoint's part of the store.
type share struct {
	endpoint string
	capacity int
	shift    uint // 64 minus log2(len(shards)): a key's shard is hash >> shift
	seed     maphash.Seed
	shards   []shard
	// carried counts the early evictions of the shares this one replaced.
	carried    uint64
	lastNotice atomic.Int64 // UnixNano of the last EvictedEarly call
}

// newShare returns an empty share of capacity for endpoint, split into as
// many shards as it can afford.
func newShare(endpoint string, capacity int, seed maphash.Seed) *share {
	n := 1
	for n < maxShards && capacity/(2*n) >= minShardCapacity {
		n *= 2
	}
	sh := &share{endpoint: endpoint, capacity: capacity, shift: 64, seed: seed, shards: make([]shard, n)}
	for n > 1 {
		sh.shift--
		n /= 2
	}
	for i := range sh.shards {
		s := &sh.shards[i]
		s.seed = seed
		s.limit = capacity / len(sh.shards)
		if i < capacity%len(sh.shards) {
			s.limit++
		}
	}
	return sh
}

// hash is the hash of k that picks its shard (high bits) and its index
// slot (low bits). It is keyed per store, so that nobody can choose
// deliveries whose keys crowd one shard or one run of slots.
func (sh *share) hash(k *authz.NonceKey) uint64 { return maphash.Bytes(sh.seed, k[:]) }

func (sh *share) evictedEarly() uint64 {
	n := sh.carried
	for i := range sh.shards {
		n += sh.shards[i].early.Load()
	}
	return n
}

// noticeEvictions calls notice unless it was called for this share less
// than NoticeInterval ago.
func (sh *share) noticeEvictions(now int64, notice func(string, uint64)) {
	last := sh.lastNotice.Load()
	if last != 0 && now-last < int64(NoticeInterval) {
		return
	}
	if sh.lastNotice.CompareAndSwap(last, now) {
		notice(sh.endpoint, sh.evictedEarly())
	}
}

// rememberResult is what share.remember found.
type rememberResult struct {
	fresh   bool
	evicted bool  // a delivery was evicted early
	full    int64 // when refused for a full shard: nanoseconds until room
	retired bool  // the share was replaced: start over
}

// remember is Memory.Remember on one share, at now, until deadline.
func (sh *share) remember(keys []authz.NonceKey, tag uint64, now, deadline int64, reject bool) (res rememberResult) {
	if len(keys) == 1 {
		k := &keys[0]
		h := sh.hash(k)
		s := &sh.shards[h>>sh.shift]
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.retired {
			return rememberResult{retired: true}
		}
		if slot, pos, ok := s.find(k, h); ok {
			if s.ring[pos].deadline > now {
				return res
			}
			// Held but expired, behind a head that has not: its room
			// comes back when the head reaches it.
			s.ring[pos].deadline = forgotten
			s.unindex(slot)
		}
		wait, evicted := s.room(1, now, reject)
		if wait > 0 {
			return rememberResult{full: wait}
		}
		s.add(k, h, tag, deadline)
		return rememberResult{fresh: true, evicted: evicted}
	}
	return sh.rememberSeveral(keys, tag, now, deadline, reject)
}

// rememberSeveral is remember for a delivery with several keys, which may
// fall in several shards: they are locked in order, so two such deliveries
// never wait for each other in a cycle, and checked and recorded as one
// step.
func (sh *share) rememberSeveral(keys []authz.NonceKey, tag uint64, now, deadline int64, reject bool) (res rememberResult) {
	hashes := make([]uint64, len(keys))
	var order []int // shard indexes, ascending, each once
	for i := range keys {
		hashes[i] = sh.hash(&keys[i])
		si := int(hashes[i] >> sh.shift)
		if j, found := slices.BinarySearch(order, si); !found {
			order = slices.Insert(order, j, si)
		}
	}
	for _, si := range order {
		sh.shards[si].mu.Lock()
	}
	defer func() {
		for _, si := range order {
			sh.shards[si].mu.Unlock()
		}
	}()
	if sh.shards[order[0]].retired {
		return rememberResult{retired: true}
	}
	for i := range keys {
		s := &sh.shards[hashes[i]>>sh.shift]
		if _, pos, ok := s.find(&keys[i], hashes[i]); ok && s.ring[pos].deadline > now {
			return res
		}
	}
	// Room for every key first, so that a refusal records nothing.
	need := make([]int, len(order))
	for i := range keys {
		j, _ := slices.BinarySearch(order, int(hashes[i]>>sh.shift))
		need[j]++
	}
	for j, si := range order {
		if need[j] > sh.shards[si].limit {
			return rememberResult{full: int64(time.Second)}
		}
	}
	for j, si := range order {
		wait, evicted := sh.shards[si].room(need[j], now, reject)
		if wait > 0 {
			return rememberResult{full: wait}
		}
		res.evicted = res.evicted || evicted
	}
	for i := range keys {
		k, h := &keys[i], hashes[i]
		s := &sh.shards[h>>sh.shift]
		if slot, pos, ok := s.find(k, h); ok {
			if s.ring[pos].deadline > now {
				continue // the same key twice in one delivery
			}
			s.ring[pos].deadline = forgotten
			s.unindex(slot)
		}
		s.add(k, h, tag, deadline)
	}
	res.fresh = true
	return res
}

// moveTo moves sh's deliveries still within their TTL at now to next,
// oldest first, so that a smaller share keeps the newest, and retires sh.
func (sh *share) moveTo(next *share, now int64) {
	sh.lockAll()
	defer sh.unlockAll()
	var live []entry
	for i := range sh.shards {
		s := &sh.shards[i]
		for j := range s.n {
			if e := s.ring[(s.head+j)%len(s.ring)]; e.deadline > now {
				live = append(live, e)
			}
		}
	}
	sort.SliceStable(live, func(i, j int) bool { return live[i].deadline < live[j].deadline })
	for i := range live {
		e := &live[i]
		h := next.hash(&e.key)
		s := &next.shards[h>>next.shift]
		s.room(1, now, false)
		s.add(&e.key, h, e.token, e.deadline)
	}
	next.carried = sh.evictedEarly()
	next.lastNotice.Store(sh.lastNotice.Load())
	sh.retire()
}

func (sh *share) lockAll() {
	for i := range sh.shards {
		sh.shards[i].mu.Lock()
	}
}

func (sh *share) unlockAll() {
	for i := range sh.shards {
		sh.shards[i].mu.Unlock()
	}
}

// retire marks every shard retired and frees its memory; the caller holds
// every lock.
func (sh *share) retire() {
	for i := range sh.shards {
		s := &sh.shards[i]
		s.retired = true
		s.ring, s.index, s.head, s.n = nil, nil, 0, 0
	}
}

// entry is one remembered key. It holds no pointer.
type entry struct {
	key      authz.NonceKey
	deadline int64  // UnixNano; forgotten when no longer indexed
	token    uint64 // tokenTag of the claim that remembered it
}

// shard is a FIFO ring of entries, oldest at head, and an index over it.
// Every field but early is guarded by mu.
type shard struct {
	mu      sync.Mutex
	retired bool
	limit   int     // most entries held
	ring    []entry // grows, doubling, up to limit
	head, n int
	// index maps keys to ring positions by open addressing with linear
	// probing: each slot is the key's hash, low 32 bits, above its ring
	// position plus one; 0 is an empty slot. At most half full.
	index []uint64
	mask  uint64
	seed  maphash.Seed  // the share's
	early atomic.Uint64 // deliveries evicted before their deadline
	_     [64]byte      // keeps neighbouring shards' locks off one cache line
}

// find looks key up. When held, slot is its index slot and pos its ring
// position; else slot is where it would go.
func (s *shard) find(k *authz.NonceKey, h uint64) (slot uint64, pos int, ok bool) {
	if s.index == nil {
		return 0, 0, false
	}
	tag := uint64(uint32(h))
	for i := tag & s.mask; ; i = (i + 1) & s.mask {
		v := s.index[i]
		if v == 0 {
			return i, 0, false
		}
		if v>>32 == tag {
			if p := int(uint32(v)) - 1; s.ring[p].key == *k {
				return i, p, true
			}
		}
	}
}

// unindex empties slot, shifting back the entries after it that probing
// would no longer reach (no tombstones, so lookups stay short).
func (s *shard) unindex(slot uint64) {
	i := slot
	for j := (i + 1) & s.mask; s.index[j] != 0; j = (j + 1) & s.mask {
		home := (s.index[j] >> 32) & s.mask
		// The entry at j may move to i unless its home lies cyclically
		// in (i, j].
		if (j > i && (home <= i || home > j)) || (j < i && home <= i && home > j) {
			s.index[i] = s.index[j]
			i = j
		}
	}
	s.index[i] = 0
}

// room makes room for need more entries, dropping expired ones from the
// head, and, when the ring is full of live ones, evicting the oldest unless
// reject is set. It returns wait 0 when there is room, else how long until
// enough of the oldest expire (at least 1ns; a second when need is more
// than the shard ever holds, whatever reject says), and whether a live
// entry was evicted.
func (s *shard) room(need int, now int64, reject bool) (wait int64, evicted bool) {
	if need > s.limit {
		return int64(time.Second), false
	}
	for extra := 0; s.n > 0 && s.ring[s.head].deadline <= now; extra++ {
		if s.n+need <= s.limit && extra >= expiredPerAdd {
			break
		}
		s.pop()
	}
	over := s.n + need - s.limit
	if over <= 0 {
		return 0, false
	}
	if reject {
		return max(s.ring[(s.head+over-1)%len(s.ring)].deadline-now, 1), false
	}
	for ; over > 0; over-- {
		if s.pop().deadline > now {
			s.early.Add(1)
			evicted = true
		}
	}
	return 0, evicted
}

// add appends key, held under token tag until deadline, at the tail; room
// made space for it.
func (s *shard) add(k *authz.NonceKey, h, tag uint64, deadline int64) {
	if s.n == len(s.ring) {
		s.grow()
	}
	pos := (s.head + s.n) % len(s.ring)
	s.ring[pos] = entry{key: *k, deadline: deadline, token: tag}
	s.n++
	slot, _, _ := s.find(k, h)
	s.index[slot] = uint64(uint32(h))<<32 | uint64(pos+1)
}

// pop drops the oldest entry and returns it.
func (s *shard) pop() entry {
	e := s.ring[s.head]
	if e.deadline != forgotten {
		h := maphash.Bytes(s.seed, e.key[:])
		for i := uint64(uint32(h)) & s.mask; ; i = (i + 1) & s.mask {
			if int(uint32(s.index[i]))-1 == s.head {
				s.unindex(i)
				break
			}
		}
	}
	s.head++
	if s.head == len(s.ring) {
		s.head = 0
	}
	s.n--
	return e
}

// grow doubles the ring, up to limit, and rebuilds the index for it. Each
// entry is copied a few times over the ring's life, and only while the
// endpoint's traffic grows into its share.
func (s *shard) grow() {
	size := min(max(2*len(s.ring), minRing), s.limit)
	ring := make([]entry, size)
	for j := range s.n {
		ring[j] = s.ring[(s.head+j)%len(s.ring)]
	}
	s.ring, s.head = ring, 0
	slots := 1
	for slots < 2*size {
		slots *= 2
	}
	s.index, s.mask = make([]uint64, slots), uint64(slots-1)
	for j := range s.n {
		if e := &ring[j]; e.deadline != forgotten {
			h := maphash.Bytes(s.seed, e.key[:])
			slot, _, _ := s.find(&e.key, h)
			s.index[slot] = uint64(uint32(h))<<32 | uint64(j+1)
		}
	}
}

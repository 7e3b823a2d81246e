package replay

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/hookguard/hookguard/authz"
)

// BenchmarkMemoryRemember measures remembering distinct deliveries in a full
// store, where every insert also evicts.
func BenchmarkMemoryRemember(b *testing.B) {
	m := NewMemory(MemoryConfig{Capacity: 1 << 16})
	ctx := context.Background()
	var keys [1 << 12]authz.NonceKey
	for i := range keys {
		binary.LittleEndian.PutUint64(keys[i][:], uint64(i))
	}
	c := &authz.NonceClaim{Endpoint: "ep", Keys: make([]authz.NonceKey, 1), TTL: time.Minute}
	b.ReportAllocs()
	i := uint64(0)
	for b.Loop() {
		k := keys[i%uint64(len(keys))]
		binary.LittleEndian.PutUint64(k[8:], i)
		c.Keys[0] = k
		m.Remember(ctx, c)
		i++
	}
}

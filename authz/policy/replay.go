package policy

import (
	"cmp"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"time"
)

// replayShares gives every endpoint with replay protection its share of
// the replay store's capacity, so that one endpoint's traffic never evicts
// another's deliveries. Endpoints that set replay.capacity get it, and
// together may not ask for more than capacity. What they leave is split
// between the others in proportion to their TTLs: a share holds rate × TTL
// deliveries, so each default share then sustains the same delivery rate,
// whatever its TTL, and a 24h endpoint is not starved by ten 10m ones.
func (c *compiler) replayShares(capacity int) {
	type claim struct {
		p        pendingStages
		explicit bool
	}
	var claims []claim
	explicit := 0
	for _, p := range c.pending {
		if p.endpoint.ReplayTTL <= 0 {
			continue
		}
		own := p.endpoint.ReplayCapacity > 0
		if own {
			explicit += p.endpoint.ReplayCapacity
		}
		claims = append(claims, claim{p, own})
	}
	report := func(p pendingStages, msg string) {
		c.errs = append(c.errs, &Diagnostic{File: p.file, Endpoint: p.label, Field: "replay.capacity", Message: msg})
	}
	if explicit > capacity {
		var own []pendingStages
		for _, cl := range claims {
			if cl.explicit {
				own = append(own, cl.p)
			}
		}
		// Reported once, on the largest share, the likeliest to cut.
		slices.SortStableFunc(own, func(a, b pendingStages) int {
			return cmp.Compare(b.endpoint.ReplayCapacity, a.endpoint.ReplayCapacity)
		})
		names := make([]string, len(own))
		for i, p := range own {
			names[i] = fmt.Sprintf("%s %d", p.label, p.endpoint.ReplayCapacity)
		}
		report(own[0], fmt.Sprintf("the endpoints' own replay shares add up to %d, more than the replay store's capacity of %d (hookguard serve --nonce-capacity): %s; lower them or raise --nonce-capacity",
			explicit, capacity, strings.Join(names, ", ")))
		return
	}
	rest := int64(capacity - explicit)
	var weights int64
	for _, cl := range claims {
		if !cl.explicit {
			weights += ttlWeight(cl.p.endpoint.ReplayTTL)
		}
	}
	for _, cl := range claims {
		if cl.explicit {
			continue
		}
		e := cl.p.endpoint
		// rest × weight / weights, in 128 bits: never more than rest.
		hi, lo := bits.Mul64(uint64(rest), uint64(ttlWeight(e.ReplayTTL)))
		share, _ := bits.Div64(hi, lo, uint64(weights))
		e.ReplayCapacity = int(share)
		if e.ReplayCapacity == 0 {
			report(cl.p, fmt.Sprintf("no room left for this endpoint's replay share: the other endpoints' own shares take %d of the replay store's %d (hookguard serve --nonce-capacity); set replay.capacity here and lower theirs, or raise --nonce-capacity",
				explicit, capacity))
		}
	}
}

// ttlWeight is a TTL in milliseconds, at least 1: what a default replay
// share is proportional to.
func ttlWeight(ttl time.Duration) int64 {
	return max(ttl.Milliseconds(), 1)
}

package authz

import (
	"net/netip"

	"go4.org/netipx"
)

// SourcePolicy restricts the source address. Its sets are compiled prefix
// structures (sorted ranges searched in O(log n)), so a list of thousands of
// CIDRs costs no more per request than a handful.
type SourcePolicy struct {
	// Allow, when non-nil, is the set of allowed addresses.
	Allow *netipx.IPSet
	// Deny, when non-nil, is the set of denied addresses; it wins over
	// Allow.
	Deny *netipx.IPSet
}

// check returns nil when addr may send. A request without a usable source
// address fails every rule: an unknown source is not an allowed one.
func (s *SourcePolicy) check(addr netip.Addr) error {
	addr = addr.Unmap()
	if !addr.IsValid() {
		return SourceNotAllowed
	}
	if s.Deny != nil && s.Deny.Contains(addr) {
		return SourceNotAllowed
	}
	if s.Allow != nil && !s.Allow.Contains(addr) {
		return SourceNotAllowed
	}
	return nil
}

package verify

import (
	"time"

	"github.com/hookguard/hookguard/authz"
)

// Timestamped is implemented by the verifiers of schemes that sign a
// timestamp and refuse one too far from now: the schemes registered with
// [Scheme.Timestamped] set. Replay protection forgets a delivery after the
// endpoint's replay TTL; if the TTL is shorter than Tolerance, a captured
// delivery sent again in between is accepted as new, since its timestamp is
// still fresh. The policy compiler warns about it.
type Timestamped interface {
	authz.Verifier
	// Tolerance returns how far from now, in either direction, a signed
	// timestamp may be; zero when this verifier checks none.
	Tolerance() time.Duration
}

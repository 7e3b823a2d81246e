package policy

import (
	"fmt"
	"strings"

	"github.com/hookguard/hookguard/authz"
)

// warnOverlaps warns about every endpoint that a request for a stricter
// endpoint can fall to: it comes later in matching order (order is the
// policy's, most specific first), its hosts overlap the stricter one's and
// its paths cover the stricter one's, and it is weaker in some way that
// matters to an attacker. A request that misses the stricter endpoint
// (another host, a path the router rewrote) then meets only the weaker
// checks; hookguard refuses the spellings it knows of, but the operator
// should know the fallback exists.
func (c *compiler) warnOverlaps(order []*authz.Endpoint) {
	for i, strict := range order {
		if reachableByNameOnly(strict) {
			continue
		}
		for _, broad := range order[i+1:] {
			if reachableByNameOnly(broad) || !hostsOverlap(broad.Match.Hosts, strict.Match.Hosts) ||
				!pathsCover(broad.Match, strict.Match) {
				continue
			}
			why := weaker(broad, strict)
			if len(why) == 0 {
				continue
			}
			c.warnings = append(c.warnings, &Diagnostic{
				File: c.seen[broad.Name], Endpoint: broad.Name, Field: "match",
				Message: fmt.Sprintf("overlaps stricter endpoint %q (%s): its hosts and paths cover %q's, so a request meant for %q that misses it (another spelling of host or path) is checked here instead, and this endpoint is weaker: %s",
					strict.Name, c.seen[strict.Name], strict.Name, strict.Name, strings.Join(why, "; ")),
			})
		}
	}
}

// reachableByNameOnly reports whether e has no match at all, so only an
// Envoy route naming it reaches it (see authz.Policy's matching).
func reachableByNameOnly(e *authz.Endpoint) bool {
	m := e.Match
	return len(m.Hosts) == 0 && m.Path == "" && m.PathPrefix == ""
}

// weaker lists how broad is weaker than strict.
func weaker(broad, strict *authz.Endpoint) []string {
	var why []string
	if broad.DryRun && !strict.DryRun {
		why = append(why, "mode DRY_RUN lets every request through")
	}
	if b, s := scheme(broad), scheme(strict); b == "token" && s != "token" {
		why = append(why, fmt.Sprintf("scheme token (a shared secret sent with every request) where %q checks a %s signature", strict.Name, s))
	}
	if broad.ReplayTTL == 0 && strict.ReplayTTL > 0 {
		why = append(why, "no replay protection")
	}
	if broad.Source == nil && strict.Source != nil {
		why = append(why, "no source restriction")
	}
	if broad.Identity == nil && strict.Identity != nil {
		why = append(why, "no client_identity restriction")
	}
	return why
}

func scheme(e *authz.Endpoint) string {
	if e.Verifier == nil {
		return ""
	}
	return e.Verifier.Scheme()
}

// hostsOverlap reports whether some host matches both lists (lower case;
// exact names or "*." wildcards; empty matches every host).
func hostsOverlap(a, b []string) bool {
	if len(a) == 0 || len(b) == 0 {
		return true
	}
	for _, x := range a {
		for _, y := range b {
			if hostPatternsOverlap(x, y) {
				return true
			}
		}
	}
	return false
}

func hostPatternsOverlap(x, y string) bool {
	xs, xWild := strings.CutPrefix(x, "*")
	ys, yWild := strings.CutPrefix(y, "*")
	switch {
	case !xWild && !yWild:
		return x == y
	case xWild && !yWild:
		return len(y) > len(xs) && strings.HasSuffix(y, xs)
	case !xWild && yWild:
		return len(x) > len(ys) && strings.HasSuffix(x, ys)
	default:
		// "*.a.example" and "*.example" share every name under a.example.
		return strings.HasSuffix(xs, ys) || strings.HasSuffix(ys, xs)
	}
}

// pathsCover reports whether broad's match takes every path strict's
// takes.
func pathsCover(broad, strict authz.Match) bool {
	switch {
	case broad.Path == "" && broad.PathPrefix == "":
		return true
	case broad.Path != "":
		return strict.Path == broad.Path
	case strict.Path != "":
		return segmentPrefix(strict.Path, broad.PathPrefix)
	case strict.PathPrefix != "":
		return segmentPrefix(strict.PathPrefix, broad.PathPrefix)
	default:
		return false // strict takes every path, broad only some
	}
}

// segmentPrefix reports whether prefix is a whole-segment prefix of path,
// as authz matches path_prefix.
func segmentPrefix(path, prefix string) bool {
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || strings.HasSuffix(prefix, "/") || path[len(prefix)] == '/'
}

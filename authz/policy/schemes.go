package policy

import (
	"errors"
	"fmt"
	"time"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/verify"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

// compileVerifier builds the verifier the policy names, through the scheme
// registry of package verify. replayable reports whether the scheme yields
// a replay key, and so whether replay protection applies.
func (c *compiler) compileVerifier(file string, v *policyv1.Verify, fail func(code Code, field, msg string), warn func(field, msg string)) (_ authz.Verifier, replayable bool) {
	env := &schemeEnv{c: c, file: file}
	vf, scheme, err := verify.New(v, env)
	if scheme.Name == "" {
		fail(CodePolicy, "verify", err.Error())
		return nil, false
	}
	field := "verify." + scheme.Name
	for _, w := range env.warnings {
		warn(joinPath(field, w.field), w.msg)
	}
	if err != nil {
		reportFieldErrors(field, err, fail)
		return nil, scheme.Replayable
	}
	return vf, scheme.Replayable
}

// reportFieldErrors reports err, from building the verifier of the scheme
// under field, on the fields its *verify.FieldError values name, with the
// code that says whether a secret is at fault; several errors are joined.
func reportFieldErrors(field string, err error, fail func(code Code, field, msg string)) {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			reportFieldErrors(field, e, fail)
		}
		return
	}
	msg := err.Error()
	var fe *verify.FieldError
	if errors.As(err, &fe) {
		field, msg = joinPath(field, fe.Field), fe.Err.Error()
	}
	var u unresolvedSecret
	switch {
	case errors.Is(err, verify.ErrSecretValue):
		fail(CodeSecretValue, field, msg)
	case errors.As(err, &u):
		fail(CodeSecretUnresolved, field, msg)
	default:
		fail(CodePolicy, field, msg)
	}
}

// schemeEnv is the verify.Env of one endpoint's scheme: secrets resolve
// through the compiler's SecretSource, relative to the policy file, and
// warnings wait until the scheme, and so their field, is known.
type schemeEnv struct {
	c        *compiler
	file     string
	warnings []schemeWarning
}

// schemeWarning is a warning of a scheme's constructor.
type schemeWarning struct{ field, msg string }

// Secrets resolves a list of references.
func (e *schemeEnv) Secrets(field string, refs []*policyv1.SecretRef) ([]authz.Secret, error) {
	return e.c.resolveSecrets(e.file, field, refs)
}

// Secret resolves one reference.
func (e *schemeEnv) Secret(field string, ref *policyv1.SecretRef) (authz.Secret, error) {
	return e.c.resolveSecret(e.file, field, ref)
}

// Warn keeps a warning for compileVerifier to report.
func (e *schemeEnv) Warn(field, msg string) {
	e.warnings = append(e.warnings, schemeWarning{field, msg})
}

// replayWindow is the shortest replay TTL that covers a delivery for as long
// as its timestamp is accepted: a sender whose clock runs ahead may sign a
// timestamp up to the tolerance in the future, which then stays acceptable
// until the tolerance has passed after it, twice the tolerance from when the
// delivery was first accepted. Zero for schemes without a timestamp.
func replayWindow(v authz.Verifier) time.Duration {
	if ts, ok := v.(verify.Timestamped); ok {
		return 2 * ts.Tolerance()
	}
	return 0
}

// defaultReplayTTL is the replay TTL of an endpoint whose policy sets none:
// long enough for the scheme's timestamp window, and never shorter than
// DefaultReplayTTL; the longest there is, authz.MaxReplayTTL, for a scheme
// that signs no timestamp, since nothing else ever refuses a copy of its
// deliveries.
func defaultReplayTTL(v authz.Verifier) time.Duration {
	if v != nil && replayWindow(v) == 0 {
		return authz.MaxReplayTTL
	}
	return max(DefaultReplayTTL, min(replayWindow(v), authz.MaxReplayTTL))
}

// warnReplayWindow warns when an endpoint's replay TTL is shorter than its
// replay window: once the replay store has forgotten a delivery, a captured
// copy sent again would be let through while its timestamp is still
// accepted. For a scheme that signs no timestamp, that is forever: it warns
// about any TTL shorter than the longest.
func warnReplayWindow(v authz.Verifier, ttl time.Duration, warn func(field, msg string)) {
	if v == nil {
		return // the scheme did not build, which is reported already
	}
	window := replayWindow(v)
	if window == 0 {
		if ttl < authz.MaxReplayTTL {
			warn("replay.ttl", fmt.Sprintf("%s signs no timestamp, so its deliveries never go stale: a captured delivery sent again after the ttl of %s is let through; the default for such schemes is the longest ttl, %s",
				v.Scheme(), ttl, authz.MaxReplayTTL))
		}
		return
	}
	if ttl >= window {
		return
	}
	tol := window / 2
	warn("replay.ttl", fmt.Sprintf("%s is shorter than twice the %s timestamp tolerance of %s: a captured delivery sent again after the TTL is let through while its timestamp is still accepted; set replay.ttl to at least %s",
		ttl, tol, v.Scheme(), window))
}

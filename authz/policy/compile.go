package policy

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/verify"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

// DefaultReplayTTL is how long a delivery is remembered when the policy does
// not say, for a scheme that signs a timestamp: the timestamp check refuses
// a copy once its tolerance has passed, so the replay store need not
// outlast it by much. A scheme that signs no timestamp is remembered for
// authz.MaxReplayTTL instead.
const DefaultReplayTTL = 10 * time.Minute

var (
	endpointName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
	headerName   = regexp.MustCompile("^[a-z0-9!#$%&'*+.^_`|~-]+$")
	hostName     = regexp.MustCompile(`^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$`)
)

// compileEndpoint validates ep and builds its authz.Endpoint. Every problem
// goes to report (errors) or warn; ok is false when any error was reported.
func (c *compiler) compileEndpoint(file string, ep *policyv1.Endpoint, report func(code Code, field, msg string), warn func(field, msg string)) (e *authz.Endpoint, ok bool) {
	errs := 0
	failCode := func(code Code, field, msg string) { errs++; report(code, field, msg) }
	fail := func(field, msg string) { failCode(CodePolicy, field, msg) }

	e = &authz.Endpoint{
		Name:       ep.GetName(),
		DryRun:     ep.GetMode() == policyv1.Endpoint_DRY_RUN,
		Handshakes: !ep.GetHandshake().GetDisabled(),
		// Only meaningful with --state redis; see the field's comment.
		StateFallback: ep.GetStateFallback() == policyv1.Endpoint_STATE_FALLBACK_LOCAL,
	}
	switch {
	case e.Name == "":
		fail("name", "required")
	case !endpointName.MatchString(e.Name):
		fail("name", "must match [a-z0-9][a-z0-9._-]* (at most 63 characters)")
	default:
		if other, dup := c.seen[e.Name]; dup {
			fail("name", "duplicate endpoint name, also defined in "+other)
		} else {
			c.seen[e.Name] = file
		}
	}
	if e.DryRun {
		warn("mode", "DRY_RUN: every request is allowed, failures are only logged")
	}

	e.Match = compileMatch(ep.GetMatch(), fail)

	replayable := false
	if ep.GetVerify().GetScheme() == nil {
		fail("verify", "required: name one signature scheme")
	} else {
		e.Verifier, replayable = c.compileVerifier(file, ep.GetVerify(), failCode, warn)
	}

	compileReplay(e, ep.GetReplay(), replayable, fail, warn)
	e.SetHeaders, e.RemoveHeaders = compileOnAllow(ep.GetOnAllow(), fail)
	return e, errs == 0
}

func compileMatch(m *policyv1.Match, fail func(field, msg string)) authz.Match {
	var out authz.Match
	if m == nil {
		return out
	}
	for i, h := range m.GetHosts() {
		h = strings.ToLower(h)
		if !hostName.MatchString(h) {
			fail(fmt.Sprintf("match.hosts[%d]", i), "must be a host name without port, optionally starting with \"*.\"")
			continue
		}
		out.Hosts = append(out.Hosts, h)
	}
	switch p := m.GetPathMatch().(type) {
	case *policyv1.Match_Path:
		out.Path = p.Path
		if !validPath(p.Path) {
			fail("match.path", "must start with / and hold no query string")
		}
	case *policyv1.Match_PathPrefix:
		out.PathPrefix = p.PathPrefix
		if !validPath(p.PathPrefix) {
			fail("match.path_prefix", "must start with / and hold no query string")
		}
	}
	out.PathParameters = m.GetPathParameters()
	for _, meth := range m.GetMethods() {
		// The enum's value names are the methods' names.
		if name := meth.String(); !slices.Contains(out.Methods, name) {
			out.Methods = append(out.Methods, name)
		}
	}
	return out
}

func validPath(p string) bool {
	return strings.HasPrefix(p, "/") && !strings.ContainsAny(p, "?# ")
}

// compileReplay sets e's replay TTL and what a full share does, and its
// capacity when the policy sets one; replayShares gives the others theirs
// once every endpoint is known.
func compileReplay(e *authz.Endpoint, r *policyv1.Replay, replayable bool, fail, warn func(field, msg string)) {
	v := e.Verifier
	if r.GetDisabled() {
		for _, f := range []struct {
			field string
			set   bool
		}{{"replay.ttl", r.GetTtl() != ""}, {"replay.capacity", r.GetCapacity() != 0}, {"replay.on_full", r.GetOnFull() != 0}} {
			if f.set {
				fail(f.field, "set with replay.disabled: remove one")
			}
		}
		warn("replay", "replay protection disabled: a captured delivery can be sent again")
		return
	}
	ttl := defaultReplayTTL(v)
	if s := r.GetTtl(); s != "" {
		d, err := time.ParseDuration(s)
		switch {
		case err != nil:
			fail("replay.ttl", fmt.Sprintf("invalid duration %q (use e.g. 10m, 1h)", s))
			return
		case d <= 0 || d > authz.MaxReplayTTL:
			fail("replay.ttl", "must be more than 0 and at most "+authz.MaxReplayTTL.String())
			return
		}
		ttl = d
	}
	if !replayable {
		if v != nil {
			warn("verify."+v.Scheme(), "scheme "+v.Scheme()+" signs nothing that tells deliveries apart: no replay protection")
		}
		return
	}
	warnReplayWindow(v, ttl, warn)
	e.ReplayTTL = ttl
	e.ReplayCapacity = int(r.GetCapacity())
	if r.GetOnFull() == policyv1.Replay_REJECT {
		e.ReplayOnFull = authz.RejectWhenFull
	}
}

func compileOnAllow(o *policyv1.OnAllow, fail func(field, msg string)) (set []authz.HeaderValue, remove []string) {
	for _, name := range sortedKeys(o.GetSetHeaders()) {
		field := "on_allow.set_headers." + name
		if msg := checkHeaderName(name); msg != "" {
			fail(field, msg)
			continue
		}
		set = append(set, authz.HeaderValue{Name: name, Value: o.GetSetHeaders()[name]})
	}
	for i, name := range o.GetRemoveHeaders() {
		field := fmt.Sprintf("on_allow.remove_headers[%d]", i)
		name = strings.ToLower(name)
		if msg := checkHeaderName(name); msg != "" {
			fail(field, msg)
			continue
		}
		if _, both := o.GetSetHeaders()[name]; both {
			fail(field, "also in set_headers")
			continue
		}
		remove = append(remove, name)
	}
	return set, remove
}

// checkHeaderName returns why name cannot be set or removed, or "".
func checkHeaderName(name string) string {
	switch {
	case !headerName.MatchString(name):
		return "must be a lower-case header name"
	case strings.HasPrefix(name, authz.HeaderPrefix):
		return authz.HeaderPrefix + "* headers are reserved for hookguard"
	case name == "host" || strings.HasPrefix(name, "x-envoy-"):
		return "Envoy does not let ext_authz change this header"
	}
	return ""
}

// resolveSecrets reads every reference of the list named field. It returns
// the secrets it could read, and the problems as *verify.FieldError values,
// joined, each naming its field.
func (c *compiler) resolveSecrets(file, field string, refs []*policyv1.SecretRef) ([]authz.Secret, error) {
	if len(refs) == 0 {
		return nil, &verify.FieldError{Field: field, Err: errors.New("at least one secret is required")}
	}
	var out []authz.Secret
	var errs []error
	for i, ref := range refs {
		s, err := c.resolveSecret(file, fmt.Sprintf("%s[%d]", field, i), ref)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, s)
	}
	return out, errors.Join(errs...)
}

// resolveSecret reads the reference named field, and returns its problem
// as a *verify.FieldError.
func (c *compiler) resolveSecret(file, field string, ref *policyv1.SecretRef) (authz.Secret, error) {
	var val []byte
	switch src := ref.GetSource().(type) {
	case *policyv1.SecretRef_Env:
		v, ok := c.secrets.LookupEnv(src.Env)
		if !ok {
			return nil, &verify.FieldError{Field: field + ".env", Err: unresolved(fmt.Sprintf("environment variable %s is not set", src.Env))}
		}
		val = []byte(v)
	case *policyv1.SecretRef_File:
		path := resolvePath(file, src.File)
		b, err := c.secrets.ReadFile(path)
		if err != nil {
			return nil, &verify.FieldError{Field: field + ".file", Err: unresolved(fmt.Sprintf("cannot read secret file %s: %v", path, errorWithoutPath(err)))}
		}
		val = FileSecret(b)
	default:
		return nil, &verify.FieldError{Field: field, Err: errors.New("set env or file")}
	}
	if len(val) == 0 {
		return nil, &verify.FieldError{Field: field, Err: unresolved("secret is empty")}
	}
	return authz.Secret(val), nil
}

// unresolvedSecret is the problem of a secret reference that does not
// resolve, reported with CodeSecretUnresolved.
type unresolvedSecret string

func (e unresolvedSecret) Error() string { return string(e) }

// unresolved returns an unresolvedSecret saying msg.
func unresolved(msg string) error { return unresolvedSecret(msg) }

// errorWithoutPath drops the path an *fs.PathError repeats.
func errorWithoutPath(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		return msg[i+2:]
	}
	return msg
}

package verify

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hookguard/hookguard/authz"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

// A Scheme describes one signature scheme to the rest of hookguard: how its
// verifiers are built from a policy, how its provider signs, and the traits
// the policy compiler and the tests rely on. Each scheme's file registers
// its Scheme once, from an init function, with [Register]; nothing else in
// the program lists the schemes.
type Scheme struct {
	// Name is the scheme's key under an endpoint's verify block, such as
	// "github". Register sets it: it is the name of the field of the
	// policy's Verify oneof that holds the scheme's configuration message,
	// so the proto definition is the one place it is written.
	Name string

	// Sign returns the headers the scheme's provider sends with m, signed
	// with key: the secret of a symmetric scheme, the private key of an
	// asymmetric one. m has its defaults filled (see [Sign]). Nil when a
	// key alone cannot make a delivery, as for the generic hmac scheme,
	// whose format is in the policy.
	Sign func(key authz.Secret, m Message) ([]authz.HeaderValue, error)

	// Replayable reports that every delivery the scheme's verifiers
	// accept carries a replay key (authz.Verified.ReplayKey), so replay
	// protection applies to the scheme's endpoints. It is false for a
	// scheme that signs nothing telling deliveries apart, such as a bare
	// token: its endpoints get no replay protection, with a warning.
	Replayable bool

	// Timestamped reports that the scheme's verifiers implement
	// [Timestamped]: they refuse a signed timestamp too far from now,
	// which the policy compiler weighs against the replay TTL.
	Timestamped bool

	// Handshakes reports that the scheme's verifiers implement
	// authz.Handshaker: the provider verifies an endpoint before
	// delivering to it, and hookguard answers for the upstream.
	Handshakes bool

	// build makes a verifier from the scheme's configuration message.
	build func(config proto.Message, env Env) (authz.Verifier, error)
}

// An Env is what a scheme's constructor needs from the policy compiler: the
// secrets its configuration references, and a place for warnings. Package
// policy passes one that resolves references through its SecretSource and
// reports with the policy file, line and endpoint.
//
// A field is a path within the scheme's configuration message, in the
// policy's spelling, such as "secrets" or "keys[0].key"; the compiler puts
// it under the endpoint's verify.<scheme>.
type Env interface {
	// Secrets resolves the list of secret references named field. It
	// returns the secrets in order, or an error listing, as a
	// [*FieldError] each, the references that cannot be resolved (an
	// unset environment variable, an unreadable file, an empty secret) or
	// that the list is empty.
	Secrets(field string, refs []*policyv1.SecretRef) ([]authz.Secret, error)
	// Secret resolves the single secret reference named field, as Secrets
	// does a list.
	Secret(field string, ref *policyv1.SecretRef) (authz.Secret, error)
	// Warn reports a weakness of a configuration that still builds, such
	// as an RFC 9421 signature that need not cover the body.
	Warn(field, msg string)
}

// registry holds the registered schemes by name.
var registry = map[string]Scheme{}

// schemeOneof is the oneof of the policy's Verify message: one field per
// scheme, named after it, holding its configuration message.
var schemeOneof = (*policyv1.Verify)(nil).ProtoReflect().Descriptor().Oneofs().ByName("scheme")

// Register makes a scheme known. build makes the scheme's verifiers from its
// configuration message C, such as *policyv1.GitHubVerify, resolving
// secrets through env; its errors name the field at fault as a
// [*FieldError], several joined with errors.Join, and never quote a secret.
// s describes the rest of the scheme, with Name left empty: Register sets
// it from the field of the Verify oneof whose message is C.
//
// Register is meant for the init function of the scheme's own file, and is
// not safe to call once the program runs. It panics when C is the message
// of no field of the Verify oneof, or when that field's scheme is already
// registered: both are mistakes in the program, not in a policy.
func Register[C proto.Message](build func(config C, env Env) (authz.Verifier, error), s Scheme) {
	var zero C
	md := zero.ProtoReflect().Descriptor()
	var field protoreflect.FieldDescriptor
	fields := schemeOneof.Fields()
	for i := range fields.Len() {
		if fd := fields.Get(i); fd.Message() != nil && fd.Message().FullName() == md.FullName() {
			field = fd
		}
	}
	if field == nil {
		panic(fmt.Sprintf("verify: Register: %s is the message of no field of %s", md.FullName(), schemeOneof.FullName()))
	}
	s.Name = string(field.Name())
	if _, dup := registry[s.Name]; dup {
		panic("verify: Register: scheme " + s.Name + " registered twice")
	}
	s.build = func(config proto.Message, env Env) (authz.Verifier, error) {
		return build(config.(C), env)
	}
	registry[s.Name] = s
}

// Lookup returns the scheme registered under name.
func Lookup(name string) (Scheme, bool) {
	s, ok := registry[name]
	return s, ok
}

// All returns every registered scheme, sorted by name.
func All() []Scheme {
	out := make([]Scheme, 0, len(registry))
	for _, s := range registry {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Scheme) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// errNoScheme is New's error for a Verify message that selects no scheme.
var errNoScheme = errors.New("no scheme selected")

// New builds the verifier v configures, resolving its secrets through env.
// It returns the scheme v selects even when building fails, so the caller
// can place the error under the scheme's field; the zero Scheme when v
// selects none, or one this program has no registration for.
func New(v *policyv1.Verify, env Env) (authz.Verifier, Scheme, error) {
	m := v.ProtoReflect()
	fd := m.WhichOneof(schemeOneof)
	if fd == nil {
		return nil, Scheme{}, errNoScheme
	}
	s, ok := registry[string(fd.Name())]
	if !ok {
		return nil, Scheme{}, fmt.Errorf("scheme %s is not supported", fd.Name())
	}
	vf, err := s.build(m.Get(fd).Message().Interface(), env)
	if err == nil && vf == nil {
		err = errors.New("scheme " + s.Name + " built no verifier")
	}
	if err != nil {
		return nil, s, err
	}
	if t, ok := vf.(interface{ traits(Scheme) Scheme }); ok {
		// A scheme whose traits depend on its configuration, as the
		// provider catalog's depend on the provider's mechanism.
		s = t.traits(s)
	}
	return vf, s, nil
}

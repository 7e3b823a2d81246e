package verify

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/hookguard/hookguard/authz"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

func init() {
	Register(buildHTTPMessageSignatures, Scheme{Sign: signHTTPMessageSignatures, Replayable: true, Timestamped: true})
}

// HTTP message signature header names and defaults.
const (
	SignatureInputHeader = "signature-input"
	SignatureHeader      = "signature"
	ContentDigestHeader  = "content-digest"
	// HTTPSigDefaultTolerance bounds the age of a signature's created.
	HTTPSigDefaultTolerance = 5 * time.Minute
)

// The algorithms of RFC 9421 hookguard verifies.
const (
	AlgHMACSHA256      = "hmac-sha256"
	AlgEd25519         = "ed25519"
	AlgECDSAP256SHA256 = "ecdsa-p256-sha256"
)

// httpSigAlgorithms are the RFC 9421 names of the policy's algorithms.
var httpSigAlgorithms = map[policyv1.HTTPSignatureAlgorithm]string{
	policyv1.HTTPSignatureAlgorithm_HTTP_SIGNATURE_ALGORITHM_HMAC_SHA256:       AlgHMACSHA256,
	policyv1.HTTPSignatureAlgorithm_HTTP_SIGNATURE_ALGORITHM_ED25519:           AlgEd25519,
	policyv1.HTTPSignatureAlgorithm_HTTP_SIGNATURE_ALGORITHM_ECDSA_P256_SHA256: AlgECDSAP256SHA256,
}

// DefaultRequiredComponents are the components every signature must cover
// when the policy names none: enough that neither the target nor the body
// can change.
var DefaultRequiredComponents = []string{"@method", "@authority", "@path", "content-digest"}

// HTTPSigKey is one key of an HTTPMessageSignatures verifier.
type HTTPSigKey struct {
	// KeyID is the keyid signatures name.
	KeyID string
	// Algorithm is AlgHMACSHA256, AlgEd25519 or AlgECDSAP256SHA256.
	Algorithm string
	// Key is base64 of the shared key for HMAC; PEM or base64 of a public
	// key otherwise.
	Key authz.Secret
}

// httpSigKey is a parsed key.
type httpSigKey struct {
	keyid string
	alg   string
	mac   []*macKey
	ed    ed25519.PublicKey
	ec    *ecdsa.PublicKey
}

// HTTPMessageSignatures verifies RFC 9421 HTTP Message Signatures on
// requests: each Signature-Input member lists the covered components and
// parameters of the Signature member with the same label. A signature
// counts when its keyid is configured (and its alg, if given, is that
// key's), it covers every required component, its created is within the
// tolerance and its expires not past, a covered Content-Digest matches the
// body (RFC 9530: every sha-256 and sha-512 digest given must match, and
// one must be given), and the signature over the rebuilt signature base
// verifies. One such signature is enough; signatures that cannot count are
// skipped, not errors.
//
// Each signature that verifies gives a replay key: for hmac-sha256 the
// [ContentKey] of the signature base, for ed25519 the signature, and for
// ecdsa-p256-sha256 r with the low s, since ECDSA signatures are malleable
// (see [SendGrid]).
type HTTPMessageSignatures struct {
	keys      []httpSigKey
	required  []string
	tolerance time.Duration
}

// NewHTTPMessageSignatures returns a verifier for keys, requiring every
// signature to cover required (nil means DefaultRequiredComponents), with
// created at most tolerance away (zero means HTTPSigDefaultTolerance). Its
// errors are *FieldError values naming the field of
// HTTPMessageSignaturesVerify at fault, matching ErrSecretValue when a key
// does not parse, and never quote a key.
func NewHTTPMessageSignatures(keys []HTTPSigKey, required []string, tolerance time.Duration) (*HTTPMessageSignatures, error) {
	if len(keys) == 0 {
		return nil, fieldError("keys", "at least one key is required")
	}
	h := &HTTPMessageSignatures{tolerance: orDefault(tolerance, HTTPSigDefaultTolerance)}
	if required == nil {
		required = DefaultRequiredComponents
	}
	for i, c := range required {
		if !supportedComponent(c) {
			return nil, fieldError(fmt.Sprintf("required_components[%d]", i), "unsupported component (use @method, @target-uri, @authority, @scheme, @request-target, @path, @query or a lower-case header name)")
		}
	}
	h.required = slices.Clone(required)
	for i, k := range keys {
		if k.KeyID == "" {
			return nil, fieldError(fmt.Sprintf("keys[%d].keyid", i), "required")
		}
		pk := httpSigKey{keyid: k.KeyID, alg: k.Algorithm}
		switch k.Algorithm {
		case AlgHMACSHA256:
			b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(k.Key)))
			if err != nil || len(b) == 0 {
				return nil, badSecret(fmt.Sprintf("keys[%d].key", i), errors.New("not base64"))
			}
			pk.mac = []*macKey{newMACKey(sha256.New, b)}
		case AlgEd25519:
			var err error
			if pk.ed, err = ParseEd25519PublicKey(k.Key); err != nil {
				return nil, badSecret(fmt.Sprintf("keys[%d].key", i), err)
			}
		case AlgECDSAP256SHA256:
			var err error
			if pk.ec, err = ParseP256PublicKey(k.Key); err != nil {
				return nil, badSecret(fmt.Sprintf("keys[%d].key", i), err)
			}
		default:
			return nil, fieldError(fmt.Sprintf("keys[%d].algorithm", i), fmt.Sprintf("use %s, %s or %s", AlgHMACSHA256, AlgEd25519, AlgECDSAP256SHA256))
		}
		h.keys = append(h.keys, pk)
	}
	return h, nil
}

// buildHTTPMessageSignatures builds an RFC 9421 verifier from its policy
// configuration, and warns when a signature need not cover the body.
func buildHTTPMessageSignatures(c *policyv1.HTTPMessageSignaturesVerify, env Env) (authz.Verifier, error) {
	if len(c.GetKeys()) == 0 {
		return nil, fieldError("keys", "at least one key is required")
	}
	var errs []error
	keys := make([]HTTPSigKey, 0, len(c.GetKeys()))
	for i, k := range c.GetKeys() {
		key, err := env.Secret(fmt.Sprintf("keys[%d].key", i), k.GetKey())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		keys = append(keys, HTTPSigKey{KeyID: k.GetKeyid(), Algorithm: httpSigAlgorithms[k.GetAlgorithm()], Key: key})
	}
	var required []string
	for _, r := range c.GetRequiredComponents() {
		required = append(required, strings.ToLower(r))
	}
	tolerance, err := parseTolerance(c.GetTolerance())
	if err := errors.Join(append(errs, err)...); err != nil {
		return nil, err
	}
	v, err := NewHTTPMessageSignatures(keys, required, tolerance)
	if err != nil {
		return nil, err
	}
	if required != nil && !slices.Contains(required, ContentDigestHeader) {
		env.Warn("required_components", "content-digest is not required: a signature that does not cover the body lets anyone change it")
	}
	return v, nil
}

// supportedComponent reports whether hookguard can rebuild a component
// without parameters: the derived components of a request and header
// fields (lower case).
func supportedComponent(c string) bool {
	switch c {
	case "@method", "@target-uri", "@authority", "@scheme", "@request-target", "@path", "@query":
		return true
	}
	if c == "" || c[0] == '@' {
		return false
	}
	for i := 0; i < len(c); i++ {
		if !isTChar(c[i]) || ('A' <= c[i] && c[i] <= 'Z') {
			return false
		}
	}
	return true
}

// Scheme returns "http_message_signatures".
func (*HTTPMessageSignatures) Scheme() string { return "http_message_signatures" }

// Tolerance returns how far from now a signature's created may be.
func (h *HTTPMessageSignatures) Tolerance() time.Duration { return h.tolerance }

// Verify checks Signature-Input and Signature.
func (h *HTTPMessageSignatures) Verify(r *authz.Request, now time.Time) (authz.Verified, error) {
	var v authz.Verified
	input, err := signatureHeader(r, SignatureInputHeader)
	if err != nil {
		return v, err
	}
	sigHeader, err := signatureHeader(r, SignatureHeader)
	if err != nil {
		return v, err
	}
	inputs, err := parseSFDictionary(input)
	if err != nil {
		return v, fmt.Errorf("%w: Signature-Input is not a structured dictionary", authz.SignatureInvalid)
	}
	sigs, err := parseSFDictionary(sigHeader)
	if err != nil {
		return v, fmt.Errorf("%w: Signature is not a structured dictionary", authz.SignatureInvalid)
	}
	// The first reason a candidate failed is reported when none verifies:
	// "stale" says more than "no signature".
	first := fmt.Errorf("%w: no signature with a configured keyid covers the required components", authz.SignatureInvalid)
	firstSet := false
	st := httpSigRequest{checks: maxHTTPSigChecks}
	// Every signature is checked, and each that verifies gives a replay
	// key: the delivery is remembered under all of them, so removing or
	// reordering signatures cannot make a captured request look new. For
	// the same reason a request with more checks than it may cost is
	// refused whole, not accepted on the signatures checked so far.
	for _, in := range inputs {
		sig := findSignature(sigs, in.key)
		if sig == nil || !in.isList {
			continue
		}
		key, err := h.verifyOne(r, now, in, sig, &st)
		if errors.Is(err, errTooManyChecks) {
			return authz.Verified{}, err
		}
		if err == nil {
			if v.ReplayKey == nil {
				v.ReplayKey = key
			} else {
				v.MoreReplayKeys = append(v.MoreReplayKeys, key)
			}
			continue
		}
		if !firstSet && !errors.Is(err, errSkip) {
			first, firstSet = err, true
		}
	}
	if v.ReplayKey != nil {
		return v, nil
	}
	return v, first
}

// errSkip marks a signature hookguard does not consider: unknown keyid, a
// component it cannot rebuild, required components missing.
var errSkip = errors.New("skip")

// maxHTTPSigChecks bounds the signature checks one request may cost, a
// check being one signature under one key its keyid (and alg) names. A
// sender attaches one signature, or two during a key roll or when a proxy
// adds its own, and a keyid names one key, or two during a rotation;
// without a bound, a stranger listing 16 signatures under a shared keyid
// would buy 16 checks per key.
const maxHTTPSigChecks = 4

// errTooManyChecks refuses a request needing more than maxHTTPSigChecks.
var errTooManyChecks = fmt.Errorf("%w: more than %d signature checks (signatures times keys sharing their keyid)", authz.SignatureInvalid, maxHTTPSigChecks)

// httpSigRequest is what the signatures of one request share: the checks
// left, and Content-Digest, which is checked against the body once however
// many signatures cover it.
type httpSigRequest struct {
	checks        int
	digestChecked bool
	digestErr     error
}

// checkDigest checks r's Content-Digest the first time it is called.
func (st *httpSigRequest) checkDigest(r *authz.Request) error {
	if !st.digestChecked {
		st.digestErr = checkContentDigest(r.Header.Get(ContentDigestHeader), r.Body)
		st.digestChecked = true
	}
	return st.digestErr
}

// findSignature returns the Signature bytes for label, or nil.
func findSignature(sigs []sfMember, label string) []byte {
	for _, s := range sigs {
		if s.key == label && !s.isList && s.item.bare.kind == sfBytes {
			return s.item.bare.bytes
		}
	}
	return nil
}

// verifyOne checks one labelled signature and returns its replay key.
func (h *HTTPMessageSignatures) verifyOne(r *authz.Request, now time.Time, in sfMember, sig []byte, st *httpSigRequest) ([]byte, error) {
	ps := in.item.params
	keyid, ok := param(ps, "keyid")
	if !ok || keyid.kind != sfString {
		return nil, errSkip
	}
	alg, hasAlg := param(ps, "alg")
	// The keys the signature names, and of a size it can be: no check is
	// spent on a key whose signatures have another length.
	var candidates []*httpSigKey
	for i := range h.keys {
		k := &h.keys[i]
		if k.keyid == keyid.str && (!hasAlg || (alg.kind == sfString && alg.str == k.alg)) && len(sig) == signatureSize(k.alg) {
			candidates = append(candidates, k)
		}
	}
	if len(candidates) == 0 {
		return nil, errSkip
	}
	covered := make([]string, 0, len(in.inner))
	for _, c := range in.inner {
		if c.bare.kind != sfString || len(c.params) > 0 || !supportedComponent(c.bare.str) || slices.Contains(covered, c.bare.str) {
			return nil, errSkip
		}
		covered = append(covered, c.bare.str)
	}
	for _, req := range h.required {
		if !slices.Contains(covered, req) {
			return nil, errSkip
		}
	}
	created, ok := param(ps, "created")
	if !ok || created.kind != sfInteger || created.num < 0 {
		return nil, fmt.Errorf("%w: signature without created", authz.SignatureInvalid)
	}
	if err := checkWindow(time.Unix(created.num, 0), now, h.tolerance); err != nil {
		return nil, err
	}
	if expires, ok := param(ps, "expires"); ok {
		if expires.kind != sfInteger || !now.Before(time.Unix(expires.num, 0)) {
			return nil, fmt.Errorf("%w: signature expired", authz.TimestampOutOfWindow)
		}
	}
	if st.checks == 0 {
		return nil, errTooManyChecks
	}
	if slices.Contains(covered, ContentDigestHeader) {
		if err := st.checkDigest(r); err != nil {
			return nil, err
		}
	}
	base, err := signatureBase(r, in)
	if err != nil {
		return nil, err
	}
	for _, k := range candidates {
		if st.checks == 0 {
			return nil, errTooManyChecks
		}
		st.checks--
		if key := k.verify(base, sig); key != nil {
			return key, nil
		}
	}
	return nil, fmt.Errorf("%w: no key matches", authz.SignatureInvalid)
}

// signatureSize is the length of an RFC 9421 signature with alg.
func signatureSize(alg string) int {
	switch alg {
	case AlgHMACSHA256:
		return sha256.Size
	case AlgEd25519:
		return ed25519.SignatureSize
	case AlgECDSAP256SHA256:
		// r‖s, 32 bytes each, not DER.
		return 64
	}
	return -1
}

// verify checks sig, of the algorithm's size, over base and returns the
// replay key, or nil.
func (k *httpSigKey) verify(base, sig []byte) []byte {
	switch k.alg {
	case AlgHMACSHA256:
		return matchMAC(k.mac, sig, base)
	case AlgEd25519:
		if verifyEd25519(k.ed, base, sig) {
			return slices.Clone(sig)
		}
	case AlgECDSAP256SHA256:
		r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
		sum := sha256.Sum256(base)
		meter.hash(hashSHA256, len(base))
		if verifyECDSA(k.ec, sum[:], r, s) {
			key, _ := lowS(r, s)
			return key
		}
	}
	return nil
}

// componentValue returns the value of a covered component of r.
func componentValue(r *authz.Request, name string) (string, bool) {
	switch name {
	case "@method":
		return r.Method, true
	case "@target-uri":
		return requestURL(strings.ToLower(r.Scheme), r.Host, r.Path, r.Query), true
	case "@authority":
		return normalizedAuthority(r.Scheme, r.Host), true
	case "@scheme":
		if r.Scheme == "" {
			return "https", true
		}
		return strings.ToLower(r.Scheme), true
	case "@request-target":
		if r.Query != "" {
			return r.Path + "?" + r.Query, true
		}
		return r.Path, true
	case "@path":
		if r.Path == "" {
			return "/", true
		}
		return r.Path, true
	case "@query":
		return "?" + r.Query, true
	}
	v, ok := r.Header[name]
	// RFC 9421 trims leading and trailing whitespace; Envoy joins repeated
	// fields with ", " as the RFC does.
	return strings.Trim(v, " \t"), ok
}

// normalizedAuthority is the host in lower case, without the scheme's
// default port, as RFC 9421 wants @authority.
func normalizedAuthority(scheme, host string) string {
	host = strings.ToLower(host)
	switch {
	case (scheme == "https" || scheme == "") && strings.HasSuffix(host, ":443"):
		return strings.TrimSuffix(host, ":443")
	case scheme == "http" && strings.HasSuffix(host, ":80"):
		return strings.TrimSuffix(host, ":80")
	}
	return host
}

// signatureBase builds the RFC 9421 signature base of a request for one
// Signature-Input member.
func signatureBase(r *authz.Request, in sfMember) ([]byte, error) {
	base := make([]byte, 0, 256)
	for _, c := range in.inner {
		v, ok := componentValue(r, c.bare.str)
		if !ok {
			return nil, fmt.Errorf("%w: signature covers an absent header", authz.SignatureInvalid)
		}
		if strings.ContainsAny(v, "\r\n") {
			return nil, fmt.Errorf("%w: covered value holds a line break", authz.SignatureInvalid)
		}
		base = appendSFItem(base, c)
		base = append(base, ": "...)
		base = append(base, v...)
		base = append(base, '\n')
	}
	base = append(base, `"@signature-params": `...)
	return appendSFInnerList(base, in.inner, in.item.params), nil
}

// checkContentDigest checks an RFC 9530 Content-Digest against body: at
// least one of sha-256 and sha-512 must be present, and every one present
// must match. Other algorithms are ignored, as the RFC deprecates them.
func checkContentDigest(h string, body []byte) error {
	if h == "" {
		return fmt.Errorf("%w: content-digest covered but absent", authz.SignatureInvalid)
	}
	if len(h) > maxSignatureHeader {
		return errTooLong
	}
	ms, err := parseSFDictionary(h)
	if err != nil {
		return fmt.Errorf("%w: Content-Digest is not a structured dictionary", authz.SignatureInvalid)
	}
	known := 0
	for _, m := range ms {
		var sum []byte
		// A dictionary holds each key once, so each algorithm hashes the
		// body once.
		switch m.key {
		case "sha-256":
			s := sha256.Sum256(body)
			meter.hash(hashSHA256, len(body))
			sum = s[:]
		case "sha-512":
			s := sha512.Sum512(body)
			meter.hash(hashSHA512, len(body))
			sum = s[:]
		default:
			continue
		}
		known++
		if m.isList || m.item.bare.kind != sfBytes || subtle.ConstantTimeCompare(sum, m.item.bare.bytes) != 1 {
			return fmt.Errorf("%w: Content-Digest does not match the body", authz.SignatureInvalid)
		}
	}
	if known == 0 {
		return fmt.Errorf("%w: Content-Digest has no sha-256 or sha-512", authz.SignatureInvalid)
	}
	return nil
}

// ContentDigest returns the RFC 9530 Content-Digest value for body, with
// sha-256.
func ContentDigest(body []byte) string {
	sum := sha256.Sum256(body)
	return "sha-256=:" + base64.StdEncoding.EncodeToString(sum[:]) + ":"
}

// signHTTPMessageSignatures signs m.Method, m.URL's authority and path, and
// a Content-Digest of m.Body, with created at m.Time, under m.KeyID. key is
// a private key (Ed25519 or ECDSA P-256) or base64 of an HMAC key.
func signHTTPMessageSignatures(key authz.Secret, m Message) ([]authz.HeaderValue, error) {
	if m.URL == "" || m.KeyID == "" {
		return nil, errors.New("HTTP message signatures sign the URL under a keyid: give both")
	}
	r := &authz.Request{Method: m.Method, Header: authz.Header{ContentDigestHeader: ContentDigest(m.Body)}}
	if err := splitURL(m.URL, r); err != nil {
		return nil, err
	}
	var alg string
	var sign func(base []byte) ([]byte, error)
	if priv, err := parsePrivateKey(key); err == nil {
		switch k := priv.(type) {
		case ed25519.PrivateKey:
			alg = AlgEd25519
			sign = func(base []byte) ([]byte, error) { return ed25519.Sign(k, base), nil }
		case *ecdsa.PrivateKey:
			if k.Curve != elliptic.P256() {
				return nil, errors.New("only ECDSA P-256 is supported")
			}
			alg = AlgECDSAP256SHA256
			sign = func(base []byte) ([]byte, error) {
				sum := sha256.Sum256(base)
				r, s, err := ecdsa.Sign(rand.Reader, k, sum[:])
				if err != nil {
					return nil, err
				}
				out := make([]byte, 64)
				r.FillBytes(out[:32])
				s.FillBytes(out[32:])
				return out, nil
			}
		default:
			return nil, errors.New("unsupported private key type")
		}
	} else {
		secret, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(key)))
		if err != nil {
			return nil, errors.New("key is neither a private key nor base64 of an HMAC key")
		}
		alg = AlgHMACSHA256
		sign = func(base []byte) ([]byte, error) { return newMACKey(sha256.New, secret).sum(nil, base), nil }
	}
	in := sfMember{key: "sig1", isList: true}
	for _, c := range DefaultRequiredComponents {
		in.inner = append(in.inner, sfItem{bare: sfBare{kind: sfString, str: c}})
	}
	in.item.params = []sfParam{
		{"created", sfBare{kind: sfInteger, num: m.Time.Unix()}},
		{"keyid", sfBare{kind: sfString, str: m.KeyID}},
		{"alg", sfBare{kind: sfString, str: alg}},
	}
	base, err := signatureBase(r, in)
	if err != nil {
		return nil, err
	}
	sig, err := sign(base)
	if err != nil {
		return nil, err
	}
	input := appendSFInnerList([]byte("sig1="), in.inner, in.item.params)
	return []authz.HeaderValue{
		{Name: "Content-Digest", Value: r.Header[ContentDigestHeader]},
		{Name: "Signature-Input", Value: string(input)},
		{Name: "Signature", Value: "sig1=:" + base64.StdEncoding.EncodeToString(sig) + ":"},
	}, nil
}

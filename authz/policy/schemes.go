package policy

import (
	"strings"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/verify"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

// compileVerifier builds the verifier the policy names. replayable reports
// whether the scheme yields a replay key, and so whether replay protection
// applies.
func (c *compiler) compileVerifier(file string, v *policyv1.Verify, fail func(field, msg string)) (_ authz.Verifier, replayable bool) {
	switch s := v.GetScheme().(type) {
	case *policyv1.Verify_Github:
		secrets := c.resolveSecrets(file, s.Github.GetSecrets(), "verify.github.secrets", fail)
		return verify.NewGitHub(secrets), true
	case *policyv1.Verify_Token:
		t := s.Token
		header := strings.ToLower(t.GetHeader())
		if header == "" {
			fail("verify.token.header", "required")
		} else if !headerName.MatchString(header) {
			fail("verify.token.header", "must be a header name")
		}
		idHeader := strings.ToLower(t.GetIdHeader())
		if idHeader != "" && !headerName.MatchString(idHeader) {
			fail("verify.token.id_header", "must be a header name")
		}
		secrets := c.resolveSecrets(file, t.GetSecrets(), "verify.token.secrets", fail)
		return verify.NewToken(header, t.GetPrefix(), idHeader, secrets), false
	default:
		fail("verify", "unsupported scheme")
		return nil, false
	}
}

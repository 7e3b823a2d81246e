package authz

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// IdentityPolicy requires a client certificate and restricts its identity.
// The principal rules (Principals, PrincipalPrefixes, TrustDomains) and the
// SAN rules (DNSSANs, URISANs) are alternatives: any one match allows. The
// fingerprint pin, when set, must hold as well.
type IdentityPolicy struct {
	// Principals are allowed exact principals.
	Principals []string
	// PrincipalPrefixes are allowed principal prefixes.
	PrincipalPrefixes []string
	// TrustDomains are allowed SPIFFE trust domains.
	TrustDomains []string
	// DNSSANs and URISANs are SAN values the certificate may carry.
	DNSSANs, URISANs []string
	// Fingerprints, when non-empty, pin the certificate's SHA-256.
	Fingerprints map[[sha256.Size]byte]struct{}
}

// needsCertificate reports whether the rules read the certificate itself,
// not only the principal Envoy derived from it.
func (p *IdentityPolicy) needsCertificate() bool {
	return len(p.DNSSANs) > 0 || len(p.URISANs) > 0 || len(p.Fingerprints) > 0
}

func (p *IdentityPolicy) hasIdentityRules() bool {
	return len(p.Principals)+len(p.PrincipalPrefixes)+len(p.TrustDomains)+len(p.DNSSANs)+len(p.URISANs) > 0
}

// check returns nil when the request's client identity is allowed.
func (p *IdentityPolicy) check(r *Request) error {
	if r.Principal == "" && r.Certificate == "" {
		return ClientCertificateRequired
	}
	var cert *x509.Certificate
	if p.needsCertificate() {
		if r.Certificate == "" {
			return fmt.Errorf("%w: the rules need the certificate; set include_peer_certificate in Envoy", ClientCertificateRequired)
		}
		der, err := decodeCertificate(r.Certificate)
		if err != nil {
			return fmt.Errorf("%w: %v", ClientIdentityDenied, err)
		}
		if len(p.Fingerprints) > 0 {
			if _, ok := p.Fingerprints[sha256.Sum256(der)]; !ok {
				return fmt.Errorf("%w: certificate fingerprint not pinned", ClientIdentityDenied)
			}
		}
		// Parsing is the costly part; a pin alone does without it.
		if len(p.DNSSANs) > 0 || len(p.URISANs) > 0 {
			if cert, err = x509.ParseCertificate(der); err != nil {
				return fmt.Errorf("%w: certificate does not parse", ClientIdentityDenied)
			}
		}
	}
	if !p.hasIdentityRules() || p.principalAllowed(r.Principal) || p.sanAllowed(cert) {
		return nil
	}
	return fmt.Errorf("%w: principal not allowed", ClientIdentityDenied)
}

func (p *IdentityPolicy) principalAllowed(principal string) bool {
	if principal == "" {
		return false
	}
	if slices.Contains(p.Principals, principal) {
		return true
	}
	for _, prefix := range p.PrincipalPrefixes {
		if strings.HasPrefix(principal, prefix) {
			return true
		}
	}
	if rest, ok := strings.CutPrefix(principal, "spiffe://"); ok {
		domain, _, _ := strings.Cut(rest, "/")
		if slices.Contains(p.TrustDomains, domain) {
			return true
		}
	}
	return false
}

func (p *IdentityPolicy) sanAllowed(cert *x509.Certificate) bool {
	if cert == nil {
		return false
	}
	for _, name := range cert.DNSNames {
		if slices.Contains(p.DNSSANs, strings.ToLower(name)) {
			return true
		}
	}
	for _, u := range cert.URIs {
		if slices.Contains(p.URISANs, u.String()) {
			return true
		}
	}
	return false
}

// decodeCertificate decodes the URL-encoded PEM certificate Envoy sends with
// include_peer_certificate into DER.
func decodeCertificate(encoded string) ([]byte, error) {
	// Path unescaping, not query unescaping: a '+' in base64 is a '+'.
	pemText, err := url.PathUnescape(encoded)
	if err != nil {
		return nil, fmt.Errorf("certificate is not URL-encoded")
	}
	block, _ := pem.Decode([]byte(pemText))
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("certificate is not PEM")
	}
	return block.Bytes, nil
}

package webhooktest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/proto"

	"github.com/hookguard/hookguard/authz"
	"github.com/hookguard/hookguard/authz/verify"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

// SourceAddress and SourcePort are where every delivery comes from.
const (
	SourceAddress = "203.0.113.7"
	SourcePort    = 50123
)

// Delivery is one request to an endpoint, in the form Envoy sends it to
// hookguard.
type Delivery struct {
	// Endpoint is the endpoint it was signed for.
	Endpoint *Endpoint
	// Request is the CheckRequest; tests change a Clone of it.
	Request *authv3.CheckRequest
	// Signatures are the signature values it carries exactly as sent
	// (header values; Mailgun's is in the body): none may show anywhere.
	Signatures []string
}

// Clone returns a deep copy of the delivery's request.
func (d *Delivery) Clone() *authv3.CheckRequest {
	return proto.Clone(d.Request).(*authv3.CheckRequest)
}

// signatureHeaders are the headers that carry a signature rather than what
// it covers, by scheme as hookguard reports it. A credential (a token,
// Basic authentication) is its own signature.
var signatureHeaders = map[string][]string{
	"github":                  {verify.GitHubSignatureHeader},
	"token":                   {"x-gitlab-token"},
	"basic_auth":              {"authorization"},
	"twitter":                 {"x-twitter-webhooks-signature"},
	"stripe":                  {verify.StripeSignatureHeader},
	"slack":                   {verify.SlackSignatureHeader},
	"standard_webhooks":       {verify.StandardWebhooksSignatureHeader},
	"shopify":                 {verify.ShopifySignatureHeader},
	"twilio":                  {verify.TwilioSignatureHeader},
	"discord":                 {verify.DiscordSignatureHeader},
	"sendgrid":                {verify.SendGridSignatureHeader},
	"square":                  {verify.SquareSignatureHeader},
	"zoom":                    {verify.ZoomSignatureHeader},
	"linear":                  {verify.LinearSignatureHeader},
	"meta":                    {verify.MetaSignatureHeader},
	"pagerduty":               {verify.PagerDutySignatureHeader},
	"paddle":                  {verify.PaddleSignatureHeader},
	"twitch":                  {verify.TwitchSignatureHeader},
	"http_message_signatures": {verify.SignatureHeader},
	"hmac":                    {hmacHeader},
}

// SignatureHeaders names the headers that carry the signature of a
// scheme, as hookguard reports it (Endpoint.Verified). Mailgun's travels
// in the body and has none.
func SignatureHeaders(scheme string) []string { return signatureHeaders[scheme] }

// The generic hmac endpoint's scheme, as its verify block describes it.
const (
	hmacHeader    = "x-hg-signature"
	hmacIDHeader  = "x-hg-id"
	hmacTSHeader  = "x-hg-timestamp"
	hmacTemplate  = "{id}.{timestamp}.{method}.{path}.{body}"
	mailgunPrefix = "mailgun-token-"
)

// Body is the body of a delivery with id at t: JSON, except Twilio's form
// and Mailgun's, which also carries the signature.
func (e *Endpoint) body(id string, t time.Time) (body []byte, contentType string) {
	switch e.Scheme {
	case "twilio":
		return []byte("AccountSid=AC" + BodyCanary + "&Body=hello+world&EventId=" + id + "&From=%2B15550100"),
			"application/x-www-form-urlencoded"
	case "mailgun":
		ts := strconv.FormatInt(t.Unix(), 10)
		sum := sha256.Sum256([]byte(id))
		token := mailgunPrefix + hex.EncodeToString(sum[:8])
		m := hmac.New(sha256.New, []byte(e.Secrets[0]))
		m.Write([]byte(ts + token))
		return []byte(fmt.Sprintf(`{"event-data":{"id":%q,"canary":%q},"signature":{"timestamp":%q,"token":%q,"signature":%q}}`,
			id, BodyCanary, ts, token, hex.EncodeToString(m.Sum(nil)))), "application/json"
	}
	return []byte(fmt.Sprintf(`{"id":%q,"canary":%q,"webhookTimestamp":%d}`, id, BodyCanary, t.UnixMilli())), "application/json"
}

// Delivery returns a delivery to the endpoint signed at t, with delivery
// id id: a POST to https://Host/webhooks/<name>, as its provider signs it.
// Deliveries with different ids have different bodies.
func (e *Endpoint) Delivery(t time.Time, id string) (*Delivery, error) {
	body, contentType := e.body(id, t)
	return e.Signed("POST", e.Path(), "", body, contentType, id, t)
}

// Signed returns a request to path (and query, if not empty) with body,
// signed at t with delivery id id as the endpoint's provider signs it, as
// Envoy sends it. Mailgun signs in the body: its body must carry the
// signature already.
func (e *Endpoint) Signed(method, path, query string, body []byte, contentType, id string, t time.Time) (*Delivery, error) {
	target := path
	if query != "" {
		target += "?" + query
	}
	m := verify.Message{Body: body, Time: t, ID: id, URL: "https://" + Host + target, Method: method,
		ContentType: contentType, KeyID: HTTPSigKeyID}
	var (
		signed []authz.HeaderValue
		err    error
	)
	switch e.Scheme {
	case "mailgun":
		// Signed in the body already.
	case "provider":
		var pd verify.Delivery
		pd, err = verify.SignProvider(e.Verified, "", e.signKey, m)
		signed = pd.Headers
	case "hmac":
		var h *verify.HMAC
		h, err = verify.NewHMAC(verify.HMACConfig{Secrets: []authz.Secret{e.signKey}, Algorithm: policyv1.HMACAlgorithm_HMAC_ALGORITHM_SHA256,
			Header: hmacHeader, Prefix: "v1=", Separator: ",", Encoding: policyv1.SignatureEncoding_SIGNATURE_ENCODING_BASE64,
			SignedContent: hmacTemplate, IDHeader: hmacIDHeader, TimestampHeader: hmacTSHeader})
		if err == nil {
			signed, err = h.Sign(m)
		}
	default:
		signed, err = verify.Sign(e.Scheme, e.signKey, m)
	}
	if err != nil {
		return nil, fmt.Errorf("sign %s: %w", e.Name, err)
	}
	header := map[string]string{}
	if len(body) > 0 {
		header["content-type"] = contentType
	}
	header["content-length"] = strconv.Itoa(len(body))
	for _, h := range signed {
		header[strings.ToLower(h.Name)] = h.Value
	}
	d := &Delivery{Endpoint: e, Request: NewCheckRequest(method, Host, target, header, body)}
	for _, name := range signatureHeaders[e.Verified] {
		d.Signatures = append(d.Signatures, header[name])
	}
	if e.Scheme == "mailgun" {
		s := mailgunSignature(string(body))
		d.Signatures = append(d.Signatures, s)
	}
	return d, nil
}

// mailgunSignature is the signature field of a Mailgun body this package
// made.
func mailgunSignature(body string) string {
	_, rest, _ := strings.Cut(body, `"signature":"`)
	sig, _, _ := strings.Cut(rest, `"`)
	return sig
}

// Handshake returns the endpoint verification request of the endpoint's
// provider, signed at t, for the schemes that have one (Zoom, Twitch,
// Discord, Meta, X's CRC check), and false for the others. hookguard
// answers it itself.
func (e *Endpoint) Handshake(t time.Time) (*Delivery, bool) {
	var (
		d   *Delivery
		err error
	)
	switch e.Scheme {
	case "zoom":
		body := []byte(`{"event":"endpoint.url_validation","payload":{"plainToken":"plain-token"},"canary":"` + BodyCanary + `"}`)
		d, err = e.Signed("POST", e.Path(), "", body, "application/json", "hs-zoom", t)
	case "discord":
		d, err = e.Signed("POST", e.Path(), "", []byte(`{"type":1,"id":"`+BodyCanary+`"}`), "application/json", "hs-discord", t)
	case "twitch":
		body := []byte(`{"challenge":"challenge-twitch","subscription":{"id":"` + BodyCanary + `"}}`)
		d, err = e.Signed("POST", e.Path(), "", body, "application/json", "hs-twitch", t)
		if err == nil {
			d.Request.GetAttributes().GetRequest().GetHttp().GetHeaders()[verify.TwitchTypeHeader] = "webhook_callback_verification"
		}
	case "provider": // X's CRC check
		d = &Delivery{Endpoint: e, Request: NewCheckRequest("GET", Host, e.Path()+"?crc_token=hgcrc-"+e.Name, nil, nil)}
	case "meta":
		query := "hub.mode=subscribe&hub.challenge=challenge-meta&hub.verify_token=" + e.Env["HG_META_VERIFY_TOKEN"]
		d = &Delivery{Endpoint: e, Request: NewCheckRequest("GET", Host, e.Path()+"?"+query, nil, nil)}
		d.Signatures = []string{e.Env["HG_META_VERIFY_TOKEN"]}
	default:
		return nil, false
	}
	if err != nil {
		panic(err) // the table's own keys: a bug here, not in hookguard
	}
	return d, true
}

// NewCheckRequest returns a CheckRequest as Envoy sends it for a request to
// https://host<target> from SourceAddress: the query in the path, headers
// with lower-case names including the pseudo-headers and an x-request-id,
// and the body byte-exact in raw_body (pack_as_bytes).
func NewCheckRequest(method, host, target string, header map[string]string, body []byte) *authv3.CheckRequest {
	h := map[string]string{
		":method": method, ":path": target, ":authority": host, ":scheme": "https",
		"x-request-id": "rid-" + strconv.Itoa(len(target)) + "-" + strconv.Itoa(len(body)),
		"user-agent":   "webhooktest",
	}
	for k, v := range header {
		h[k] = v
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{
			Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
				Address: SourceAddress, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: SourcePort}}}},
		},
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Id: "envoy-1", Method: method, Host: host, Path: target, Scheme: "https", Protocol: "HTTP/1.1",
			Headers: h, RawBody: body, Size: int64(len(body)),
		}},
	}}
}

// Forged returns a copy of the delivery that its signature no longer
// covers: its body changed, or where the scheme signs no body (a token,
// Basic authentication, Mailgun's signature object) what it does sign.
func (d *Delivery) Forged() *authv3.CheckRequest {
	req := d.Clone()
	h := req.GetAttributes().GetRequest().GetHttp()
	switch d.Endpoint.Scheme {
	case "token":
		h.Headers["x-gitlab-token"] += "x"
	case "basic_auth":
		h.Headers["authorization"] = "Basic " + base64.StdEncoding.EncodeToString([]byte(d.Endpoint.Secrets[0]+"x"))
	case "mailgun":
		h.RawBody = []byte(strings.Replace(string(h.RawBody), mailgunPrefix, "mailgun-tokem-", 1))
	default:
		h.RawBody[len(h.RawBody)/2] ^= 1
	}
	return req
}

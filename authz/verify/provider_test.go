package verify

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hookguard/hookguard/authz"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

func init() { schemeSuites["provider"] = testProviderSuites }

// testProviderSuites runs the common suite through verify: {provider:
// ...} for a provider of each extension of the generic HMAC scheme: a
// t=,v1= list (Calendly), a secondary signature header and an RFC 3339
// timestamp (Box), a base64 secret (Microsoft Teams), a keyed hash (HubSpot v1),
// and {form} (Mailchimp Transactional).
func testProviderSuites(t *testing.T) {
	type preset struct {
		name, version, sigHeader, tsHeader string
		tolerance                          time.Duration
		keys                               []authz.Secret
		malformed                          []string
		form                               bool
	}
	b64Keys := secrets(b64([]byte("first key")), b64([]byte("second key")), b64([]byte("third key")))
	for _, p := range []preset{
		{name: "calendly", sigHeader: "calendly-webhook-signature", tolerance: 3 * time.Minute, keys: hmacKeys,
			malformed: []string{"t=1700000000", "v1=" + strings.Repeat("a", 64), "t=17000000x0,v1=" + strings.Repeat("a", 64), "t=1700000000,v1=zz", "t=1700000000,t=1700000001,v1=" + strings.Repeat("a", 64)}},
		{name: "box", sigHeader: "box-signature-primary", tsHeader: "box-delivery-timestamp", tolerance: 10 * time.Minute, keys: hmacKeys,
			malformed: []string{"not base64!", "AAAA"}},
		{name: "microsoft_teams", sigHeader: "authorization", keys: b64Keys,
			malformed: []string{"HMAC zz", "HMAC " + strings.Repeat("A", 40)}},
		{name: "hubspot", version: "v1", sigHeader: "x-hubspot-signature", keys: hmacKeys, malformed: []string{"zz", strings.Repeat("a", 63)}},
		{name: "mailchimp", sigHeader: "x-mandrill-signature", keys: hmacKeys, form: true, malformed: []string{"AAAA"}},
	} {
		t.Run(p.name, func(t *testing.T) {
			msg := Message{Body: []byte(`{"id":"evt_1"}`)}
			toRequest := func(h []authz.HeaderValue, m Message) *authz.Request {
				return request("POST", m.URL, m.Body, h...)
			}
			if p.form {
				msg = Message{Body: []byte("mandrill_events=%5B%7B%22event%22%3A%22send%22%7D%5D"), ContentType: "application/x-www-form-urlencoded", URL: "https://hooks.example.com/hook"}
				toRequest = func(h []authz.HeaderValue, m Message) *authz.Request {
					r := request("POST", m.URL, m.Body, h...)
					r.Header["content-type"] = m.ContentType
					return r
				}
			}
			runSuite(t, suite{
				scheme: "provider",
				verifier: func(t *testing.T, keys ...authz.Secret) authz.Verifier {
					env := mapEnv{}
					cfg := &policyv1.ProviderVerify{Name: p.name, Version: p.version}
					for i, k := range keys {
						name := string(rune('A' + i))
						env[name] = string(k)
						cfg.Secrets = append(cfg.Secrets, &policyv1.SecretRef{Source: &policyv1.SecretRef_Env{Env: name}})
					}
					v, err := buildProvider(cfg, env)
					if err != nil {
						t.Fatal(err)
					}
					return v
				},
				signKeys: p.keys, verifyKeys: p.keys,
				msg: msg, sigHeader: p.sigHeader, tsHeader: p.tsHeader, tolerance: p.tolerance,
				malformed: p.malformed,
				toRequest: toRequest,
				signer: func(key authz.Secret, m Message) ([]authz.HeaderValue, error) {
					d, err := SignProvider(p.name, p.version, key, m)
					return d.Headers, err
				},
			})
		})
	}
}

// TestHMACQuerySignature: a signature in the query (PandaDoc) verifies
// there, escaped or not, and nowhere else.
func TestHMACQuerySignature(t *testing.T) {
	c := providerVector{provider: "pandadoc", secret: "k"}
	v := buildVectorProvider(t, c, "k")
	sig := hx(hm(sha256.New, "k", vbody))
	for _, tc := range []struct {
		name, query string
		want        authz.Reason
	}{
		{"signature", "signature=" + sig, authz.OK},
		{"among others", "a=1&signature=" + sig + "&b=2", authz.OK},
		{"escaped", "signature=" + url.QueryEscape(sig), authz.OK},
		{"missing", "a=1", authz.SignatureMissing},
		{"empty", "signature=", authz.SignatureMissing},
		{"wrong", "signature=" + strings.Repeat("0", 64), authz.SignatureInvalid},
		{"bad escape", "signature=%zz", authz.SignatureInvalid},
		{"oversized", "signature=" + strings.Repeat("a", maxQuerySignature+1), authz.SignatureInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := request("POST", "https://hooks.example.com/pd?"+tc.query, []byte(vbody))
			_, err := v.Verify(r, vectNow)
			checkReason(t, err, tc.want)
		})
	}
	r := request("POST", "", []byte(vbody), authz.HeaderValue{Name: "signature", Value: sig})
	if _, err := v.Verify(r, vectNow); reasonOf(err) != authz.SignatureMissing {
		t.Errorf("signature in a header: %v", err)
	}
}

// TestKeyedHashReplayKey: a keyed hash's replay key does not depend on
// the secret, and a secret in the wrong place does not verify.
func TestKeyedHashReplayKey(t *testing.T) {
	c := providerVector{provider: "hubspot", version: "v1"}
	a := buildVectorProvider(t, c, "secret-a")
	b := buildVectorProvider(t, c, "secret-b")
	ra := request("POST", "", []byte(vbody), authz.HeaderValue{Name: "x-hubspot-signature", Value: hx(sum256("secret-a" + vbody))})
	rb := request("POST", "", []byte(vbody), authz.HeaderValue{Name: "x-hubspot-signature", Value: hx(sum256("secret-b" + vbody))})
	va, err1 := a.Verify(ra, vectNow)
	vb, err2 := b.Verify(rb, vectNow)
	if err1 != nil || err2 != nil || string(va.ReplayKey) != string(vb.ReplayKey) {
		t.Fatalf("replay keys differ by secret: %v %v", err1, err2)
	}
	swapped := request("POST", "", []byte(vbody), authz.HeaderValue{Name: "x-hubspot-signature", Value: hx(sum256(vbody + "secret-a"))})
	if _, err := a.Verify(swapped, vectNow); reasonOf(err) != authz.SignatureInvalid {
		t.Errorf("secret after the body: %v", err)
	}
}

// handshakeProvider builds a provider verifier for handshake tests.
func handshakeProvider(t *testing.T, name, secret string) *ProviderVerifier {
	t.Helper()
	v := buildVectorProvider(t, providerVector{provider: name}, secret)
	return v.(*ProviderVerifier)
}

func TestEchoHandshakes(t *testing.T) {
	dropbox := handshakeProvider(t, "dropbox", "app-secret")
	okta := handshakeProvider(t, "okta", "okta-auth")
	worldline := handshakeProvider(t, "worldline", "wl-key")
	long := strings.Repeat("c", maxHandshakeToken+1)
	cases := []struct {
		name        string
		p           *ProviderVerifier
		r           *authz.Request
		want        authz.Reason // OK with wantBody: answered; OK without: not a handshake
		wantBody    string
		contentType string
	}{
		{"dropbox challenge", dropbox, request("GET", "https://h.example/dbx?challenge=abc123", nil), authz.OK, "abc123", "text/plain"},
		{"dropbox challenge escaped", dropbox, request("GET", "https://h.example/dbx?challenge=a%20b", nil), authz.OK, "a b", "text/plain"},
		{"dropbox POST is a delivery", dropbox, request("POST", "https://h.example/dbx?challenge=abc", nil), authz.OK, "", ""},
		{"dropbox without challenge", dropbox, request("GET", "https://h.example/dbx?x=1", nil), authz.OK, "", ""},
		{"dropbox challenge too long", dropbox, request("GET", "https://h.example/dbx?challenge="+long, nil), authz.SignatureInvalid, "", ""},
		{"dropbox challenge with a control character", dropbox, request("GET", "https://h.example/dbx?challenge=a%0Ab", nil), authz.SignatureInvalid, "", ""},
		{"dropbox challenge with markup beyond ASCII", dropbox, request("GET", "https://h.example/dbx?challenge=%C3%A9", nil), authz.SignatureInvalid, "", ""},
		{"dropbox empty challenge", dropbox, request("GET", "https://h.example/dbx?challenge=", nil), authz.SignatureInvalid, "", ""},
		{"okta verification", okta, request("GET", "", nil, authz.HeaderValue{Name: "x-okta-verification-challenge", Value: "v-1"}, authz.HeaderValue{Name: "authorization", Value: "okta-auth"}), authz.OK, `{"verification":"v-1"}`, "application/json"},
		{"okta verification without the credential", okta, request("GET", "", nil, authz.HeaderValue{Name: "x-okta-verification-challenge", Value: "v-1"}), authz.SignatureMissing, "", ""},
		{"okta verification with a wrong credential", okta, request("GET", "", nil, authz.HeaderValue{Name: "x-okta-verification-challenge", Value: "v-1"}, authz.HeaderValue{Name: "authorization", Value: "guess"}), authz.SignatureInvalid, "", ""},
		{"worldline endpoint verification", worldline, request("GET", "", nil, authz.HeaderValue{Name: "x-gcs-webhooks-endpoint-verification", Value: "wl-1"}), authz.OK, "wl-1", "text/plain"},
		{"worldline POST is a delivery", worldline, request("POST", "", nil, authz.HeaderValue{Name: "x-gcs-webhooks-endpoint-verification", Value: "wl-1"}), authz.OK, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := c.p.Handshake(c.r, vectNow)
			checkReason(t, err, c.want)
			switch {
			case c.wantBody == "" && resp != nil:
				t.Fatalf("answered %q", resp.Body)
			case c.wantBody != "" && (resp == nil || string(resp.Body) != c.wantBody || resp.ContentType != c.contentType):
				t.Fatalf("answer %+v, want %s %q", resp, c.contentType, c.wantBody)
			}
		})
	}
}

// crcAnswer is X's CRC answer computed here, from X's documentation.
func crcAnswer(secret, token string) string {
	return "sha256=" + b64(hm(sha256.New, secret, token))
}

// TestCRCIsNotASigningOracle: X's CRC answers HMAC(secret, token) for an
// unsigned request. hookguard answers only tokens of X's shape, and accepts
// as deliveries only JSON objects: so no answer is the signature of a
// delivery hookguard would accept. Checked the way an attacker would try:
// ask for the CRC of a forged body, then send the body with the answer.
func TestCRCIsNotASigningOracle(t *testing.T) {
	const secret = "consumer-secret"
	x := handshakeProvider(t, "twitter", secret)
	crc := func(token string) (*authz.Response, error) {
		return x.Handshake(request("GET", "https://h.example/x?crc_token="+url.QueryEscape(token), nil), vectNow)
	}

	resp, err := crc("Zm9vYmFyLTEyMw_-")
	if err != nil || resp == nil {
		t.Fatalf("a token of X's shape: %v, %v", resp, err)
	}
	var ans struct {
		ResponseToken string `json:"response_token"`
	}
	if json.Unmarshal(resp.Body, &ans) != nil || ans.ResponseToken != crcAnswer(secret, "Zm9vYmFyLTEyMw_-") || resp.ContentType != "application/json" {
		t.Fatalf("answer %s, want %s", resp.Body, crcAnswer(secret, "Zm9vYmFyLTEyMw_-"))
	}
	if resp, err := crc("dG9rZW4="); err != nil || resp == nil {
		t.Fatalf("padded token: %v, %v", resp, err)
	}

	forged := `{"direct_message_events":[{"type":"message_create"}]}`
	for _, token := range []string{forged, "{}", "a.b", "a b", "a+b/c", strings.Repeat("a", maxCRCToken+1), "a===", "=", "é"} {
		resp, err := crc(token)
		if resp != nil || reasonOf(err) != authz.SignatureInvalid {
			t.Errorf("token %q: answered %v, %v", token, resp, err)
		}
	}

	// Even a token of X's shape cannot be replayed as a delivery: its
	// answer verifies only a body equal to the token, which is no JSON
	// object.
	for _, token := range []string{"abc", "e30", strings.Repeat("A", maxCRCToken)} {
		resp, err := crc(token)
		if err != nil || resp == nil {
			t.Fatalf("token %q: %v", token, err)
		}
		json.Unmarshal(resp.Body, &ans)
		r := request("POST", "", []byte(token), authz.HeaderValue{Name: "x-twitter-webhooks-signature", Value: ans.ResponseToken})
		if _, err := x.Verify(r, vectNow); reasonOf(err) != authz.SignatureInvalid {
			t.Errorf("the answer to %q verified a delivery: %v", token, err)
		}
	}

	// A real delivery still verifies.
	r := request("POST", "", []byte(vbody), authz.HeaderValue{Name: "x-twitter-webhooks-signature", Value: crcAnswer(secret, vbody)})
	if _, err := x.Verify(r, vectNow); err != nil {
		t.Fatalf("delivery: %v", err)
	}
	// A CRC over POST, or without crc_token, is a delivery, not a
	// handshake.
	if resp, err := x.Handshake(request("POST", "https://h.example/x?crc_token=abc", []byte(vbody)), vectNow); resp != nil || err != nil {
		t.Errorf("POST with crc_token: %v, %v", resp, err)
	}
}

func TestXeroIntentToReceive(t *testing.T) {
	const secret = "xero-key"
	x := handshakeProvider(t, "xero", secret)
	itr := `{"events":[],"firstEventSequence":0,"lastEventSequence":0,"entropy":"S0m3r4Nd0mt3xt"}`
	signed := func(body, key string) *authz.Request {
		return request("POST", "", []byte(body), authz.HeaderValue{Name: "x-xero-signature", Value: b64(hm(sha256.New, key, body))})
	}
	resp, err := x.Handshake(signed(itr, secret), vectNow)
	if err != nil || resp == nil || len(resp.Body) != 0 {
		t.Fatalf("signed intent to receive: %v, %v", resp, err)
	}
	if resp, err := x.Handshake(signed(itr, "other"), vectNow); resp != nil || reasonOf(err) != authz.SignatureInvalid {
		t.Fatalf("intent to receive under another key: %v, %v; Xero expects 401", resp, err)
	}
	event := `{"events":[{"resourceUrl":"https://api.xero.com/api.xro/2.0/Contacts/1"}],"firstEventSequence":1,"lastEventSequence":1}`
	if resp, err := x.Handshake(signed(event, secret), vectNow); resp != nil || err != nil {
		t.Fatalf("a delivery with events is no handshake: %v, %v", resp, err)
	}
	if _, err := x.Verify(signed(event, secret), vectNow); err != nil {
		t.Fatalf("delivery: %v", err)
	}
}

// TestHandshakesOfMechanisms: a provider whose mechanism answers
// handshakes (Zoom) still answers them through the catalog.
func TestHandshakesOfMechanisms(t *testing.T) {
	z := handshakeProvider(t, "zoom", "zoom-secret")
	body := `{"event":"endpoint.url_validation","payload":{"plainToken":"p-1"}}`
	r := request("POST", "", []byte(body),
		authz.HeaderValue{Name: "x-zm-request-timestamp", Value: vts},
		authz.HeaderValue{Name: "x-zm-signature", Value: "v0=" + hx(hm(sha256.New, "zoom-secret", "v0:", vts, ":", body))})
	resp, err := z.Handshake(r, vectNow)
	if err != nil || resp == nil || !strings.Contains(string(resp.Body), hx(hm(sha256.New, "zoom-secret", "p-1"))) {
		t.Fatalf("zoom validation: %v, %v", resp, err)
	}
	_ = sha1.New
}

// TestEchoHandshakeJSONOverPOST: an echo read from a POST header can be
// answered as a JSON field (the shape Smartsheet's challenge asks for),
// and a request of another method is not answered.
func TestEchoHandshakeJSONOverPOST(t *testing.T) {
	e := echoResponder{spec: handshakeSpec{Kind: "echo", Method: "POST", Header: "x-hook-challenge", JSONField: "hookResponse"}}
	if err := e.spec.check(); err != nil {
		t.Fatal(err)
	}
	resp, err := e.answer(nil, request("POST", "", []byte(`{"challenge":"s-1"}`), authz.HeaderValue{Name: "x-hook-challenge", Value: "s-1"}), vectNow)
	if err != nil || resp == nil || string(resp.Body) != `{"hookResponse":"s-1"}` || resp.ContentType != "application/json" {
		t.Fatalf("answer %+v, %v", resp, err)
	}
	resp, err = e.answer(nil, request("GET", "", nil, authz.HeaderValue{Name: "x-hook-challenge", Value: "s-1"}), vectNow)
	if resp != nil || err != nil {
		t.Fatalf("GET answered: %+v, %v", resp, err)
	}
}

package verify

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hookguard/hookguard/authz"
)

// mailgunJSON is a Mailgun JSON webhook body with the given signature
// object. Mailgun publishes no vector with its key, so signatures are
// computed here.
func mailgunJSON(ts, token, sig string) []byte {
	return []byte(fmt.Sprintf(`{"signature":{"timestamp":%q,"token":%q,"signature":%q},"event-data":{"event":"delivered","id":"CPgfbmQMTCKtHW6uIWtuVe"}}`, ts, token, sig))
}

func mailgunSig(key, ts, token string) string {
	return hexString(newMACKey(sha256.New, authz.Secret(key)).sum(nil, []byte(ts), []byte(token)))
}

func init() {
	withoutSuite["mailgun"] = "the signature travels in the body, not in a header; TestMailgun checks what applies"
}

func TestMailgun(t *testing.T) {
	const key, token = "key-signing", "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0"
	ts := fmt.Sprint(t0.Unix())
	good := mailgunSig(key, ts, token)
	form := url.Values{"timestamp": {ts}, "token": {token}, "signature": {good}, "recipient": {"a@example.com"}}.Encode()
	cases := []struct {
		name        string
		keys        []string
		contentType string
		body        []byte
		now         time.Time
		want        authz.Reason
	}{
		{"JSON", []string{key}, "application/json", mailgunJSON(ts, token, good), t0, authz.OK},
		{"form", []string{key}, "application/x-www-form-urlencoded", []byte(form), t0, authz.OK},
		{"rotation", []string{"old", key}, "application/json", mailgunJSON(ts, token, good), t0, authz.OK},
		{"wrong key", []string{"other"}, "application/json", mailgunJSON(ts, token, good), t0, authz.SignatureInvalid},
		{"mutated token", []string{key}, "application/json", mailgunJSON(ts, token+"0", good), t0, authz.SignatureInvalid},
		{"mutated timestamp", []string{key}, "application/json", mailgunJSON(fmt.Sprint(t0.Unix()+1), token, good), t0, authz.SignatureInvalid},
		{"stale", []string{key}, "application/json", mailgunJSON(ts, token, good), t0.Add(MailgunDefaultTolerance + time.Second), authz.TimestampOutOfWindow},
		{"future", []string{key}, "application/json", mailgunJSON(ts, token, good), t0.Add(-MailgunDefaultTolerance - time.Second), authz.TimestampOutOfWindow},
		{"no signature object", []string{key}, "application/json", []byte(`{"event-data":{}}`), t0, authz.SignatureMissing},
		{"not JSON", []string{key}, "application/json", []byte(`nope`), t0, authz.SignatureMissing},
		{"malformed signature", []string{key}, "application/json", mailgunJSON(ts, token, "zz"), t0, authz.SignatureInvalid},
		{"token too long", []string{key}, "application/json", mailgunJSON(ts, strings.Repeat("a", maxIDLength+1), good), t0, authz.SignatureInvalid},
		{"numeric timestamp", []string{key}, "application/json", []byte(fmt.Sprintf(`{"signature":{"timestamp":%s,"token":%q,"signature":%q}}`, ts, token, good)), t0, authz.OK},
		// The member is found as encoding/json finds a field, and nothing
		// else of the body is decoded.
		{"signature object last", []string{key}, "application/json", []byte(`{"event-data":{"a":["}",{"signature":1}]},` + string(mailgunJSON(ts, token, good))[1:]), t0, authz.OK},
		{"member name in capitals", []string{key}, "application/json", bytes.Replace(mailgunJSON(ts, token, good), []byte(`"signature":{`), []byte(`"SIGNATURE":{`), 1), t0, authz.OK},
		{"member name escaped", []string{key}, "application/json", bytes.Replace(mailgunJSON(ts, token, good), []byte(`"signature":{`), []byte(`"\u0073ignature":{`), 1), t0, authz.OK},
		{"signature object twice", []string{key}, "application/json", []byte(`{"Signature":{"token":"x"},` + string(mailgunJSON(ts, token, good))[1:]), t0, authz.SignatureInvalid},
		{"signature object too long", []string{key}, "application/json", mailgunJSON(ts, token, good+`","pad":"`+strings.Repeat("x", maxSignatureHeader)), t0, authz.SignatureInvalid},
		{"signature object not an object", []string{key}, "application/json", []byte(`{"signature":"x"}`), t0, authz.SignatureMissing},
		{"trailing data", []string{key}, "application/json", append(mailgunJSON(ts, token, good), " x"...), t0, authz.SignatureMissing},
		{"not an object", []string{key}, "application/json", []byte(`[` + string(mailgunJSON(ts, token, good)) + `]`), t0, authz.SignatureMissing},
		{"form, escaped names", []string{key}, "application/x-www-form-urlencoded", []byte(strings.NewReplacer("timestamp=", "%74imestamp=", "token=", "t%6Fken=").Replace(form)), t0, authz.OK},
		{"form, first value counts", []string{key}, "application/x-www-form-urlencoded", []byte(form + "&signature=00"), t0, authz.OK},
		{"form, malformed escape elsewhere", []string{key}, "application/x-www-form-urlencoded", []byte(form + "&x=%zz"), t0, authz.SignatureMissing},
		{"form, semicolon", []string{key}, "application/x-www-form-urlencoded", []byte(form + "&x=1;y=2"), t0, authz.SignatureMissing},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := NewMailgun(secrets(c.keys...), 0)
			r := request("POST", "", c.body, authz.HeaderValue{Name: "Content-Type", Value: c.contentType})
			got, err := v.Verify(r, c.now)
			checkReason(t, err, c.want)
			if c.want == authz.OK && (got.ReplayKey == nil || got.DeliveryID != token) {
				t.Fatalf("verified %+v", got)
			}
		})
	}
}

func TestMailgunSignBody(t *testing.T) {
	body, err := SignMailgunBody(authz.Secret("k"), Message{Body: []byte(`{"event-data":{"event":"opened"}}`), Time: t0})
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil || doc["event-data"] == nil {
		t.Fatalf("body %s: %v", body, err)
	}
	r := request("POST", "", body, authz.HeaderValue{Name: "Content-Type", Value: "application/json"})
	_, err = NewMailgun(secrets("k"), 0).Verify(r, t0)
	checkReason(t, err, authz.OK)
	if _, err := Sign("mailgun", authz.Secret("k"), Message{}); err == nil {
		t.Fatal("Sign made headers for a body-signed scheme")
	}
}

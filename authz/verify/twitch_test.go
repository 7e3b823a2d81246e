package verify

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/hookguard/hookguard/authz"
)

func init() { schemeSuites["twitch"] = testTwitchSuite }

func testTwitchSuite(t *testing.T) {
	runSuite(t, suite{
		scheme: "twitch",
		verifier: func(t *testing.T, keys ...authz.Secret) authz.Verifier {
			return NewTwitch(keys, 0)
		},
		signKeys: hmacKeys, verifyKeys: hmacKeys,
		msg:       Message{Body: []byte(`{"subscription":{"type":"channel.follow"},"event":{}}`)},
		sigHeader: TwitchSignatureHeader, tsHeader: TwitchTimestampHeader,
		tolerance: TwitchDefaultTolerance, stableReplayKey: true,
		malformed: []string{"sha256=", "sha256=zz", "v0=00"},
	})
}

func TestTwitchTimestamps(t *testing.T) {
	v := NewTwitch(hmacKeys, 0)
	body := []byte(`{"event":{}}`)
	for _, c := range []struct {
		name, ts string
		want     authz.Reason
	}{
		{"nanoseconds", "2023-11-14T22:13:20.634234626Z", authz.OK},
		{"offset", "2023-11-14T23:13:20+01:00", authz.OK},
		{"unix seconds", "1700000000", authz.SignatureInvalid},
		{"eleven minutes old", "2023-11-14T22:02:20Z", authz.TimestampOutOfWindow},
		{"eleven minutes ahead", "2023-11-14T22:24:20Z", authz.TimestampOutOfWindow},
	} {
		t.Run(c.name, func(t *testing.T) {
			// Twitch signs the timestamp as sent, so sign the text itself.
			mac := newMACKey(sha256.New, hmacKeys[0]).sum(nil, []byte("m1"), []byte(c.ts), body)
			r := request("POST", "", body,
				authz.HeaderValue{Name: TwitchIDHeader, Value: "m1"},
				authz.HeaderValue{Name: TwitchTimestampHeader, Value: c.ts},
				authz.HeaderValue{Name: TwitchSignatureHeader, Value: "sha256=" + hexString(mac)})
			_, err := v.Verify(r, time.Unix(1_700_000_000, 0))
			checkReason(t, err, c.want)
		})
	}
}

func TestTwitchHandshake(t *testing.T) {
	v := NewTwitch(hmacKeys[:1], 0)
	body := []byte(`{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"id":"f1c2a387"}}`)
	h, _ := signTwitch(hmacKeys[0], Message{Body: body, ID: "m1", Time: t0})
	verification := func(h []authz.HeaderValue, body []byte) *authz.Request {
		r := request("POST", "", body, h...)
		r.Header[TwitchTypeHeader] = "webhook_callback_verification"
		return r
	}
	resp, err := v.Handshake(verification(h, body), t0)
	if err != nil || resp == nil || string(resp.Body) != "pogchamp-kappa-360noscope-vohiyo" || resp.ContentType != "text/plain" {
		t.Fatalf("Handshake = %+v, %v", resp, err)
	}
	bad, _ := signTwitch(hmacKeys[1], Message{Body: body, ID: "m1", Time: t0})
	noChallenge := []byte(`{"subscription":{}}`)
	hNo, _ := signTwitch(hmacKeys[0], Message{Body: noChallenge, ID: "m1", Time: t0})
	for _, c := range []struct {
		name string
		r    *authz.Request
		want authz.Reason
	}{
		{"notification is not a handshake", request("POST", "", body, h...), authz.OK},
		{"wrong secret", verification(bad, body), authz.SignatureInvalid},
		{"unsigned", verification(nil, body), authz.SignatureMissing},
		{"no challenge", verification(hNo, noChallenge), authz.SignatureInvalid},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, err := v.Handshake(c.r, t0)
			checkReason(t, err, c.want)
			if resp != nil {
				t.Fatal("answered")
			}
		})
	}
}

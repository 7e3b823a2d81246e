package verify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/hookguard/hookguard/authz"
)

func init() { schemeSuites["zoom"] = testZoomSuite }

func testZoomSuite(t *testing.T) {
	runSuite(t, suite{
		scheme: "zoom",
		verifier: func(t *testing.T, keys ...authz.Secret) authz.Verifier {
			return NewZoom(keys, 0)
		},
		signKeys: hmacKeys, verifyKeys: hmacKeys,
		msg:       Message{Body: []byte(`{"event":"meeting.started","payload":{}}`)},
		sigHeader: ZoomSignatureHeader, tsHeader: ZoomTimestampHeader,
		tolerance: ZoomDefaultTolerance,
		malformed: []string{"v0=", "v1=00", "sha256=00"},
	})
}

func TestZoomHandshake(t *testing.T) {
	body := []byte(`{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}`)
	v := NewZoom(hmacKeys[1:], 0) // the second secret of the rotation signs
	h, _ := signZoom(hmacKeys[2], Message{Body: body, Time: t0})
	valid := request("POST", "", body, h...)

	resp, err := v.Handshake(valid, t0)
	if err != nil || resp == nil {
		t.Fatalf("Handshake = %v, %v", resp, err)
	}
	var got struct{ PlainToken, EncryptedToken string }
	if err := json.Unmarshal(resp.Body, &got); err != nil || resp.ContentType != "application/json" {
		t.Fatalf("response %q %q: %v", resp.ContentType, resp.Body, err)
	}
	m := hmac.New(sha256.New, hmacKeys[2])
	m.Write([]byte("qgg8vlvZRS6UYooatFL8Aw"))
	if got.PlainToken != "qgg8vlvZRS6UYooatFL8Aw" || got.EncryptedToken != hex.EncodeToString(m.Sum(nil)) {
		t.Fatalf("response = %+v", got)
	}

	cases := []struct {
		name string
		r    *authz.Request
		want authz.Reason // OK with a nil response: not a handshake
	}{
		{"ordinary delivery", request("POST", "", []byte(`{"event":"meeting.started"}`), h...), authz.OK},
		{"event name in a field value only", request("POST", "", []byte(`{"event":"x","note":"endpoint.url_validation"}`), h...), authz.OK},
		{"unsigned validation", request("POST", "", body), authz.SignatureMissing},
		{"validation signed with another secret", func() *authz.Request {
			h, _ := signZoom(hmacKeys[0], Message{Body: body, Time: t0})
			return request("POST", "", body, h...)
		}(), authz.SignatureInvalid},
		{"stale validation", func() *authz.Request {
			h, _ := signZoom(hmacKeys[2], Message{Body: body, Time: t0.Add(-ZoomDefaultTolerance - 1e9)})
			return request("POST", "", body, h...)
		}(), authz.TimestampOutOfWindow},
		{"validation without token", func() *authz.Request {
			b := []byte(`{"payload":{},"event":"endpoint.url_validation"}`)
			h, _ := signZoom(hmacKeys[2], Message{Body: b, Time: t0})
			return request("POST", "", b, h...)
		}(), authz.SignatureInvalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, err := v.Handshake(c.r, t0)
			checkReason(t, err, c.want)
			if resp != nil {
				t.Fatal("answered a request that is not a valid handshake")
			}
		})
	}
}

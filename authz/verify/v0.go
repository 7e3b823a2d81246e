package verify

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"

	"github.com/hookguard/hookguard/authz"
)

// The "v0" scheme Slack and Zoom share: the signature header is "v0=" and
// the hex HMAC-SHA256 of "v0:<ts>:<body>", ts being the timestamp header's
// Unix time in seconds, as sent.

// v0Prefix opens the signed content.
var v0Prefix = []byte("v0:")

// verifyV0 checks the v0 signature in sigHeader and the timestamp in
// tsHeader. The replay key is the ContentKey of the signed content, which
// holds the timestamp. It also returns the index of the matching key, for Zoom's
// handshake, which answers under that same secret.
func verifyV0(keys []*macKey, r *authz.Request, sigHeader, tsHeader string, now time.Time, tolerance time.Duration) (v authz.Verified, key int, err error) {
	sig, err := signatureHeader(r, sigHeader)
	if err != nil {
		return v, -1, err
	}
	// The timestamp comes before the signature: a stale request is
	// refused as such, whatever its signature.
	ts, err := timestampHeader(r, tsHeader, now, tolerance)
	if err != nil {
		return v, -1, err
	}
	var want [sha256.Size]byte
	if err := decodePrefixedHex(want[:], sig, "v0="); err != nil {
		return v, -1, err
	}
	replayKey, key := matchAnyMAC(keys, [][]byte{want[:]}, v0Prefix, []byte(ts), colon, r.Body)
	if replayKey == nil {
		return v, -1, errNoSecretMatches
	}
	v.ReplayKey = replayKey
	return v, key, nil
}

// signV0 returns the v0 signature and timestamp header values.
func signV0(secret authz.Secret, m Message) (sig, ts string) {
	ts = strconv.FormatInt(m.Time.Unix(), 10)
	mac := newMACKey(sha256.New, secret).sum(nil, v0Prefix, []byte(ts), colon, m.Body)
	return "v0=" + hex.EncodeToString(mac), ts
}

package verify

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzJSONMember: for valid JSON, jsonMember finds the member
// encoding/json decodes into a field of that name, byte for byte, or
// refuses an object naming it twice.
func FuzzJSONMember(f *testing.F) {
	for _, s := range []string{
		`{"signature":{"timestamp":"1","token":"t","signature":"s"},"event-data":{}}`,
		`{"a":[1,"]",{"b":"\"}"}],"Signature":null}`,
		`{"\u0073ignature":1, "sİgnature":2}`,
		`{"ſignature":"long s"}`,
		`{"signaturE" : [ ] , "x":-1.5e3}`,
		`{"sig\u006eature":true}`,
		`{"\ud800ignature":1}`,
		`{"a":"\\\\\"","signature":"x\\"}`,
		` { } `,
		`[]`,
		`{"signature":1}{}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		value, found, err := jsonMember(body, "signature")
		if !json.Valid(body) {
			return
		}
		var want struct {
			Signature json.RawMessage `json:"signature"`
		}
		if json.Unmarshal(body, &want) != nil {
			// Not an object.
			if found || err != nil {
				t.Fatalf("found %q (%v) in a body that is not an object", value, err)
			}
			return
		}
		if err != nil {
			return
		}
		if !found && want.Signature != nil || found && !bytes.Equal(value, want.Signature) {
			t.Fatalf("found %q (%v), encoding/json decodes %q", value, found, want.Signature)
		}
	})
}

func TestJSONNameMatches(t *testing.T) {
	for _, c := range []struct {
		key  string
		want bool
	}{
		{"signature", true},
		{"Signature", true},
		{`\u0053IGNATURE`, true},
		{"ſignature", true},
		{"sİgnature", false},
		{"signatures", false},
		{"signatur", false},
		{`signatur\u0065`, true},
		{`signatur\`, false},
		{"sig\xffnature", false},
	} {
		if got := jsonNameMatches([]byte(c.key), "signature"); got != c.want {
			t.Errorf("jsonNameMatches(%q) = %v, want %v", c.key, got, c.want)
		}
	}
}

package verify

import "testing"

func FuzzPaddleHeader(f *testing.F) {
	f.Add("ts=1671552777;h1=eb4d0dc8853be92b7f063b9f3ba5233eb920a09459b6e6b2c26705b4364db151")
	f.Add("ts=;ts=;h1")
	f.Fuzz(func(t *testing.T, h string) {
		p, err := parsePaddleHeader(h)
		if err != nil {
			return
		}
		if p.n < 1 || p.n > maxSignatures {
			t.Fatalf("%d signatures", p.n)
		}
	})
}

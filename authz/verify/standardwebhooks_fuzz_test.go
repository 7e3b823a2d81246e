package verify

import "testing"

func FuzzStandardWebhooksSignatures(f *testing.F) {
	f.Add(swV1 + " " + swV1a)
	f.Add("v1, v1a,,, v2,x\tv1,AAAA")
	f.Add("   ")
	f.Fuzz(func(t *testing.T, h string) {
		p, err := parseStandardWebhooksSignatures(h)
		if err != nil {
			return
		}
		if n := p.n1 + p.n1a; n < 1 || n > maxSignatures {
			t.Fatalf("%d signatures", n)
		}
	})
}

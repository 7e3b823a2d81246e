package verify

import "testing"

func FuzzStripeHeader(f *testing.F) {
	f.Add("t=1700000000,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd,v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39")
	f.Add("t=1,t=2")
	f.Add(",,=,v1=,v1")
	f.Fuzz(func(t *testing.T, h string) {
		p, err := parseStripeHeader(h)
		if err != nil {
			return
		}
		if p.n < 1 || p.n > maxSignatures || len(h) > maxSignatureHeader {
			t.Fatalf("%d signatures from a %d-byte header", p.n, len(h))
		}
	})
}

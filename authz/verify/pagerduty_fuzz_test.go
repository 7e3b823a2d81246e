package verify

import "testing"

func FuzzPagerDutySignatures(f *testing.F) {
	f.Add("v1=00ff,v1=abcd")
	f.Add(" , v1=, v2=x,")
	f.Fuzz(func(t *testing.T, h string) {
		p, err := parsePagerDutySignatures(h)
		if err != nil {
			return
		}
		if p.n < 1 || p.n > maxSignatures {
			t.Fatalf("%d signatures", p.n)
		}
	})
}

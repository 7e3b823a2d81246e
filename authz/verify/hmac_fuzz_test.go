package verify

import "testing"

func FuzzHMACSignatures(f *testing.F) {
	f.Add("v1=00,v0=11, v1=22", ",")
	f.Add("v1,abc v1,def", " ")
	f.Add("v1=00", "")
	f.Fuzz(func(t *testing.T, h, sep string) {
		if len(sep) > 4 {
			return
		}
		v, err := NewHMAC(HMACConfig{Secrets: hmacKeys, Header: "x-sig", Prefix: "v1=", Separator: sep})
		if err != nil {
			return
		}
		_, n, err := v.parseSignatures(h)
		if err == nil && (n < 1 || n > maxSignatures) {
			t.Fatalf("%d signatures", n)
		}
	})
}

func FuzzHMACTemplate(f *testing.F) {
	f.Add("{id}.{timestamp}.{body}")
	f.Add("{{body}}")
	f.Add("v0:{timestamp}:{body}{")
	f.Fuzz(func(t *testing.T, tmpl string) {
		segs, err := parseTemplate(tmpl)
		if err == nil && len(segs) > maxTemplateSegments {
			t.Fatalf("%d segments", len(segs))
		}
	})
}

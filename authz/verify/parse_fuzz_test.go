package verify

import (
	"strconv"
	"testing"
	"time"
)

func FuzzParseUnix(f *testing.F) {
	f.Add("1700000000")
	f.Add("-1")
	f.Add("99999999999999999999")
	f.Add("0x10")
	f.Add("01700000000")
	f.Fuzz(func(t *testing.T, s string) {
		ts, ok := parseUnix(s, time.Second)
		if !ok {
			return
		}
		// One spelling per instant.
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 || ts.Unix() != n || strconv.FormatInt(n, 10) != s {
			t.Fatalf("%q parsed as %v", s, ts)
		}
	})
}

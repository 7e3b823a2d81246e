package verify

import "bytes"

// Decoding urlencoded forms in one pass over the body, into buffers the
// caller reuses: url.ParseQuery allocates a string per name and value and
// a map, which makes a stranger's megabyte of small parameters cost several
// times what hashing it does.

// appendQueryUnescape appends s, a urlencoded form name or value, to dst
// decoded as url.QueryUnescape decodes it: '+' is a space and %XX a byte.
// It reports false on a malformed escape.
func appendQueryUnescape(dst, s []byte) ([]byte, bool) {
	if bytes.IndexByte(s, '%') < 0 && bytes.IndexByte(s, '+') < 0 {
		return append(dst, s...), true
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '+':
			dst = append(dst, ' ')
		case '%':
			if i+2 >= len(s) {
				return dst, false
			}
			hi, lo := hexValue[s[i+1]], hexValue[s[i+2]]
			if hi|lo < 0 {
				return dst, false
			}
			dst = append(dst, byte(hi<<4|lo))
			i += 2
		default:
			dst = append(dst, c)
		}
	}
	return dst, true
}

// validQueryEscapes reports whether every % in s starts an escape, so that
// appendQueryUnescape would decode it.
func validQueryEscapes(s []byte) bool {
	for {
		i := bytes.IndexByte(s, '%')
		if i < 0 {
			return true
		}
		if i+2 >= len(s) || hexValue[s[i+1]]|hexValue[s[i+2]] < 0 {
			return false
		}
		s = s[i+3:]
	}
}

// hexValue maps a hex digit to its value, any other byte to -1.
var hexValue = func() (t [256]int8) {
	for c := range t {
		switch {
		case '0' <= c && c <= '9':
			t[c] = int8(c - '0')
		case 'a' <= c && c <= 'f':
			t[c] = int8(c - 'a' + 10)
		case 'A' <= c && c <= 'F':
			t[c] = int8(c - 'A' + 10)
		default:
			t[c] = -1
		}
	}
	return t
}()

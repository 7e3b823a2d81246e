package verify

import (
	"bytes"
	"errors"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Finding one member of a large JSON object without decoding the rest: a
// scheme that signs in the body (Mailgun) needs a few bytes of it, and
// encoding/json would make a stranger's megabyte of small tokens cost
// tens of times what hashing it does.

// errDuplicateMember refuses an object naming the wanted member twice,
// which encoding/json would merge into one value.
var errDuplicateMember = errors.New("member given twice")

// jsonMember returns the raw value of the top-level member of the JSON
// object body whose name matches name as encoding/json matches a struct
// field's: after unescaping, exactly or under its case folding. Other
// values are skipped in one pass over their bytes, without being decoded or
// validated. found is false when body is not an object or has no such
// member; the error is errDuplicateMember when it has two.
//
// For valid JSON the value is the one encoding/json would decode into a
// field of that name; for invalid JSON it is a best effort, which is all a
// caller needing no more than the member may rely on.
func jsonMember(body []byte, name string) (value []byte, found bool, err error) {
	meter.scan(len(body))
	i := skipJSONSpace(body, 0)
	if i == len(body) || body[i] != '{' {
		return nil, false, nil
	}
	i = skipJSONSpace(body, i+1)
	if i < len(body) && body[i] == '}' {
		return nil, false, nil
	}
	for {
		if i == len(body) || body[i] != '"' {
			return nil, false, nil
		}
		end, ok := skipJSONString(body, i)
		if !ok {
			return nil, false, nil
		}
		key := body[i+1 : end-1]
		i = skipJSONSpace(body, end)
		if i == len(body) || body[i] != ':' {
			return nil, false, nil
		}
		i = skipJSONSpace(body, i+1)
		vEnd, ok := skipJSONValue(body, i)
		if !ok {
			return nil, false, nil
		}
		if jsonNameMatches(key, name) {
			if found {
				return nil, false, errDuplicateMember
			}
			value, found = body[i:vEnd], true
		}
		i = skipJSONSpace(body, vEnd)
		switch {
		case i < len(body) && body[i] == ',':
			i = skipJSONSpace(body, i+1)
		case i < len(body) && body[i] == '}':
			if skipJSONSpace(body, i+1) != len(body) {
				return nil, false, nil
			}
			return value, found, nil
		default:
			return nil, false, nil
		}
	}
}

// skipJSONSpace returns the index of the first byte at or after i that is
// not JSON whitespace.
func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipJSONString returns the index just past the string opening at b[i].
// A quote closes it when an even number of backslashes precedes it; each
// backslash is walked back over once at most, so the pass stays linear.
func skipJSONString(b []byte, i int) (int, bool) {
	for j := i + 1; ; {
		q := bytes.IndexByte(b[j:], '"')
		if q < 0 {
			return 0, false
		}
		q += j
		n := 0
		for k := q - 1; k > i && b[k] == '\\'; k-- {
			n++
		}
		if n%2 == 0 {
			return q + 1, true
		}
		j = q + 1
	}
}

// skipJSONValue returns the index just past the value starting at b[i]:
// a string, an object or array (brackets counted, strings skipped), or a
// number or literal (up to the next delimiter).
func skipJSONValue(b []byte, i int) (int, bool) {
	if i == len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		return skipJSONString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				end, ok := skipJSONString(b, i)
				if !ok {
					return 0, false
				}
				i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return 0, false
	}
	start := i
	for i < len(b) && !endsJSONScalar(b[i]) {
		i++
	}
	return i, i > start
}

// endsJSONScalar reports whether c ends a number or literal.
func endsJSONScalar(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

// jsonNameMatches reports whether the raw (still escaped) JSON string key
// names the field name, an ASCII lower-case name, as encoding/json decides:
// the unescaped key is name, or equal to it under Unicode simple case
// folding, which lets "SIGNATURE" and "ſignature" (long s) match
// "signature". Invalid UTF-8 and lone surrogates read as U+FFFD, as
// encoding/json reads them.
func jsonNameMatches(key []byte, name string) bool {
	// Every rune that folds to an ASCII letter takes at most 3 bytes, or
	// 6 escaped: a longer key cannot match, whatever it holds.
	if len(key) > 6*len(name) {
		return false
	}
	n := 0
	for i := 0; i < len(key); n++ {
		r, size := nextJSONRune(key[i:])
		if size == 0 || n == len(name) {
			return false
		}
		i += size
		if want := rune(name[n]); r != want && foldRune(r) != foldRune(want) {
			return false
		}
	}
	return n == len(name)
}

// foldRune returns the smallest rune of r's case folding orbit, as
// encoding/json folds names.
func foldRune(r rune) rune {
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2
		}
		r = r2
	}
}

// nextJSONRune decodes the first rune of the raw JSON string s and returns
// it with the bytes it took, or size 0 when s starts with a malformed
// escape.
func nextJSONRune(s []byte) (r rune, size int) {
	if s[0] != '\\' {
		return utf8.DecodeRune(s)
	}
	if len(s) < 2 {
		return 0, 0
	}
	switch s[1] {
	case '"', '\\', '/':
		return rune(s[1]), 2
	case 'b':
		return '\b', 2
	case 'f':
		return '\f', 2
	case 'n':
		return '\n', 2
	case 'r':
		return '\r', 2
	case 't':
		return '\t', 2
	case 'u':
		r, ok := jsonHex4(s[2:])
		if !ok {
			return 0, 0
		}
		if !utf16.IsSurrogate(r) {
			return r, 6
		}
		// A surrogate pair is one rune; a lone surrogate is U+FFFD.
		if len(s) >= 12 && s[6] == '\\' && s[7] == 'u' {
			if r2, ok := jsonHex4(s[8:]); ok {
				if dec := utf16.DecodeRune(r, r2); dec != unicode.ReplacementChar {
					return dec, 12
				}
			}
		}
		return unicode.ReplacementChar, 6
	}
	return 0, 0
}

// jsonHex4 reads the four hex digits of a \u escape.
func jsonHex4(s []byte) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range s[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

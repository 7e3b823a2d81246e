package verify

import (
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
)

// A minimal parser and serializer for RFC 8941 Structured Field
// dictionaries, as Signature-Input, Signature and Content-Digest use them.
// It refuses what a signer never sends rather than guessing, and bounds
// everything: member, list and parameter counts, and integer size.

// Bounds of one structured field.
const (
	maxSFMembers    = maxSignatures
	maxSFInnerList  = 32
	maxSFParameters = 16
)

var errSF = errors.New("malformed structured field")

// sfKind is the type of a bare item.
type sfKind uint8

const (
	sfInteger sfKind = iota + 1
	sfDecimal
	sfString
	sfToken
	sfBytes
	sfBoolean
)

// sfBare is a bare item. str holds a string's unescaped value, a token, or
// a decimal's text (kept as sent: hookguard never computes with one).
type sfBare struct {
	kind  sfKind
	str   string
	num   int64
	bytes []byte
	bool  bool
}

// sfParam is one parameter; order matters for serialization.
type sfParam struct {
	key   string
	value sfBare
}

// sfItem is an item with its parameters.
type sfItem struct {
	bare   sfBare
	params []sfParam
}

// sfMember is one dictionary member: an item, or (isList) an inner list
// whose parameters are item.params.
type sfMember struct {
	key    string
	item   sfItem
	inner  []sfItem
	isList bool
}

// param returns the parameter named key.
func param(ps []sfParam, key string) (sfBare, bool) {
	for _, p := range ps {
		if p.key == key {
			return p.value, true
		}
	}
	return sfBare{}, false
}

// sfParser walks the input.
type sfParser struct {
	s string
	i int
}

// parseSFDictionary parses a dictionary of at most maxSFMembers members.
// A repeated key keeps its last value, as RFC 8941 says.
func parseSFDictionary(s string) ([]sfMember, error) {
	p := &sfParser{s: s}
	p.skipSP()
	var out []sfMember
	for p.i < len(p.s) {
		key, err := p.key()
		if err != nil {
			return nil, err
		}
		m := sfMember{key: key}
		if p.peek() == '=' {
			p.i++
			if p.peek() == '(' {
				m.isList = true
				if m.inner, m.item.params, err = p.innerList(); err != nil {
					return nil, err
				}
			} else if m.item, err = p.item(); err != nil {
				return nil, err
			}
		} else {
			m.item.bare = sfBare{kind: sfBoolean, bool: true}
			if m.item.params, err = p.params(); err != nil {
				return nil, err
			}
		}
		replaced := false
		for j := range out {
			if out[j].key == key {
				out[j] = m
				replaced = true
			}
		}
		if !replaced {
			if len(out) == maxSFMembers {
				return nil, errSF
			}
			out = append(out, m)
		}
		p.skipOWS()
		if p.i == len(p.s) {
			return out, nil
		}
		if p.s[p.i] != ',' {
			return nil, errSF
		}
		p.i++
		p.skipOWS()
		if p.i == len(p.s) {
			return nil, errSF // trailing comma
		}
	}
	return out, nil
}

func (p *sfParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *sfParser) skipSP() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *sfParser) skipOWS() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func isLCAlpha(c byte) bool { return 'a' <= c && c <= 'z' }
func isDigit(c byte) bool   { return '0' <= c && c <= '9' }
func isAlpha(c byte) bool   { return isLCAlpha(c) || 'A' <= c && c <= 'Z' }

// isTChar reports an RFC 9110 tchar.
func isTChar(c byte) bool {
	return isAlpha(c) || isDigit(c) || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func (p *sfParser) key() (string, error) {
	start := p.i
	if c := p.peek(); !isLCAlpha(c) && c != '*' {
		return "", errSF
	}
	for p.i < len(p.s) {
		c := p.s[p.i]
		if !isLCAlpha(c) && !isDigit(c) && c != '_' && c != '-' && c != '.' && c != '*' {
			break
		}
		p.i++
	}
	return p.s[start:p.i], nil
}

func (p *sfParser) innerList() ([]sfItem, []sfParam, error) {
	p.i++ // '('
	var items []sfItem
	for p.i < len(p.s) {
		p.skipSP()
		if p.peek() == ')' {
			p.i++
			ps, err := p.params()
			return items, ps, err
		}
		if len(items) == maxSFInnerList {
			return nil, nil, errSF
		}
		it, err := p.item()
		if err != nil {
			return nil, nil, err
		}
		items = append(items, it)
		if c := p.peek(); c != ' ' && c != ')' {
			return nil, nil, errSF
		}
	}
	return nil, nil, errSF
}

func (p *sfParser) item() (sfItem, error) {
	b, err := p.bare()
	if err != nil {
		return sfItem{}, err
	}
	ps, err := p.params()
	return sfItem{bare: b, params: ps}, err
}

func (p *sfParser) params() ([]sfParam, error) {
	var ps []sfParam
	for p.peek() == ';' {
		p.i++
		p.skipSP()
		key, err := p.key()
		if err != nil {
			return nil, err
		}
		v := sfBare{kind: sfBoolean, bool: true}
		if p.peek() == '=' {
			p.i++
			if v, err = p.bare(); err != nil {
				return nil, err
			}
		}
		replaced := false
		for j := range ps {
			if ps[j].key == key {
				ps[j].value = v
				replaced = true
			}
		}
		if !replaced {
			if len(ps) == maxSFParameters {
				return nil, errSF
			}
			ps = append(ps, sfParam{key, v})
		}
	}
	return ps, nil
}

func (p *sfParser) bare() (sfBare, error) {
	c := p.peek()
	switch {
	case c == '-' || isDigit(c):
		return p.number()
	case c == '"':
		return p.str()
	case c == ':':
		return p.byteSeq()
	case c == '?':
		if p.i+1 < len(p.s) && (p.s[p.i+1] == '0' || p.s[p.i+1] == '1') {
			v := p.s[p.i+1] == '1'
			p.i += 2
			return sfBare{kind: sfBoolean, bool: v}, nil
		}
		return sfBare{}, errSF
	case c == '*' || isAlpha(c):
		start := p.i
		p.i++
		for p.i < len(p.s) && (isTChar(p.s[p.i]) || p.s[p.i] == ':' || p.s[p.i] == '/') {
			p.i++
		}
		return sfBare{kind: sfToken, str: p.s[start:p.i]}, nil
	}
	return sfBare{}, errSF
}

func (p *sfParser) number() (sfBare, error) {
	start := p.i
	if p.peek() == '-' {
		p.i++
	}
	digits, dot := 0, -1
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c == '.' && dot < 0 && digits > 0 && digits <= 12 {
			dot = digits
			p.i++
			continue
		}
		if !isDigit(c) {
			break
		}
		digits++
		p.i++
		if (dot < 0 && digits > 15) || (dot >= 0 && digits-dot > 3) {
			return sfBare{}, errSF
		}
	}
	text := p.s[start:p.i]
	if digits == 0 || (dot >= 0 && digits == dot) {
		return sfBare{}, errSF
	}
	if dot >= 0 {
		return sfBare{kind: sfDecimal, str: text}, nil
	}
	n, err := strconv.ParseInt(text, 10, 64)
	if err != nil {
		return sfBare{}, errSF
	}
	return sfBare{kind: sfInteger, num: n}, nil
}

func (p *sfParser) str() (sfBare, error) {
	p.i++ // '"'
	var b strings.Builder
	start := p.i
	escaped := false
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '\\':
			if p.i+1 >= len(p.s) || (p.s[p.i+1] != '"' && p.s[p.i+1] != '\\') {
				return sfBare{}, errSF
			}
			if !escaped {
				b.WriteString(p.s[start:p.i])
				escaped = true
			}
			b.WriteByte(p.s[p.i+1])
			p.i += 2
			continue
		case c == '"':
			var v string
			if escaped {
				v = b.String()
			} else {
				v = p.s[start:p.i]
			}
			p.i++
			return sfBare{kind: sfString, str: v}, nil
		case c < 0x20 || c > 0x7e:
			return sfBare{}, errSF
		}
		if escaped {
			b.WriteByte(c)
		}
		p.i++
	}
	return sfBare{}, errSF
}

func (p *sfParser) byteSeq() (sfBare, error) {
	p.i++ // ':'
	end := strings.IndexByte(p.s[p.i:], ':')
	if end < 0 {
		return sfBare{}, errSF
	}
	enc := p.s[p.i : p.i+end]
	p.i += end + 1
	b, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		// RFC 8941 lets parsers accept missing padding.
		if b, err = base64.RawStdEncoding.DecodeString(enc); err != nil {
			return sfBare{}, errSF
		}
	}
	return sfBare{kind: sfBytes, bytes: b}, nil
}

// appendSFBare serializes a bare item.
func appendSFBare(dst []byte, b sfBare) []byte {
	switch b.kind {
	case sfInteger:
		return strconv.AppendInt(dst, b.num, 10)
	case sfDecimal, sfToken:
		return append(dst, b.str...)
	case sfString:
		dst = append(dst, '"')
		for i := 0; i < len(b.str); i++ {
			if c := b.str[i]; c == '"' || c == '\\' {
				dst = append(dst, '\\')
			}
			dst = append(dst, b.str[i])
		}
		return append(dst, '"')
	case sfBytes:
		dst = append(dst, ':')
		dst = base64.StdEncoding.AppendEncode(dst, b.bytes)
		return append(dst, ':')
	case sfBoolean:
		if b.bool {
			return append(dst, "?1"...)
		}
		return append(dst, "?0"...)
	}
	return dst
}

// appendSFParams serializes parameters; a true boolean is the bare key.
func appendSFParams(dst []byte, ps []sfParam) []byte {
	for _, p := range ps {
		dst = append(dst, ';')
		dst = append(dst, p.key...)
		if p.value.kind == sfBoolean && p.value.bool {
			continue
		}
		dst = append(dst, '=')
		dst = appendSFBare(dst, p.value)
	}
	return dst
}

// appendSFItem serializes an item with its parameters.
func appendSFItem(dst []byte, it sfItem) []byte {
	return appendSFParams(appendSFBare(dst, it.bare), it.params)
}

// appendSFInnerList serializes an inner list with its parameters.
func appendSFInnerList(dst []byte, items []sfItem, ps []sfParam) []byte {
	dst = append(dst, '(')
	for i, it := range items {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = appendSFItem(dst, it)
	}
	dst = append(dst, ')')
	return appendSFParams(dst, ps)
}

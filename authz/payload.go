package authz

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// DefaultMaxJSONDepth is the deepest JSON nesting accepted when the policy
// does not say: far beyond any real webhook, far below what hurts a parser.
const DefaultMaxJSONDepth = 64

// PayloadPolicy validates the body of a request whose signature verified.
type PayloadPolicy struct {
	// MaxBytes, when positive, is the largest body accepted.
	MaxBytes int64
	// ContentTypes, when non-empty, are the accepted media types, lower
	// case, without parameters.
	ContentTypes []string
	// JSON requires a well-formed UTF-8 JSON body nested at most MaxDepth.
	JSON bool
	// MaxDepth is the deepest nesting; zero means DefaultMaxJSONDepth.
	MaxDepth int
	// Schemas, when non-nil, validates the body against a JSON Schema.
	Schemas *SchemaSet
}

// SchemaSet chooses a compiled JSON Schema by a header value.
type SchemaSet struct {
	// Header selects the schema; empty means always Default.
	Header string
	// ByValue maps header values to schemas.
	ByValue map[string]*jsonschema.Schema
	// Default applies when the header has no entry; nil means no check.
	Default *jsonschema.Schema
}

// PayloadError is a payload denial that points into the body.
type PayloadError struct {
	// Reason is MalformedPayload or SchemaViolation.
	Reason Reason
	// Pointer is the JSON pointer (RFC 6901) of the first failing value,
	// "" for the whole document. It names a place, never a value.
	Pointer string
	// Keyword is the failing schema keyword, for the log.
	Keyword string
}

func (e *PayloadError) Error() string {
	msg := string(e.Reason) + " at " + strconv.Quote(e.Pointer)
	if e.Keyword != "" {
		msg += " (" + e.Keyword + ")"
	}
	return msg
}

// Unwrap returns the reason, so ReasonOf finds it.
func (e *PayloadError) Unwrap() error { return e.Reason }

// check returns nil when the body is acceptable.
func (p *PayloadPolicy) check(r *Request) error {
	if p.MaxBytes > 0 && int64(len(r.Body)) > p.MaxBytes {
		return fmt.Errorf("%w: %d bytes, at most %d", BodyTooLarge, len(r.Body), p.MaxBytes)
	}
	if len(p.ContentTypes) > 0 && !p.contentTypeAllowed(r.Header.Get("content-type")) {
		return UnsupportedMediaType
	}
	schema := p.Schemas.choose(r)
	if !p.JSON && schema == nil {
		return nil
	}
	if err := checkJSON(r.Body, p.MaxDepth); err != nil {
		return err
	}
	if schema == nil {
		return nil
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(r.Body))
	if err != nil {
		return &PayloadError{Reason: MalformedPayload}
	}
	err = schema.Validate(doc)
	var ve *jsonschema.ValidationError
	if errors.As(err, &ve) {
		return schemaError(ve)
	}
	if err != nil {
		return &PayloadError{Reason: SchemaViolation}
	}
	return nil
}

func (p *PayloadPolicy) contentTypeAllowed(header string) bool {
	mediaType, _, _ := strings.Cut(header, ";")
	mediaType = strings.TrimSpace(mediaType)
	for _, ct := range p.ContentTypes {
		if strings.EqualFold(mediaType, ct) {
			return true
		}
	}
	return false
}

func (s *SchemaSet) choose(r *Request) *jsonschema.Schema {
	if s == nil {
		return nil
	}
	if s.Header != "" {
		if sch, ok := s.ByValue[r.Header.Get(s.Header)]; ok {
			return sch
		}
	}
	return s.Default
}

// checkJSON checks that body is well-formed JSON in valid UTF-8, nested at
// most maxDepth deep. The depth is measured first, in one pass that keeps no
// stack, so a hostile body of a million '[' is refused before a parser sees
// it.
func checkJSON(body []byte, maxDepth int) error {
	if maxDepth <= 0 {
		maxDepth = DefaultMaxJSONDepth
	}
	if !utf8.Valid(body) {
		return &PayloadError{Reason: MalformedPayload}
	}
	depth, inString, escaped := 0, false, false
	for _, c := range body {
		switch {
		case escaped:
			escaped = false
		case inString:
			switch c {
			case '\\':
				escaped = true
			case '"':
				inString = false
			}
		case c == '"':
			inString = true
		case c == '[' || c == '{':
			depth++
			if depth > maxDepth {
				return &PayloadError{Reason: MalformedPayload, Keyword: "max_depth"}
			}
		case c == ']' || c == '}':
			depth--
		}
	}
	if !json.Valid(body) {
		return &PayloadError{Reason: MalformedPayload}
	}
	return nil
}

// schemaError reports the first leaf of a validation error: the most precise
// place the body went wrong.
func schemaError(ve *jsonschema.ValidationError) *PayloadError {
	for len(ve.Causes) > 0 {
		ve = ve.Causes[0]
	}
	var ptr strings.Builder
	for _, tok := range ve.InstanceLocation {
		ptr.WriteByte('/')
		ptr.WriteString(strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1"))
	}
	e := &PayloadError{Reason: SchemaViolation, Pointer: ptr.String()}
	if ve.ErrorKind != nil {
		if kp := ve.ErrorKind.KeywordPath(); len(kp) > 0 {
			e.Keyword = kp[len(kp)-1]
		}
	}
	return e
}

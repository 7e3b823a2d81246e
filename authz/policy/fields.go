package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// checkFields walks a decoded JSON tree alongside the message descriptor md
// and reports every key the schema does not define and every value of the
// wrong shape, with its full path. protojson refuses both too, but names
// neither the path nor the endpoint; this walk does, and lists the fields
// that would have been right. It also respells enum values in the tree as
// protojson reads them (see EnumSpellings).
func checkFields(md protoreflect.MessageDescriptor, v any, path string, report func(field, msg string)) {
	obj, ok := v.(map[string]any)
	if !ok {
		report(path, "must be a mapping")
		return
	}
	oneofs := map[protoreflect.FullName]string{}
	for _, key := range sortedKeys(obj) {
		fd := fieldByName(md, key)
		p := joinPath(path, key)
		if fd == nil {
			report(p, unknownField(md))
			continue
		}
		if o := fd.ContainingOneof(); o != nil && !o.IsSynthetic() {
			if other, dup := oneofs[o.FullName()]; dup {
				report(p, "set only one of "+other+" and "+key)
				continue
			}
			oneofs[o.FullName()] = key
		}
		val := obj[key]
		switch {
		case val == nil:
			// null: protojson treats it as unset.
		case fd.IsList():
			items, ok := val.([]any)
			if !ok {
				report(p, "must be a list")
				continue
			}
			for i, item := range items {
				items[i] = checkValue(fd, item, fmt.Sprintf("%s[%d]", p, i), report)
			}
		case fd.IsMap():
			entries, ok := val.(map[string]any)
			if !ok {
				report(p, "must be a mapping")
				continue
			}
			for _, k := range sortedKeys(entries) {
				entries[k] = checkValue(fd.MapValue(), entries[k], p+"."+k, report)
			}
		default:
			obj[key] = checkValue(fd, val, p, report)
		}
	}
}

// decodeTree decodes JSON for checkFields, numbers kept as written, so the
// tree encodes back to the same JSON but for the enum values it respells.
func decodeTree(raw []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}

// checkValue checks one singular value of field fd, and returns it as
// protojson reads it: nil for an enum value that spells none.
func checkValue(fd protoreflect.FieldDescriptor, v any, path string, report func(field, msg string)) any {
	switch fd.Kind() {
	case protoreflect.MessageKind:
		checkFields(fd.Message(), v, path, report)
	case protoreflect.StringKind:
		if _, ok := v.(string); !ok {
			report(path, "must be a string")
		}
	case protoreflect.BoolKind:
		if _, ok := v.(bool); !ok {
			report(path, "must be true or false")
		}
	case protoreflect.EnumKind:
		s, _ := v.(string)
		ev := enumValue(fd.Enum(), s)
		if ev == nil {
			report(path, "must be one of "+enumNames(fd.Enum()))
			// Unset, so the rest of the message still decodes and
			// is checked.
			return nil
		}
		return string(ev.Name())
	}
	// Numbers are left to protojson, which checks their range.
	return v
}

// EnumSpellings returns how a policy file writes the enum value ev. The
// values of an enum whose zero value is <PREFIX>_UNSPECIFIED, as buf's
// lint rules name them, are written without the prefix, in lower case with
// '-' for '_', or the same in upper case: HMAC_ALGORITHM_SHA256 is sha256
// or SHA256, HTTP_SIGNATURE_ALGORITHM_HMAC_SHA256 hmac-sha256 or
// HMAC-SHA256; their zero value is not written, the field is left out.
// The values of other enums are written as named (Mode's DRY_RUN). The
// policy's JSON Schema lists the same spellings.
func EnumSpellings(ev protoreflect.EnumValueDescriptor) []string {
	name := string(ev.Name())
	prefix := enumPrefix(ev.Parent().(protoreflect.EnumDescriptor))
	switch {
	case prefix == "":
		return []string{name}
	case ev.Number() == 0:
		return nil
	}
	short := strings.TrimPrefix(name, prefix)
	lower := strings.ReplaceAll(strings.ToLower(short), "_", "-")
	if upper := strings.ToUpper(lower); upper != lower {
		return []string{lower, upper}
	}
	return []string{lower}
}

// enumPrefix is the prefix of ed's value names, as its zero value
// <PREFIX>_UNSPECIFIED gives it, or "" when not every value has it.
func enumPrefix(ed protoreflect.EnumDescriptor) string {
	zero := ed.Values().ByNumber(0)
	if zero == nil {
		return ""
	}
	prefix, ok := strings.CutSuffix(string(zero.Name()), "UNSPECIFIED")
	if !ok {
		return ""
	}
	for i := range ed.Values().Len() {
		if !strings.HasPrefix(string(ed.Values().Get(i).Name()), prefix) {
			return ""
		}
	}
	return prefix
}

// enumValue returns the value of ed that s spells, or nil.
func enumValue(ed protoreflect.EnumDescriptor, s string) protoreflect.EnumValueDescriptor {
	values := ed.Values()
	for i := range values.Len() {
		if slices.Contains(EnumSpellings(values.Get(i)), s) {
			return values.Get(i)
		}
	}
	return nil
}

// enumNames lists how a policy writes the values of ed, but for the zero
// value, which means the default.
func enumNames(ed protoreflect.EnumDescriptor) string {
	var names []string
	for i := 0; i < ed.Values().Len(); i++ {
		if v := ed.Values().Get(i); v.Number() != 0 {
			names = append(names, EnumSpellings(v)[0])
		}
	}
	return strings.Join(names, ", ")
}

// fieldByName finds a field by its proto name or its JSON name, as protojson
// accepts both.
func fieldByName(md protoreflect.MessageDescriptor, name string) protoreflect.FieldDescriptor {
	fields := md.Fields()
	if fd := fields.ByName(protoreflect.Name(name)); fd != nil {
		return fd
	}
	return fields.ByJSONName(name)
}

func unknownField(md protoreflect.MessageDescriptor) string {
	fields := md.Fields()
	names := make([]string, fields.Len())
	for i := range names {
		names[i] = string(fields.Get(i).Name())
	}
	return "unknown field; " + string(md.Name()) + " has " + strings.Join(names, ", ")
}

func joinPath(path, key string) string {
	switch {
	case path == "":
		return key
	case key == "":
		return path
	}
	return path + "." + key
}

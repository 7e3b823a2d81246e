package policy

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// checkFields walks a decoded JSON tree alongside the message descriptor md
// and reports every key the schema does not define, every value of the
// wrong shape and every enum value the enum does not have, with its full
// path. protojson refuses all of these too, but names neither the path nor
// the endpoint; this walk does, and lists what would have been right.
//
// It returns the tree for protojson to decode: enum values, which policies
// write in upper or lower case, spelled as their names, and the unknown
// fields, unknown enum values and second members of a oneof it reported
// dropped, so that the rest still decodes and one run lists every problem.
// Values of the wrong shape stay, and make protojson refuse the tree.
func checkFields(md protoreflect.MessageDescriptor, v any, path string, report func(field, msg string)) any {
	obj, ok := v.(map[string]any)
	if !ok {
		report(path, "must be a mapping")
		return v
	}
	out := make(map[string]any, len(obj))
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
				if o.Fields().Len() == 2 {
					// Two alternatives: the block is wrong, not one key.
					report(path, "set "+other+" or "+key+", not both")
				} else {
					report(p, "set only one of "+other+" and "+key)
				}
				continue
			}
			oneofs[o.FullName()] = key
		}
		if val, keep := checkField(fd, obj[key], p, report); keep {
			out[key] = val
		}
	}
	return out
}

// checkField checks the value of field fd. keep is false when the value
// is to be dropped.
func checkField(fd protoreflect.FieldDescriptor, v any, path string, report func(field, msg string)) (_ any, keep bool) {
	switch {
	case v == nil:
		// null: protojson treats it as unset.
		return v, true
	case fd.IsList():
		items, ok := v.([]any)
		if !ok {
			report(path, "must be a list")
			return v, true
		}
		kept := make([]any, 0, len(items))
		for i, item := range items {
			if item, keep := checkValue(fd, item, fmt.Sprintf("%s[%d]", path, i), report); keep {
				kept = append(kept, item)
			}
		}
		return kept, true
	case fd.IsMap():
		entries, ok := v.(map[string]any)
		if !ok {
			report(path, "must be a mapping")
			return v, true
		}
		kept := make(map[string]any, len(entries))
		for _, k := range sortedKeys(entries) {
			if entry, keep := checkValue(fd.MapValue(), entries[k], path+"."+k, report); keep {
				kept[k] = entry
			}
		}
		return kept, true
	}
	return checkValue(fd, v, path, report)
}

// checkValue checks one singular value of field fd.
func checkValue(fd protoreflect.FieldDescriptor, v any, path string, report func(field, msg string)) (_ any, keep bool) {
	switch fd.Kind() {
	case protoreflect.MessageKind:
		return checkFields(fd.Message(), v, path, report), true
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
		if ev := enumValue(fd.Enum(), s); ev != nil {
			return string(ev.Name()), true
		}
		report(path, "must be one of "+enumNames(fd.Enum(), s))
		return nil, false
	}
	// Numbers are left to protojson, which checks their range.
	return v, true
}

// enumValue finds the value of ed that s names: its name in upper or lower
// case, with - for _ as names from outside (hmac-sha256) are spelled. The
// zero value only means unset: a policy does not name it.
func enumValue(ed protoreflect.EnumDescriptor, s string) protoreflect.EnumValueDescriptor {
	s = strings.ReplaceAll(s, "-", "_")
	values := ed.Values()
	for i := range values.Len() {
		if v := values.Get(i); v.Number() != 0 && strings.EqualFold(string(v.Name()), s) {
			return v
		}
	}
	return nil
}

// enumNames lists the values a policy may name, in the style of the refused
// value written: in lower case when it was, with - when it had one.
func enumNames(ed protoreflect.EnumDescriptor, written string) string {
	lower := written != strings.ToUpper(written)
	hyphens := strings.Contains(written, "-")
	var names []string
	for i := 0; i < ed.Values().Len(); i++ {
		if v := ed.Values().Get(i); v.Number() != 0 {
			name := string(v.Name())
			if lower {
				name = strings.ToLower(name)
			}
			if hyphens {
				name = strings.ReplaceAll(name, "_", "-")
			}
			names = append(names, name)
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

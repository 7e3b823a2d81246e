package policy

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// checkFields walks a decoded JSON tree alongside the message descriptor md
// and reports every key the schema does not define and every value of the
// wrong shape, with its full path. protojson refuses both too, but names
// neither the path nor the endpoint; this walk does, and lists the fields
// that would have been right.
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
				checkValue(fd, item, fmt.Sprintf("%s[%d]", p, i), report)
			}
		case fd.IsMap():
			entries, ok := val.(map[string]any)
			if !ok {
				report(p, "must be a mapping")
				continue
			}
			for _, k := range sortedKeys(entries) {
				checkValue(fd.MapValue(), entries[k], p+"."+k, report)
			}
		default:
			checkValue(fd, val, p, report)
		}
	}
}

// checkValue checks one singular value of field fd.
func checkValue(fd protoreflect.FieldDescriptor, v any, path string, report func(field, msg string)) {
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
		s, ok := v.(string)
		if !ok || fd.Enum().Values().ByName(protoreflect.Name(s)) == nil {
			report(path, "must be one of "+enumNames(fd.Enum()))
		}
	}
	// Numbers are left to protojson, which checks their range.
}

func enumNames(ed protoreflect.EnumDescriptor) string {
	var names []string
	for i := 0; i < ed.Values().Len(); i++ {
		if v := ed.Values().Get(i); v.Number() != 0 {
			names = append(names, string(v.Name()))
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

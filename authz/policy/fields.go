package policy

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// checkKnownFields walks a decoded JSON tree alongside the message descriptor
// md and reports every key the schema does not define, with its full path.
// protojson refuses unknown fields too, but names neither the path nor the
// endpoint; this walk does, and lists the fields that would have been right.
// Type mismatches are left to protojson.
func checkKnownFields(md protoreflect.MessageDescriptor, v any, path string, report func(field, msg string)) {
	obj, ok := v.(map[string]any)
	if !ok {
		return
	}
	for _, key := range sortedKeys(obj) {
		fd := fieldByName(md, key)
		p := joinPath(path, key)
		if fd == nil {
			report(p, unknownField(md))
			continue
		}
		if fd.Kind() != protoreflect.MessageKind || fd.IsMap() {
			continue
		}
		if fd.IsList() {
			items, _ := obj[key].([]any)
			for i, item := range items {
				checkKnownFields(fd.Message(), item, fmt.Sprintf("%s[%d]", p, i), report)
			}
			continue
		}
		checkKnownFields(fd.Message(), obj[key], p, report)
	}
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
	if path == "" {
		return key
	}
	return path + "." + key
}

package policy

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/hookguard/hookguard/authz/internal/suggest"
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
			report(p, unknownField(md, key))
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
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Uint32Kind, protoreflect.Fixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
		protoreflect.Uint64Kind, protoreflect.Fixed64Kind,
		protoreflect.FloatKind, protoreflect.DoubleKind:
		// A number, or a string holding one, as protojson accepts; its
		// range and whether it must be whole are left to protojson.
		switch n := v.(type) {
		case float64, json.Number:
		case string:
			if _, err := strconv.ParseFloat(n, 64); err != nil {
				report(path, "must be a number")
				return nil, false
			}
		default:
			report(path, "must be a number")
			return nil, false
		}
	}
	return v, true
}

// EnumSpellings returns the ways a policy file writes the enum value ev,
// the first one the documented spelling. A value's short name is its name
// without the prefix its enum's zero value <PREFIX>_UNSPECIFIED gives every
// value, as buf's lint rules name them (HMAC_ALGORITHM_SHA256 is SHA256),
// or its whole name when the values share no such prefix (Mode's DRY_RUN).
// It is written in lower or upper case (any case is read), with '-' or '_'
// between words: sha256, hmac-sha256, dry_run, DRY-RUN. The zero value means "unset" and
// has no spelling: the field is left out. The policy's JSON Schema lists the
// same spellings.
func EnumSpellings(ev protoreflect.EnumValueDescriptor) []string {
	if ev.Number() == 0 {
		return nil
	}
	short := strings.TrimPrefix(string(ev.Name()), enumPrefix(ev.Parent().(protoreflect.EnumDescriptor)))
	lower := strings.ToLower(short)
	var out []string
	for _, s := range []string{strings.ReplaceAll(lower, "_", "-"), lower, short, strings.ReplaceAll(short, "_", "-")} {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// enumPrefix is the prefix of ed's value names, as its zero value
// <PREFIX>_UNSPECIFIED gives it, or "" when not every value has it.
func enumPrefix(ed protoreflect.EnumDescriptor) string {
	zero := ed.Values().ByNumber(0)
	if zero == nil {
		return ""
	}
	prefix, ok := strings.CutSuffix(string(zero.Name()), "UNSPECIFIED")
	if !ok || prefix == "" {
		return ""
	}
	for i := range ed.Values().Len() {
		if !strings.HasPrefix(string(ed.Values().Get(i).Name()), prefix) {
			return ""
		}
	}
	return prefix
}

// enumValue returns the value of ed that s spells (see EnumSpellings), in
// any case, or nil.
func enumValue(ed protoreflect.EnumDescriptor, s string) protoreflect.EnumValueDescriptor {
	values := ed.Values()
	for i := range values.Len() {
		for _, sp := range EnumSpellings(values.Get(i)) {
			if strings.EqualFold(sp, s) {
				return values.Get(i)
			}
		}
	}
	return nil
}

// enumNames lists the values a policy may name, in the style of the refused
// value written: in lower case when it was, with '-' when it had one, so
// the list reads like the policy around it.
func enumNames(ed protoreflect.EnumDescriptor, written string) string {
	lower := written != strings.ToUpper(written)
	hyphens := strings.Contains(written, "-")
	prefix := enumPrefix(ed)
	var names []string
	for i := 0; i < ed.Values().Len(); i++ {
		v := ed.Values().Get(i)
		if v.Number() == 0 {
			continue
		}
		name := strings.TrimPrefix(string(v.Name()), prefix)
		if lower {
			name = strings.ToLower(name)
		}
		if hyphens {
			name = strings.ReplaceAll(name, "_", "-")
		}
		names = append(names, name)
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

// unknownField says that key is no field of md, suggests the field most
// likely meant, and lists the valid ones.
func unknownField(md protoreflect.MessageDescriptor, key string) string {
	fields := md.Fields()
	names := make([]string, fields.Len())
	for i := range names {
		names[i] = string(fields.Get(i).Name())
	}
	msg := fmt.Sprintf("unknown field %q", key)
	if guess := closest(key, names); guess != "" {
		msg += "; did you mean " + guess + "?"
	}
	return msg + " (valid: " + strings.Join(names, ", ") + ")"
}

// closest returns the name key most likely misspells: the nearest by edit
// distance, a swap of neighbours counting as one edit, if near enough to be
// a typo rather than another word; "" if none is.
func closest(key string, names []string) string {
	best, bestDist := "", 0
	for _, n := range names {
		d := suggest.Distance(normalizeKey(key), normalizeKey(n))
		if d > max(1, min(2, len(n)/4)) {
			continue
		}
		if best == "" || d < bestDist {
			best, bestDist = n, d
		}
	}
	return best
}

// normalizeKey makes case and the choice of separator not count as edits:
// DryRun, dry-run and dry_run are one name.
func normalizeKey(s string) string {
	return strings.NewReplacer("_", "", "-", "").Replace(strings.ToLower(s))
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

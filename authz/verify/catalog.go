package verify

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"sigs.k8s.io/yaml"

	"github.com/hookguard/hookguard/authz/internal/suggest"
	policyv1 "github.com/hookguard/hookguard/proto/hookguard/policy/v1"
)

// The provider catalog: one entry per webhook sender, kept as data in
// catalog.yaml and compiled into the program. An entry names the mechanism
// (a registered scheme, usually the generic hmac one) and its parameters,
// written as a policy's verify block without secrets, so a preset is
// checked by the same code as a policy. The policy selects an entry with
// `verify: {provider: {name: ...}}` (provider.go); docs/providers.md and
// the README's provider line are generated from it.

//go:embed catalog.yaml
var catalogYAML []byte

// A Provider is one entry of the provider catalog, as `hookguard
// providers` lists it.
type Provider struct {
	// Name is the name policies select the provider by: ngrok's
	// verify-webhook id where ngrok has the provider, else its common
	// name in lower snake case.
	Name string `json:"name"`
	// DisplayName is the provider's name as it writes it.
	DisplayName string `json:"display_name"`
	// Aliases are other names the provider is selected by.
	Aliases []string `json:"aliases,omitempty"`
	// Mechanism is the scheme that verifies the provider's deliveries,
	// such as "hmac" or "stripe"; empty when unsupported.
	Mechanism string `json:"mechanism,omitempty"`
	// Parameters are the mechanism's parameters, as a policy would write
	// them under verify.<mechanism>.
	Parameters json.RawMessage `json:"parameters,omitempty"`
	// Checks says in a line what is verified.
	Checks string `json:"checks,omitempty"`
	// Versions names the signature versions a policy may select besides
	// the default, the newest.
	Versions []string `json:"versions,omitempty"`
	// Tolerance is the default timestamp tolerance, a Go duration: the
	// provider's documented one, else 5m; empty when the provider signs
	// no timestamp.
	Tolerance string `json:"tolerance,omitempty"`
	// ReplayKey says what identifies a delivery for replay protection.
	ReplayKey string `json:"replay_key"`
	// Handshakes describes the endpoint verifications hookguard answers.
	Handshakes []string `json:"handshakes,omitempty"`
	// Options are the provider fields a policy may set besides name,
	// secrets and version.
	Options []string `json:"options,omitempty"`
	// Docs is the provider's documentation of its mechanism.
	Docs string `json:"docs"`
	// Checked is where the mechanism was confirmed, for a supported
	// provider: the provider's own documentation or official SDK source
	// that shows the headers, the signed content, the algorithm and the
	// encoding the preset checks.
	Checked string `json:"checked,omitempty"`
	// Quirks are what to know beyond the mechanism.
	Quirks string `json:"quirks,omitempty"`
	// Vector is the source of the test vector hookguard is tested
	// against: "published: <where>" for the provider's own example, or
	// "independent" for a delivery signed in the test from the docs.
	Vector string `json:"vector,omitempty"`
	// Unsupported, when set, says why hookguard cannot verify the
	// provider yet; the entry is listed, and a policy naming it fails.
	Unsupported string `json:"unsupported,omitempty"`
}

// Supported reports whether a policy can use the provider.
func (p Provider) Supported() bool { return p.Unsupported == "" }

// catalogEntry is one entry of catalog.yaml.
type catalogEntry struct {
	Name        string                     `json:"name"`
	Display     string                     `json:"display"`
	Aliases     []string                   `json:"aliases"`
	Docs        string                     `json:"docs"`
	Checked     string                     `json:"checked"`
	Verify      json.RawMessage            `json:"verify"`
	Versions    map[string]json.RawMessage `json:"versions"`
	Tolerance   string                     `json:"tolerance"`
	ReplayKey   string                     `json:"replay_key"`
	Handshakes  []handshakeSpec            `json:"handshakes"`
	Quirks      string                     `json:"quirks"`
	Vector      string                     `json:"vector"`
	Unsupported string                     `json:"unsupported"`
}

// preset is a compiled catalog entry.
type preset struct {
	info Provider
	// verify is the mechanism's configuration, without secrets, per
	// version; "" is the default.
	verify     map[string]*policyv1.Verify
	tolerance  string
	handshakes []handshakeSpec
}

// catalog holds the presets by name, and aliases to them.
var catalog = struct {
	byName map[string]*preset
	names  []string // sorted, aliases excluded
}{byName: map[string]*preset{}}

func init() {
	if err := loadCatalog(catalogYAML); err != nil {
		panic("verify: catalog.yaml: " + err.Error())
	}
}

// loadCatalog compiles the catalog. Its errors are mistakes in catalog.yaml,
// which the tests load, never in a policy.
func loadCatalog(data []byte) error {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(js))
	d.DisallowUnknownFields()
	var entries []catalogEntry
	if err := d.Decode(&entries); err != nil {
		return err
	}
	for _, e := range entries {
		p, err := compileEntry(e)
		if err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
		for _, name := range append([]string{e.Name}, e.Aliases...) {
			if _, dup := catalog.byName[name]; dup {
				return fmt.Errorf("%s: name %s used twice", e.Name, name)
			}
			if name != providerName(name) {
				return fmt.Errorf("%s: %s is not lower snake case", e.Name, name)
			}
			catalog.byName[name] = p
		}
		catalog.names = append(catalog.names, e.Name)
	}
	slices.Sort(catalog.names)
	return nil
}

// providerName is the spelling names are looked up in: lower case, with
// '_' for '-'.
func providerName(s string) string {
	return strings.ReplaceAll(strings.ToLower(s), "-", "_")
}

// compileEntry checks one entry and decodes its mechanism.
func compileEntry(e catalogEntry) (*preset, error) {
	p := &preset{
		info: Provider{
			Name: e.Name, DisplayName: e.Display, Aliases: e.Aliases, Docs: e.Docs, Checked: e.Checked,
			Quirks: strings.TrimSpace(e.Quirks), Vector: e.Vector, Unsupported: strings.TrimSpace(e.Unsupported),
		},
		verify:     map[string]*policyv1.Verify{},
		tolerance:  e.Tolerance,
		handshakes: e.Handshakes,
	}
	switch {
	case e.Name == "" || e.Display == "":
		return nil, fmt.Errorf("name and display are required")
	case !strings.HasPrefix(e.Docs, "https://"):
		return nil, fmt.Errorf("docs must be an https:// link to the provider's documentation")
	case p.info.Unsupported != "":
		if e.Verify != nil || e.Vector != "" || e.Checked != "" {
			return nil, fmt.Errorf("an unsupported entry has no verify, no vector and no checked")
		}
		return p, nil
	case !strings.HasPrefix(e.Checked, "https://"):
		return nil, fmt.Errorf("checked must be an https:// link to the documentation or official SDK source the mechanism was confirmed against; an entry whose mechanism could not be confirmed is unsupported")
	case e.Vector != "independent" && !strings.HasPrefix(e.Vector, "published: "):
		return nil, fmt.Errorf("vector must be \"independent\" or \"published: <where>\"")
	}
	v, err := decodeMechanism(e.Verify)
	if err != nil {
		return nil, err
	}
	p.verify[""] = v
	fd := v.ProtoReflect().WhichOneof(schemeOneof)
	p.info.Mechanism = string(fd.Name())
	p.info.Parameters, _ = protojson.MarshalOptions{UseProtoNames: true}.Marshal(v.ProtoReflect().Get(fd).Message().Interface())
	for name, raw := range e.Versions {
		vv, err := decodeMechanism(raw)
		if err != nil {
			return nil, fmt.Errorf("version %s: %w", name, err)
		}
		p.verify[name] = vv
		p.info.Versions = append(p.info.Versions, name)
	}
	slices.Sort(p.info.Versions)
	p.info.Checks = checksOf(v)
	p.info.Tolerance = e.Tolerance
	p.info.ReplayKey = e.ReplayKey
	if p.info.ReplayKey == "" {
		p.info.ReplayKey = replayKeyOf(v)
	}
	for _, h := range e.Handshakes {
		if err := h.check(); err != nil {
			return nil, err
		}
		p.info.Handshakes = append(p.info.Handshakes, h.String())
	}
	md := v.ProtoReflect().Get(fd).Message().Descriptor()
	for _, opt := range providerOptions {
		if md.Fields().ByName(protoreflect.Name(opt)) != nil {
			p.info.Options = append(p.info.Options, opt)
		}
	}
	return p, nil
}

// decodeMechanism decodes an entry's verify block: one key of the policy's
// Verify message, enum values written as in policies.
func decodeMechanism(raw json.RawMessage) (*policyv1.Verify, error) {
	var tree any
	if err := json.Unmarshal(raw, &tree); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	v := &policyv1.Verify{}
	clean, err := json.Marshal(enumNames(v.ProtoReflect().Descriptor(), tree))
	if err != nil {
		return nil, err
	}
	if err := (protojson.UnmarshalOptions{}).Unmarshal(clean, v); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	fd := v.ProtoReflect().WhichOneof(schemeOneof)
	switch {
	case fd == nil:
		return nil, fmt.Errorf("verify names no mechanism")
	case fd.Name() == "provider":
		return nil, fmt.Errorf("a preset cannot name another provider")
	}
	return v, nil
}

// enumNames returns the JSON tree v of a message md with enum values
// written as policies do (short names, any case, '-' or '_') replaced by
// their names, for protojson. Anything else is left for protojson to
// judge.
func enumNames(md protoreflect.MessageDescriptor, v any) any {
	obj, ok := v.(map[string]any)
	if !ok {
		return v
	}
	for key, val := range obj {
		fd := md.Fields().ByName(protoreflect.Name(key))
		if fd == nil {
			continue
		}
		one := func(x any) any {
			switch fd.Kind() {
			case protoreflect.MessageKind:
				return enumNames(fd.Message(), x)
			case protoreflect.EnumKind:
				s, _ := x.(string)
				values := fd.Enum().Values()
				for i := range values.Len() {
					name := string(values.Get(i).Name())
					if strings.EqualFold(name, s) || strings.HasSuffix(name, "_"+strings.ToUpper(strings.ReplaceAll(s, "-", "_"))) && values.Get(i).Number() != 0 {
						return name
					}
				}
			}
			return x
		}
		if list, ok := val.([]any); ok {
			for i := range list {
				list[i] = one(list[i])
			}
			continue
		}
		obj[key] = one(val)
	}
	return obj
}

// providerOptions are the fields of ProviderVerify copied to the
// mechanism's configuration when it has a field of that name.
var providerOptions = []string{"secrets", "public_keys", "tolerance", "notification_url", "verify_tokens"}

// replayKeyOf describes the replay key of a mechanism's deliveries.
func replayKeyOf(v *policyv1.Verify) string {
	switch s := v.GetScheme().(type) {
	case *policyv1.Verify_Hmac:
		t := s.Hmac.GetSignedContent()
		if t == "" {
			t = "{body}"
		}
		return "SHA-256 of `" + strings.ReplaceAll(t, "{secret}", "") + "`"
	case *policyv1.Verify_Token, *policyv1.Verify_BasicAuth:
		return "none: a credential signs nothing, so replay protection is off"
	case *policyv1.Verify_StandardWebhooks, *policyv1.Verify_Twitch:
		return "the signed message id"
	case *policyv1.Verify_Discord, *policyv1.Verify_Sendgrid:
		return "the signature"
	}
	return "SHA-256 of the signed content"
}

// Providers returns the catalog, sorted by name.
func Providers() []Provider {
	out := make([]Provider, 0, len(catalog.names))
	for _, name := range catalog.names {
		out = append(out, catalog.byName[name].info)
	}
	return out
}

// LookupProvider returns the catalog entry named name or one of its
// aliases, in any case, with '-' or '_'.
func LookupProvider(name string) (Provider, bool) {
	p, ok := catalog.byName[providerName(name)]
	if !ok {
		return Provider{}, false
	}
	return p.info, true
}

// ClosestProviders returns up to n names and aliases of the catalog
// closest to name by edit distance, closest first, for an error about an
// unknown name.
func ClosestProviders(name string, n int) []string {
	name = providerName(name)
	type scored struct {
		name string
		d    int
	}
	var all []scored
	for k := range catalog.byName {
		all = append(all, scored{k, suggest.Distance(name, k)})
	}
	slices.SortFunc(all, func(a, b scored) int {
		if a.d != b.d {
			return a.d - b.d
		}
		return strings.Compare(a.name, b.name)
	})
	var out []string
	for _, s := range all[:min(n, len(all))] {
		out = append(out, s.name)
	}
	return out
}

// mechanismOf returns the preset's configuration for version ("" for the
// default), a copy the caller may change, and the selected oneof field.
func (p *preset) mechanismOf(version string) (*policyv1.Verify, protoreflect.FieldDescriptor, bool) {
	v, ok := p.verify[version]
	if !ok {
		return nil, nil, false
	}
	c := proto.Clone(v).(*policyv1.Verify)
	return c, c.ProtoReflect().WhichOneof(schemeOneof), true
}

// checksOf says in a line what a mechanism's configuration verifies.
func checksOf(v *policyv1.Verify) string {
	switch s := v.GetScheme().(type) {
	case *policyv1.Verify_Hmac:
		h := s.Hmac
		alg := strings.TrimPrefix(h.GetAlgorithm().String(), "HMAC_ALGORITHM_")
		if h.GetAlgorithm() == 0 {
			alg = "SHA256"
		}
		enc := strings.ToLower(strings.TrimPrefix(h.GetEncoding().String(), "SIGNATURE_ENCODING_"))
		if h.GetEncoding() == 0 {
			enc = "hex"
		}
		mac := "HMAC-" + alg
		if h.GetConstruction() == policyv1.MACConstruction_MAC_CONSTRUCTION_HASH {
			mac = alg
		}
		content := h.GetSignedContent()
		if content == "" {
			content = "{body}"
		}
		where := "`" + h.GetHeader() + "`"
		for _, m := range h.GetMoreHeaders() {
			where += " or `" + m + "`"
		}
		if h.GetQueryParameter() != "" {
			where = "query `" + h.GetQueryParameter() + "`"
		}
		out := fmt.Sprintf("%s: %s of %s, `%s`", where, enc, mac, content)
		if p := h.GetPrefix(); p != "" {
			out += ", after `" + p + "`"
		}
		if k := h.GetTimestampKey(); k != "" {
			out += ", timestamp `" + k + "=` in the list"
		}
		if t := h.GetTimestampHeader(); t != "" {
			out += ", timestamp `" + t + "`"
		}
		if e := h.GetSecretEncoding(); e > policyv1.SecretEncoding_SECRET_ENCODING_RAW {
			out += ", secret " + strings.ToLower(strings.TrimPrefix(e.String(), "SECRET_ENCODING_"))
		}
		return out
	case *policyv1.Verify_Token:
		return "token in `" + s.Token.GetHeader() + "`" + map[bool]string{true: " after `" + s.Token.GetPrefix() + "`"}[s.Token.GetPrefix() != ""]
	case *policyv1.Verify_BasicAuth:
		return "HTTP Basic authentication, `user:password`"
	}
	fd := v.ProtoReflect().WhichOneof(schemeOneof)
	return "the `" + string(fd.Name()) + "` scheme"
}

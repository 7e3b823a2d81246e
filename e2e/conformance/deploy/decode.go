// Package deploy checks the Kubernetes and Istio files under envoy/ against
// the upstream API types: every document is decoded strictly (an unknown or
// misspelled field is an error, as the API server or istiod would refuse or,
// worse, silently drop it), the Kustomize layering is rendered with the
// kustomize library, and the settings hookguard depends on are asserted.
// No cluster runs here; strict decoding is the check.
package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	securityv1beta1 "istio.io/api/security/v1beta1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"
	kustomize "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/yaml"
)

// Object is one decoded document.
type Object struct {
	APIVersion, Kind string
	Name, Namespace  string
	// Value is the typed object: a k8s.io/api type, *Istio, *Operator or
	// *kustomize.Kustomization.
	Value any
}

// Istio is an Istio custom resource: Kubernetes metadata and the istio.io/api
// message of its spec.
type Istio struct {
	Metadata metav1.ObjectMeta
	Spec     proto.Message
}

// Operator is an IstioOperator reduced to what hookguard ships in one: the
// mesh configuration.
type Operator struct {
	Mesh *meshv1alpha1.MeshConfig
}

// kinds maps apiVersion/kind to a new typed Kubernetes object.
var kinds = map[string]func() any{
	"v1/Namespace":                  func() any { return &corev1.Namespace{} },
	"v1/ServiceAccount":             func() any { return &corev1.ServiceAccount{} },
	"v1/Service":                    func() any { return &corev1.Service{} },
	"v1/ConfigMap":                  func() any { return &corev1.ConfigMap{} },
	"apps/v1/Deployment":            func() any { return &appsv1.Deployment{} },
	"policy/v1/PodDisruptionBudget": func() any { return &policyv1.PodDisruptionBudget{} },
	"networking.k8s.io/v1/NetworkPolicy": func() any {
		return &networkingv1.NetworkPolicy{}
	},
	"kustomize.config.k8s.io/v1beta1/Kustomization": func() any { return &kustomize.Kustomization{} },
}

// istioKinds maps apiVersion/kind to a new spec message. security.istio.io
// v1 and v1beta1 share their messages.
var istioKinds = map[string]func() proto.Message{
	"security.istio.io/v1/AuthorizationPolicy": func() proto.Message { return &securityv1beta1.AuthorizationPolicy{} },
	"security.istio.io/v1/PeerAuthentication":  func() proto.Message { return &securityv1beta1.PeerAuthentication{} },
	"networking.istio.io/v1alpha3/EnvoyFilter": func() proto.Message { return &networkingv1alpha3.EnvoyFilter{} },
	"security.istio.io/v1beta1/AuthorizationPolicy": func() proto.Message {
		return &securityv1beta1.AuthorizationPolicy{}
	},
}

var docSep = regexp.MustCompile(`(?m)^---[ \t]*$`)

// DecodeAll decodes every document of a YAML stream strictly. Directive
// keys of strategic merge patches ($patch, $retainKeys, ...) are dropped
// first when patch is true: they are Kustomize's, not the API's.
func DecodeAll(data []byte, patch bool) ([]Object, error) {
	var out []Object
	for i, doc := range docSep.Split(string(data), -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		b := []byte(doc)
		if patch {
			var err error
			if b, err = dropDirectives(b); err != nil {
				return nil, fmt.Errorf("document %d: %w", i+1, err)
			}
		}
		o, err := Decode(b)
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		out = append(out, o)
	}
	return out, nil
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// Decode decodes one document strictly into its upstream type.
func Decode(doc []byte) (Object, error) {
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		return Object{}, err
	}
	o := Object{APIVersion: head.APIVersion, Kind: head.Kind}
	gvk := head.APIVersion + "/" + head.Kind
	if newObj, ok := kinds[gvk]; ok {
		v := newObj()
		if err := strictUnmarshal(doc, v); err != nil {
			return o, fmt.Errorf("%s: %w", gvk, err)
		}
		o.Value = v
		if m, ok := v.(metav1.Object); ok {
			o.Name, o.Namespace = m.GetName(), m.GetNamespace()
		}
		return o, nil
	}
	if newSpec, ok := istioKinds[gvk]; ok {
		var env struct {
			APIVersion string            `json:"apiVersion"`
			Kind       string            `json:"kind"`
			Metadata   metav1.ObjectMeta `json:"metadata"`
			Spec       json.RawMessage   `json:"spec"`
		}
		if err := strictUnmarshal(doc, &env); err != nil {
			return o, fmt.Errorf("%s: %w", gvk, err)
		}
		spec := newSpec()
		if err := unmarshalProto(env.Spec, spec); err != nil {
			return o, fmt.Errorf("%s %s spec: %w", gvk, env.Metadata.Name, err)
		}
		if ef, ok := spec.(*networkingv1alpha3.EnvoyFilter); ok {
			if err := checkEnvoyPatches(ef); err != nil {
				return o, fmt.Errorf("%s %s: %w", gvk, env.Metadata.Name, err)
			}
		}
		o.Name, o.Namespace, o.Value = env.Metadata.Name, env.Metadata.Namespace, &Istio{Metadata: env.Metadata, Spec: spec}
		return o, nil
	}
	if gvk == "install.istio.io/v1alpha1/IstioOperator" {
		var env struct {
			APIVersion string            `json:"apiVersion"`
			Kind       string            `json:"kind"`
			Metadata   metav1.ObjectMeta `json:"metadata"`
			Spec       struct {
				MeshConfig json.RawMessage `json:"meshConfig"`
			} `json:"spec"`
		}
		// Strict over the part shipped: a spec with anything but
		// meshConfig is outside what this check understands.
		if err := strictUnmarshal(doc, &env); err != nil {
			return o, fmt.Errorf("%s: %w", gvk, err)
		}
		mesh := &meshv1alpha1.MeshConfig{}
		if err := unmarshalProto(env.Spec.MeshConfig, mesh); err != nil {
			return o, fmt.Errorf("%s meshConfig: %w", gvk, err)
		}
		o.Name, o.Value = env.Metadata.Name, &Operator{Mesh: mesh}
		return o, nil
	}
	return o, fmt.Errorf("apiVersion %q kind %q: not a type this check knows; add it to kinds", head.APIVersion, head.Kind)
}

// strictUnmarshal decodes YAML as the API server decodes JSON: field names
// match case-sensitively (encoding/json would take readOnlyRootFileSystem
// for readOnlyRootFilesystem), and unknown or duplicate fields are errors.
func strictUnmarshal(doc []byte, v any) error {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(js, v, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// unmarshalProto decodes JSON into m refusing unknown fields.
func unmarshalProto(js []byte, m proto.Message) error {
	if len(js) == 0 {
		return fmt.Errorf("empty")
	}
	return protojson.UnmarshalOptions{DiscardUnknown: false}.Unmarshal(js, m)
}

// checkEnvoyPatches decodes every typed_config in an EnvoyFilter's patch
// values into its Envoy type: the patch value is a free-form Struct to
// Istio, and only Envoy's own message says whether a field is misspelled.
func checkEnvoyPatches(ef *networkingv1alpha3.EnvoyFilter) error {
	for i, p := range ef.GetConfigPatches() {
		v := p.GetPatch().GetValue()
		if v == nil {
			continue
		}
		tc, ok := v.GetFields()["typed_config"]
		if !ok {
			continue
		}
		js, err := protojson.Marshal(tc)
		if err != nil {
			return err
		}
		var a anypb.Any
		if err := (protojson.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(js, &a); err != nil {
			return fmt.Errorf("configPatches[%d] typed_config: %w", i, err)
		}
	}
	return nil
}

// HCM returns the HttpConnectionManager an EnvoyFilter patch merges.
func HCM(ef *networkingv1alpha3.EnvoyFilter, i int) (*hcmv3.HttpConnectionManager, error) {
	tc := ef.GetConfigPatches()[i].GetPatch().GetValue().GetFields()["typed_config"]
	js, err := protojson.Marshal(tc)
	if err != nil {
		return nil, err
	}
	var a anypb.Any
	if err := protojson.Unmarshal(js, &a); err != nil {
		return nil, err
	}
	h := &hcmv3.HttpConnectionManager{}
	return h, a.UnmarshalTo(h)
}

// dropDirectives removes every key starting with $ from a patch document.
func dropDirectives(doc []byte) ([]byte, error) {
	var v any
	if err := yaml.Unmarshal(doc, &v); err != nil {
		return nil, err
	}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				if strings.HasPrefix(k, "$") {
					delete(v, k)
					continue
				}
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(v)
	var buf bytes.Buffer
	js, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	buf.Write(js)
	return buf.Bytes(), nil
}

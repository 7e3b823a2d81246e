package deploy

import (
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	networkingv1alpha3 "istio.io/api/networking/v1alpha3"
	securityv1beta1 "istio.io/api/security/v1beta1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	kustomize "sigs.k8s.io/kustomize/api/types"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/hookguard/hookguard/authz/policy"
	meshv1alpha1 "istio.io/api/mesh/v1alpha1"
)

// envoyDir is the repository's envoy/ directory.
func envoyDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "..", "envoy"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// The names the files agree on.
const (
	healthService = "envoy.service.auth.v3.Authorization"
	image         = "ghcr.io/hookguard/hookguard"
	gatewayID     = "spiffe://cluster.local/ns/gateway/sa/envoy"
)

// Every YAML file under envoy/kubernetes and envoy/istio decodes strictly,
// except the hookguard policies (checked by hookguard's own loader below).
func TestEveryFileDecodesStrictly(t *testing.T) {
	root := envoyDir(t)
	n := 0
	for _, sub := range []string{"kubernetes", "istio"} {
		err := filepath.WalkDir(filepath.Join(root, sub), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
				return err
			}
			if filepath.Base(filepath.Dir(path)) == "policies" {
				return nil
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			objs, err := DecodeAll(b, isPatch(t, path))
			if err != nil {
				t.Errorf("%s: %v", path, err)
				return nil
			}
			if len(objs) == 0 {
				t.Errorf("%s: no document", path)
			}
			n += len(objs)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if n < 15 {
		t.Errorf("decoded %d documents; the files were not all found", n)
	}
}

// isPatch reports whether a kustomization next to path lists it as a patch.
func isPatch(t *testing.T, path string) bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(filepath.Dir(path), "kustomization.yaml"))
	if err != nil {
		return false
	}
	var k kustomize.Kustomization
	if err := yaml.Unmarshal(b, &k); err != nil {
		t.Fatal(err)
	}
	for _, p := range k.Patches {
		if p.Path == filepath.Base(path) {
			return true
		}
	}
	return false
}

// The checker is worth something only if a misspelled field fails it.
func TestMisspelledFieldsFail(t *testing.T) {
	root := envoyDir(t)
	for _, tc := range []struct{ file, from, to string }{
		{"kubernetes/base/deployment.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true"},
		{"kubernetes/base/deployment.yaml", "service: envoy.service.auth.v3.Authorization", "serviceName: envoy.service.auth.v3.Authorization"},
		{"kubernetes/base/service.yaml", "appProtocol: grpc", "appProtocols: grpc"},
		{"kubernetes/base/networkpolicy.yaml", "namespaceSelector:", "namespaceSelecter:"},
		{"kubernetes/base/kustomization.yaml", "configMapGenerator:", "configMapGenerators:"},
		{"kubernetes/istio/deployment.yaml", "volumeMounts:", "volumeMount:"},
		{"kubernetes/redis/deployment.yaml", "secretKeyRef:", "secretKeyref:"},
		{"kubernetes/redis/kustomization.yaml", "patches:", "patch:"},
		{"istio/meshconfig.yaml", "packAsBytes: true", "packAsByte: true"},
		{"istio/meshconfig.yaml", "failOpen: false", "failopen: false"},
		{"istio/authorizationpolicy-gateway.yaml", "action: CUSTOM", "actoin: CUSTOM"},
		{"istio/authorizationpolicy-gateway.yaml", "action: CUSTOM", "action: CUSTOMS"},
		{"istio/peerauthentication.yaml", "mode: STRICT", "mod: STRICT"},
		{"istio/envoyfilter-gateway.yaml", "headers_with_underscores_action", "header_with_underscores_action"},
		{"istio/envoyfilter-gateway.yaml", "workloadSelector:", "workloadSelecter:"},
	} {
		path := filepath.Join(root, tc.file)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), tc.from) {
			t.Fatalf("%s has no %q to misspell", tc.file, tc.from)
		}
		if _, err := DecodeAll(b, isPatch(t, path)); err != nil {
			t.Fatalf("%s as shipped: %v", tc.file, err)
		}
		bad := strings.Replace(string(b), tc.from, tc.to, 1)
		if _, err := DecodeAll([]byte(bad), isPatch(t, path)); err == nil {
			t.Errorf("%s with %q: accepted", tc.file, tc.to)
		}
	}
}

// rendered is one kustomization's output, by kind and name.
type rendered map[string]Object

func (r rendered) get(t *testing.T, kind, name string) Object {
	t.Helper()
	o, ok := r[kind+"/"+name]
	if !ok {
		t.Fatalf("no %s %s in the rendered output", kind, name)
	}
	return o
}

func render(t *testing.T, dir string) rendered {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out, err := res.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := DecodeAll(out, false)
	if err != nil {
		t.Fatalf("kustomize build %s output: %v\n%s", dir, err, out)
	}
	r := rendered{}
	for _, o := range objs {
		key := o.Kind + "/" + o.Name
		if o.Kind == "AuthorizationPolicy" {
			key += "@" + o.Namespace
		}
		if _, dup := r[key]; dup {
			t.Fatalf("%s twice in the output", key)
		}
		r[key] = o
	}
	return r
}

func TestKubernetesBase(t *testing.T) {
	r := render(t, filepath.Join(envoyDir(t), "kubernetes", "base"))
	d := checkWorkload(t, r)
	args := flags(t, d)
	for _, f := range []string{"grpc-tls-cert", "grpc-tls-key", "grpc-client-ca"} {
		if args[f] == "" {
			t.Errorf("base: --%s is not set: the gRPC port must require client certificates", f)
		}
	}
	if args["grpc-client-id"] != gatewayID {
		t.Errorf("base: --grpc-client-id = %q, want %s", args["grpc-client-id"], gatewayID)
	}
	checkNetworkPolicy(t, r, "gateway")
}

func TestKubernetesIstioOverlay(t *testing.T) {
	r := render(t, filepath.Join(envoyDir(t), "kubernetes", "istio"))
	d := checkWorkload(t, r)
	args := flags(t, d)
	for _, f := range []string{"grpc-tls-cert", "grpc-tls-key", "grpc-client-ca", "grpc-client-id"} {
		if _, ok := args[f]; ok {
			t.Errorf("istio overlay: --%s set; behind the sidecar the mesh provides mTLS", f)
		}
	}
	ns := r.get(t, "Namespace", "hookguard").Value.(*corev1.Namespace)
	if ns.Labels["istio-injection"] != "enabled" {
		t.Errorf("istio overlay: namespace labels %v lack istio-injection: enabled", ns.Labels)
	}
	if d.Spec.Template.Annotations["prometheus.io/port"] != "9192" {
		t.Errorf("istio overlay: metrics merging annotations missing: %v", d.Spec.Template.Annotations)
	}
	checkNetworkPolicy(t, r, "istio-system")

	pa := r.get(t, "PeerAuthentication", "default")
	if pa.Namespace != "hookguard" || pa.Value.(*Istio).Spec.(*securityv1beta1.PeerAuthentication).GetMtls().GetMode() != securityv1beta1.PeerAuthentication_MutualTLS_STRICT {
		t.Errorf("PeerAuthentication: %v in %s, want STRICT in hookguard", pa.Value.(*Istio).Spec, pa.Namespace)
	}
	custom := r.get(t, "AuthorizationPolicy", "hookguard-webhooks@istio-system").Value.(*Istio).Spec.(*securityv1beta1.AuthorizationPolicy)
	if custom.GetAction() != securityv1beta1.AuthorizationPolicy_CUSTOM || custom.GetProvider().GetName() != "hookguard" {
		t.Errorf("gateway policy: action %v provider %q, want CUSTOM hookguard", custom.GetAction(), custom.GetProvider().GetName())
	}
	if len(custom.GetRules()) == 0 {
		t.Error("gateway policy has no rules: a CUSTOM policy without rules checks nothing")
	}
	for i, rule := range custom.GetRules() {
		for _, to := range rule.GetTo() {
			if len(to.GetOperation().GetPaths()) == 0 || len(to.GetOperation().GetHosts()) == 0 {
				t.Errorf("gateway policy rule %d: hosts and paths must be explicit", i)
			}
		}
	}
	allow := r.get(t, "AuthorizationPolicy", "hookguard-callers@hookguard").Value.(*Istio).Spec.(*securityv1beta1.AuthorizationPolicy)
	if allow.GetAction() != securityv1beta1.AuthorizationPolicy_ALLOW || len(allow.GetRules()) != 1 {
		t.Fatalf("hookguard callers policy: %v", allow)
	}
	rule := allow.GetRules()[0]
	if len(rule.GetFrom()) == 0 || len(rule.GetFrom()[0].GetSource().GetPrincipals()) == 0 ||
		!slices.Equal(rule.GetTo()[0].GetOperation().GetPorts(), []string{"9191"}) {
		t.Errorf("hookguard callers policy must name the gateway's principal and port 9191: %v", rule)
	}

	ef := r.get(t, "EnvoyFilter", "hookguard-gateway-edge").Value.(*Istio).Spec.(*networkingv1alpha3.EnvoyFilter)
	hcm, err := HCM(ef, 0)
	if err != nil {
		t.Fatal(err)
	}
	if hcm.GetPathWithEscapedSlashesAction() != hcmv3.HttpConnectionManager_REJECT_REQUEST ||
		hcm.GetCommonHttpProtocolOptions().GetHeadersWithUnderscoresAction() != corev3.HttpProtocolOptions_REJECT_REQUEST {
		t.Errorf("gateway EnvoyFilter: escaped slashes %v, underscores %v; want both REJECT_REQUEST",
			hcm.GetPathWithEscapedSlashesAction(), hcm.GetCommonHttpProtocolOptions().GetHeadersWithUnderscoresAction())
	}

	// The gateway policy's provider is the one meshconfig.yaml registers,
	// and that provider points at the Service that exists here.
	mesh := meshConfig(t)
	var provider *meshv1alpha1.MeshConfig_ExtensionProvider
	for _, p := range mesh.GetExtensionProviders() {
		if p.GetName() == custom.GetProvider().GetName() {
			provider = p
		}
	}
	if provider == nil {
		t.Fatalf("meshconfig.yaml registers no provider %q", custom.GetProvider().GetName())
	}
	svc := r.get(t, "Service", "hookguard").Value.(*corev1.Service)
	grpc := provider.GetEnvoyExtAuthzGrpc()
	if want := svc.Name + "." + svc.Namespace + ".svc.cluster.local"; grpc.GetService() != want {
		t.Errorf("provider service %q, want %q", grpc.GetService(), want)
	}
	if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool {
		return p.Port == int32(grpc.GetPort()) && p.AppProtocol != nil && *p.AppProtocol == "grpc"
	}) {
		t.Errorf("provider port %d is no grpc port of Service hookguard", grpc.GetPort())
	}
}

func meshConfig(t *testing.T) *meshv1alpha1.MeshConfig {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(envoyDir(t), "istio", "meshconfig.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := DecodeAll(b, false)
	if err != nil || len(objs) != 1 {
		t.Fatalf("meshconfig.yaml: %v", err)
	}
	return objs[0].Value.(*Operator).Mesh
}

func TestIstioMeshConfig(t *testing.T) {
	mesh := meshConfig(t)
	if n := mesh.GetPathNormalization().GetNormalization(); n != meshv1alpha1.MeshConfig_ProxyPathNormalization_MERGE_SLASHES &&
		n != meshv1alpha1.MeshConfig_ProxyPathNormalization_DECODE_AND_MERGE_SLASHES {
		t.Errorf("pathNormalization %v: slashes are not merged", n)
	}
	var found bool
	for _, p := range mesh.GetExtensionProviders() {
		g := p.GetEnvoyExtAuthzGrpc()
		if p.GetName() != "hookguard" || g == nil {
			continue
		}
		found = true
		body := g.GetIncludeRequestBodyInCheck()
		if !body.GetPackAsBytes() || body.GetAllowPartialMessage() || body.GetMaxRequestBytes() == 0 {
			t.Errorf("includeRequestBodyInCheck %v: want packAsBytes true, allowPartialMessage false, a maxRequestBytes", body)
		}
		if g.GetFailOpen() {
			t.Error("failOpen is true: an unreachable hookguard would let every request through")
		}
		if g.GetStatusOnError() != "503" {
			t.Errorf("statusOnError %q, want 503 so providers retry", g.GetStatusOnError())
		}
		if g.GetTimeout() == nil || g.GetTimeout().AsDuration().Seconds() > 5 {
			t.Errorf("timeout %v: set one, at most 5 s (Istio's default is 600 s)", g.GetTimeout())
		}
	}
	if !found {
		t.Fatal("no envoyExtAuthzGrpc provider named hookguard")
	}
}

// checkWorkload asserts what both layouts share and returns the Deployment.
func checkWorkload(t *testing.T, r rendered) *appsv1.Deployment {
	t.Helper()
	d := r.get(t, "Deployment", "hookguard").Value.(*appsv1.Deployment)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 {
		t.Errorf("replicas %v, want 2", d.Spec.Replicas)
	}
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	if !strings.HasPrefix(c.Image, image+":") {
		t.Errorf("image %q, want %s:TAG", c.Image, image)
	}
	psc, sc := pod.SecurityContext, c.SecurityContext
	if psc == nil || sc == nil {
		t.Fatal("no security context")
	}
	if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Error("pod does not run as a non-root user")
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("seccomp profile is not RuntimeDefault")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("root filesystem is writable")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("privilege escalation allowed")
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 {
		t.Errorf("capabilities %v, want drop ALL and add none", sc.Capabilities)
	}
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[res]; !ok {
			t.Errorf("no %s request", res)
		}
		if _, ok := c.Resources.Limits[res]; !ok {
			t.Errorf("no %s limit", res)
		}
	}

	args := flags(t, d)
	port := func(flag string) int32 {
		t.Helper()
		addr, ok := args[flag]
		if !ok {
			t.Fatalf("--%s is not set; the default is loopback, unreachable in a pod", flag)
		}
		i := strings.LastIndex(addr, ":")
		p, err := strconv.Atoi(addr[i+1:])
		if err != nil || addr[:i] != "" {
			t.Fatalf("--%s=%s: want :PORT (all interfaces of the pod)", flag, addr)
		}
		if !slices.ContainsFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.ContainerPort == int32(p) }) {
			t.Errorf("--%s port %d is not a container port", flag, p)
		}
		return int32(p)
	}
	grpcPort, healthPort := port("grpc-addr"), port("health-addr")
	port("admin-addr")
	for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if p == nil || p.GRPC == nil {
			t.Errorf("%s probe is not a gRPC probe", name)
			continue
		}
		if p.GRPC.Port != healthPort || p.GRPC.Service == nil || *p.GRPC.Service != healthService {
			t.Errorf("%s probe asks port %d service %v, want the health listener %d, service %s", name, p.GRPC.Port, p.GRPC.Service, healthPort, healthService)
		}
	}

	checkMounts(t, r, d, args)

	// The Services point at the gRPC port with appProtocol grpc.
	for _, name := range []string{"hookguard", "hookguard-pods"} {
		svc := r.get(t, "Service", name).Value.(*corev1.Service)
		ok := false
		for _, sp := range svc.Spec.Ports {
			if sp.Name == "grpc" {
				ok = sp.AppProtocol != nil && *sp.AppProtocol == "grpc" && sp.Port == grpcPort && sp.TargetPort.String() == "grpc"
			}
		}
		if !ok {
			t.Errorf("Service %s: no port grpc → %d with appProtocol grpc", name, grpcPort)
		}
		if !selects(svc.Spec.Selector, d.Spec.Template.Labels) {
			t.Errorf("Service %s selects %v, not the pods %v", name, svc.Spec.Selector, d.Spec.Template.Labels)
		}
	}
	pdb := r.get(t, "PodDisruptionBudget", "hookguard").Value.(*policyv1.PodDisruptionBudget)
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 || !selects(pdb.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("PodDisruptionBudget: minAvailable %v selector %v", pdb.Spec.MinAvailable, pdb.Spec.Selector)
	}
	if d.Spec.Template.Spec.ServiceAccountName != "hookguard" {
		t.Error("the pods do not run as ServiceAccount hookguard")
	}
	r.get(t, "ServiceAccount", "hookguard")
	return d
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// flags parses the container's --name=value arguments after "serve".
func flags(t *testing.T, d *appsv1.Deployment) map[string]string {
	t.Helper()
	args := d.Spec.Template.Spec.Containers[0].Args
	if len(args) == 0 || args[0] != "serve" {
		t.Fatalf("args %v: want serve first (the image's entrypoint is hookguard)", args)
	}
	out := map[string]string{}
	for _, a := range args[1:] {
		name, value, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !ok || !strings.HasPrefix(a, "--") {
			t.Fatalf("argument %q: want --name=value", a)
		}
		out[name] = value
	}
	return out
}

// checkMounts asserts that the policy directory is a ConfigMap volume, that
// every TLS file and every secret file the policies name lies in a Secret
// volume, that the volumes named exist, and that no mount is left unused.
func checkMounts(t *testing.T, r rendered, d *appsv1.Deployment, args map[string]string) {
	t.Helper()
	pod := d.Spec.Template.Spec
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	used := map[string]bool{}
	// mountOf returns the volume mounted at the deepest mount path
	// holding path.
	mountOf := func(path string) (corev1.Volume, corev1.VolumeMount, bool) {
		var best corev1.VolumeMount
		for _, m := range pod.Containers[0].VolumeMounts {
			if (path == m.MountPath || strings.HasPrefix(path, m.MountPath+"/")) && len(m.MountPath) > len(best.MountPath) {
				best = m
			}
		}
		v, ok := volumes[best.Name]
		return v, best, ok
	}

	policies := args["policies"]
	v, m, ok := mountOf(policies)
	if !ok || v.ConfigMap == nil || m.MountPath != policies {
		t.Fatalf("--policies=%s is not the mount path of a ConfigMap volume", policies)
	}
	used[m.Name] = true
	cm := r.get(t, "ConfigMap", v.ConfigMap.Name).Value.(*corev1.ConfigMap)
	if len(cm.Data) == 0 {
		t.Fatalf("ConfigMap %s holds no policy", cm.Name)
	}

	secretFile := func(what, path string) {
		t.Helper()
		v, m, ok := mountOf(path)
		if !ok || v.Secret == nil {
			t.Errorf("%s %s is not in a Secret volume", what, path)
			return
		}
		if _, ok := r[("Secret/" + v.Secret.SecretName)]; ok {
			t.Errorf("Secret %s is shipped with the manifests; secrets are created apart", v.Secret.SecretName)
		}
		used[m.Name] = true
	}
	for _, f := range []string{"grpc-tls-cert", "grpc-tls-key", "grpc-client-ca"} {
		if p, ok := args[f]; ok {
			secretFile("--"+f, p)
		}
	}

	// The policies load (secret values aside), and name their secrets
	// as files inside the Secret volume.
	dir := t.TempDir()
	for name, content := range cm.Data {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		var doc any
		if err := yaml.Unmarshal([]byte(content), &doc); err != nil {
			t.Fatal(err)
		}
		refs := secretFiles(doc)
		if len(refs) == 0 {
			t.Errorf("policy %s names no secret file; the Secret volume is for them", name)
		}
		for _, f := range refs {
			secretFile(fmt.Sprintf("policy %s secret", name), f)
		}
	}
	if _, err := policy.Load(dir, policy.Options{Secrets: policy.Placeholders{}}); err != nil {
		t.Errorf("the ConfigMap's policies do not load: %v", err)
	}

	for _, m := range pod.Containers[0].VolumeMounts {
		if !used[m.Name] {
			t.Errorf("volume mount %s at %s is used by no flag and no policy", m.Name, m.MountPath)
		}
		if !m.ReadOnly {
			t.Errorf("volume mount %s is writable", m.Name)
		}
	}
	for name := range volumes {
		if !slices.ContainsFunc(pod.Containers[0].VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == name }) {
			t.Errorf("volume %s is mounted nowhere", name)
		}
	}
}

// secretFiles returns the values of every secrets[].file in a policy.
func secretFiles(v any) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k, c := range v {
			if k == "secrets" {
				if list, ok := c.([]any); ok {
					for _, s := range list {
						if m, ok := s.(map[string]any); ok {
							if f, ok := m["file"].(string); ok {
								out = append(out, f)
							}
						}
					}
				}
				continue
			}
			out = append(out, secretFiles(c)...)
		}
	case []any:
		for _, c := range v {
			out = append(out, secretFiles(c)...)
		}
	}
	return out
}

// checkNetworkPolicy asserts that only gatewayNS reaches the gRPC port and
// only monitoring the admin port, and that the policy governs ingress.
func checkNetworkPolicy(t *testing.T, r rendered, gatewayNS string) {
	t.Helper()
	np := r.get(t, "NetworkPolicy", "hookguard").Value.(*networkingv1.NetworkPolicy)
	d := r.get(t, "Deployment", "hookguard").Value.(*appsv1.Deployment)
	if !selects(np.Spec.PodSelector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("NetworkPolicy selects %v, not the pods", np.Spec.PodSelector.MatchLabels)
	}
	if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
		t.Error("NetworkPolicy does not govern ingress")
	}
	reach := map[int]map[string]bool{} // port → namespaces
	for _, rule := range np.Spec.Ingress {
		var nss []string
		for _, peer := range rule.From {
			if peer.NamespaceSelector == nil || peer.IPBlock != nil || peer.PodSelector != nil {
				t.Errorf("ingress peer %v: want namespaces only", peer)
				continue
			}
			nss = append(nss, peer.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"])
		}
		if len(rule.From) == 0 {
			t.Errorf("ingress rule %v admits every source", rule)
		}
		if len(rule.Ports) == 0 {
			t.Errorf("ingress rule %v admits every port", rule)
		}
		for _, p := range rule.Ports {
			if reach[p.Port.IntValue()] == nil {
				reach[p.Port.IntValue()] = map[string]bool{}
			}
			for _, ns := range nss {
				reach[p.Port.IntValue()][ns] = true
			}
		}
	}
	for port, want := range map[int]string{9191: gatewayNS, 9192: "monitoring"} {
		if len(reach[port]) != 1 || !reach[port][want] {
			t.Errorf("port %d is reached from %v, want only namespace %s", port, reach[port], want)
		}
	}
}

// The Redis overlay runs the base Deployment with --state from a Secret
// (the URL holds the password), and changes nothing else.
func TestKubernetesRedisOverlay(t *testing.T) {
	r := render(t, filepath.Join(envoyDir(t), "kubernetes", "redis"))
	d := checkWorkload(t, r)
	base := render(t, filepath.Join(envoyDir(t), "kubernetes", "base"))
	if got, want := flags(t, d), flags(t, base.get(t, "Deployment", "hookguard").Value.(*appsv1.Deployment)); !maps.Equal(got, want) {
		t.Errorf("redis overlay flags %v, want the base's %v", got, want)
	}
	if len(r) != len(base) {
		t.Errorf("redis overlay renders %d objects, the base %d: Redis itself is the user's", len(r), len(base))
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e
	}
	state, ok := env["HOOKGUARD_STATE"]
	if !ok || state.Value != "" || state.ValueFrom == nil || state.ValueFrom.SecretKeyRef == nil ||
		state.ValueFrom.SecretKeyRef.Name != "hookguard-redis" || state.ValueFrom.SecretKeyRef.Key != "url" ||
		state.ValueFrom.SecretKeyRef.Optional != nil && *state.ValueFrom.SecretKeyRef.Optional {
		t.Errorf("HOOKGUARD_STATE %+v: want it from Secret hookguard-redis, key url, required", state)
	}
	if env["HOOKGUARD_STATE_PREFIX"].Value == "" || env["HOOKGUARD_STATE_TIMEOUT"].Value == "" {
		t.Errorf("HOOKGUARD_STATE_PREFIX and HOOKGUARD_STATE_TIMEOUT should be spelled out: %v", env)
	}
	if _, ok := env["GOMEMLIMIT"]; !ok {
		t.Error("the patch dropped the base's GOMEMLIMIT")
	}
	checkNetworkPolicy(t, r, "gateway")
}

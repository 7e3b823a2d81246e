package policy

import "testing"

// TestMatchPathParameters: path_parameters compiles into the endpoint's
// match, and stays off unless set.
func TestMatchPathParameters(t *testing.T) {
	res, err := Load(writeDir(t, map[string]string{"p.yaml": `
endpoints:
  - name: params
    match: {path_prefix: /legacy, path_parameters: true}
    verify: {github: {secrets: [{env: GITHUB_SECRET}]}}
  - name: plain
    match: {path_prefix: /webhooks}
    verify: {github: {secrets: [{env: GITHUB_SECRET}]}}
`}), Options{Secrets: testSecrets})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Policy.Endpoint("params").Match.PathParameters {
		t.Error("params: path_parameters not compiled")
	}
	if res.Policy.Endpoint("plain").Match.PathParameters {
		t.Error("plain: path_parameters on without being set")
	}
}

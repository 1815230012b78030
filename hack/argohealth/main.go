// Command argohealth assesses the health of Kubernetes objects as Argo CD does, with Argo CD's own code:
// gitops-engine's health package (github.com/argoproj/gitops-engine/pkg/health: the built-in checks for
// Deployments, Jobs, Pods, Services, PVCs, HPAs, ...) and Argo CD's Lua health scripts run by gopher-lua
// through argo-cd's util/lua (the scripts built into argo-cd under resource_customizations/, and those an
// argocd-cm ConfigMap adds). It reads one JSON request on stdin and writes one JSON reply:
//
//	{"argocd_cm": {"resource.customizations.health.<group>_<Kind>": "<lua>", ...},
//	 "objects": [<live object>, ...]}
//
// The reply gives each object's health ("status" empty where Argo CD has no check for the kind) and the
// application's, aggregated as the application controller does (argo-cd controller/health.go
// setApplicationHealth): hooks and objects without a check are left out, the worst status wins. "waiting"
// lists the non-hook objects a sync waits for before it runs PostSync hooks: gitops-engine's sync keeps a
// resource's task running until its health is Healthy and fails it when Degraded
// (pkg/sync/sync_context.go Sync).
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/argoproj/gitops-engine/pkg/health"
	hookutil "github.com/argoproj/gitops-engine/pkg/sync/hook"
	"github.com/argoproj/gitops-engine/pkg/sync/ignore"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	appv1 "github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"github.com/argoproj/argo-cd/v3/util/lua"
)

type request struct {
	ArgoCDCM map[string]string        `json:"argocd_cm"`
	Objects  []map[string]interface{} `json:"objects"`
}

type objectHealth struct {
	Kind    string `json:"kind"`
	Name    string `json:"name"`
	Hook    bool   `json:"hook"`
	Status  string `json:"status"`
	Message string `json:"message"`
}

type reply struct {
	Objects []objectHealth `json:"objects"`
	App     string         `json:"app"`
	Waiting []string       `json:"waiting"`
	Errors  []string       `json:"errors"`
}

// overrides reads the health keys of an argocd-cm ConfigMap's data as Argo CD's settings manager does
// (argo-cd util/settings/settings.go appendResourceOverridesFromSplitKeys and convertToOverrideKey):
// resource.customizations.health.<group>_<Kind> -> "<group>/<Kind>", resource.customizations.useOpenLibs.*
// likewise.
func overrides(data map[string]string) (map[string]appv1.ResourceOverride, error) {
	result := map[string]appv1.ResourceOverride{}
	for key, value := range data {
		parts := strings.SplitN(key, ".", 4)
		if len(parts) < 4 || parts[0]+"."+parts[1] != "resource.customizations" {
			continue
		}
		groupKind := strings.Split(parts[3], "_")
		var name string
		switch {
		case len(groupKind) == 2:
			name = groupKind[0] + "/" + groupKind[1]
		case len(groupKind) == 1 && parts[3] != "":
			name = parts[3]
		default:
			return nil, fmt.Errorf("%s: group kind should be <group>_<Kind> or <Kind>", key)
		}
		override := result[name]
		switch parts[2] {
		case "health":
			override.HealthLua = value
		case "useOpenLibs":
			override.UseOpenLibs = value == "true"
		}
		result[name] = override
	}
	return result, nil
}

func main() {
	var req request
	if err := json.NewDecoder(os.Stdin).Decode(&req); err != nil {
		fmt.Fprintln(os.Stderr, "reading the request:", err)
		os.Exit(2)
	}
	resourceOverrides, err := overrides(req.ArgoCDCM)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	healthOverrides := lua.ResourceHealthOverrides(resourceOverrides)
	out := reply{Objects: []objectHealth{}, App: string(health.HealthStatusHealthy), Waiting: []string{}, Errors: []string{}}
	for _, raw := range req.Objects {
		obj := &unstructured.Unstructured{Object: raw}
		entry := objectHealth{Kind: obj.GetKind(), Name: obj.GetName(), Hook: hookutil.IsHook(obj)}
		status, err := health.GetResourceHealth(obj, healthOverrides)
		if err != nil {
			out.Errors = append(out.Errors, fmt.Sprintf("%s/%s: %v", entry.Kind, entry.Name, err))
		}
		if status != nil {
			entry.Status, entry.Message = string(status.Status), status.Message
		}
		out.Objects = append(out.Objects, entry)
		if entry.Hook || hookutil.Skip(obj) || ignore.Ignore(obj) || status == nil {
			continue
		}
		if health.IsWorse(health.HealthStatusCode(out.App), status.Status) {
			out.App = string(status.Status)
		}
		if status.Status != health.HealthStatusHealthy {
			gvk := obj.GroupVersionKind()
			out.Waiting = append(out.Waiting, fmt.Sprintf("%s/%s/%s", gvk.Group, gvk.Kind, obj.GetName()))
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

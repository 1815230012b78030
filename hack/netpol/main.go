// Command netpol answers whether NetworkPolicies admit a flow, with the policy matcher of cyclonus
// (github.com/mattfenwick/cyclonus/pkg/matcher), the SIG Network evaluator that network-policy-api's
// policy assistant grew from. The chart's tests ask it about every flow GKE needs and every flow that
// must stay closed, for every values file that renders a NetworkPolicy. It reads one JSON request on
// stdin and writes one JSON reply:
//
//	{"cases": [{"policies": [<NetworkPolicy>...],
//	            "flows": [{"source": {"namespace": "gmp-system", "namespaceLabels": {}, "podLabels": {}},
//	                       "destination": {"namespace": "default", "namespaceLabels": {}, "podLabels": {...}},
//	                       "port": 8000, "portName": "http", "protocol": "TCP"}]}]}
//
// A peer with no namespace is outside the cluster and is named by its "ip" alone. The reply holds, per
// case and flow, whether ingress and egress both admit it and which policies decided.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/mattfenwick/cyclonus/pkg/matcher"
	v1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

type peerIn struct {
	Namespace       string            `json:"namespace"`
	NamespaceLabels map[string]string `json:"namespaceLabels"`
	PodLabels       map[string]string `json:"podLabels"`
	IP              string            `json:"ip"`
}

type flowIn struct {
	Source      peerIn `json:"source"`
	Destination peerIn `json:"destination"`
	Port        int    `json:"port"`
	PortName    string `json:"portName"`
	Protocol    string `json:"protocol"`
}

type caseIn struct {
	Policies []json.RawMessage `json:"policies"`
	Flows    []flowIn          `json:"flows"`
}

type flowOut struct {
	Allowed  bool     `json:"allowed"`
	Ingress  bool     `json:"ingress"`
	Egress   bool     `json:"egress"`
	Denying  []string `json:"denying"`  // policies that select the destination and admit nothing here
	Allowing []string `json:"allowing"` // policies that select the destination and admit this flow
}

func peer(p peerIn) *matcher.TrafficPeer {
	if p.Namespace == "" {
		return &matcher.TrafficPeer{IP: p.IP}
	}
	nsLabels := map[string]string{"kubernetes.io/metadata.name": p.Namespace} // set by the API server on every namespace
	for k, v := range p.NamespaceLabels {
		nsLabels[k] = v
	}
	return &matcher.TrafficPeer{
		IP:       p.IP,
		Internal: &matcher.InternalPeer{Namespace: p.Namespace, NamespaceLabels: nsLabels, PodLabels: p.PodLabels},
	}
}

func names(targets []*matcher.Target) []string {
	out := []string{}
	for _, t := range targets {
		for _, np := range t.SourceRules {
			out = append(out, np.Namespace+"/"+np.Name)
		}
	}
	sort.Strings(out)
	return out
}

func evaluate(c caseIn) ([]flowOut, error) {
	var policies []*networkingv1.NetworkPolicy
	for i, raw := range c.Policies {
		np := &networkingv1.NetworkPolicy{}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields() // a field the types don't know would otherwise vanish unevaluated
		if err := dec.Decode(np); err != nil {
			return nil, fmt.Errorf("policy %d: %w", i, err)
		}
		policies = append(policies, np)
	}
	policy := matcher.BuildNetworkPolicies(false, policies)
	out := make([]flowOut, 0, len(c.Flows))
	for _, f := range c.Flows {
		protocol := v1.Protocol(f.Protocol)
		if protocol == "" {
			protocol = v1.ProtocolTCP
		}
		result := policy.IsTrafficAllowed(&matcher.Traffic{
			Source:           peer(f.Source),
			Destination:      peer(f.Destination),
			ResolvedPort:     f.Port,
			ResolvedPortName: f.PortName,
			Protocol:         protocol,
		})
		out = append(out, flowOut{
			Allowed:  result.IsAllowed(),
			Ingress:  result.Ingress.IsAllowed(),
			Egress:   result.Egress.IsAllowed(),
			Denying:  names(result.Ingress.DenyingTargets),
			Allowing: names(result.Ingress.AllowingTargets),
		})
	}
	return out, nil
}

func main() {
	var request struct {
		Cases []caseIn `json:"cases"`
	}
	dec := json.NewDecoder(os.Stdin)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&request); err != nil {
		fmt.Fprintf(os.Stderr, "netpol: reading the request: %v\n", err)
		os.Exit(2)
	}
	reply := struct {
		Results [][]flowOut `json:"results"`
	}{Results: [][]flowOut{}}
	for i, c := range request.Cases {
		flows, err := evaluate(c)
		if err != nil {
			fmt.Fprintf(os.Stderr, "netpol: case %d: %v\n", i, err)
			os.Exit(2)
		}
		reply.Results = append(reply.Results, flows)
	}
	if err := json.NewEncoder(os.Stdout).Encode(reply); err != nil {
		fmt.Fprintf(os.Stderr, "netpol: %v\n", err)
		os.Exit(2)
	}
}

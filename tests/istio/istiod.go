package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	extensions "istio.io/api/extensions/v1alpha1"
	typeapi "istio.io/api/type/v1beta1"
	"sigs.k8s.io/yaml"

	"istio.io/istio/pilot/pkg/model"
	"istio.io/istio/pilot/pkg/networking/core/extension"
	"istio.io/istio/pkg/util/protomarshal"
)

type istiodResult struct {
	// ListenerFilter is the filter istiod puts in the listener's chain: a
	// config_discovery over ADS naming the ECDS resource.
	ListenerFilter json.RawMessage `json:"listenerFilter"`
	// ExtensionConfig is the ECDS resource (core.v3.TypedExtensionConfig)
	// istiod sends for that name.
	ExtensionConfig json.RawMessage `json:"extensionConfig"`
}

// syntheticMarker: istiod turns each WasmPlugin into a TrafficExtension
// named after it with this suffix (pilot/pkg/config/kube/extensions/translate.go).
const syntheticMarker = "~istio-translated-wasmplugin"

// istiod reads a WasmPlugin manifest and returns what istiod generates for a
// proxy it applies to. The WasmPlugin → TrafficExtension copy below mirrors
// translateWasmPlugin and convertToTrafficExtensionWrapper (both unexported:
// pilot/pkg/config/kube/extensions/translate.go, pilot/pkg/model/extensions.go);
// everything after it is Istio's exported code.
func istiod(args []string) (any, error) {
	fs := flag.NewFlagSet("istiod", flag.ContinueOnError)
	file := fs.String("f", "", "WasmPlugin manifest")
	resourceVersion := fs.String("resource-version", "1", "the object's metadata.resourceVersion")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	text, err := os.ReadFile(*file)
	if err != nil {
		return nil, err
	}
	var obj struct {
		Kind     string `json:"kind"`
		Metadata struct {
			Name      string `json:"name"`
			Namespace string `json:"namespace"`
		} `json:"metadata"`
		Spec json.RawMessage `json:"spec"`
	}
	if err := yaml.Unmarshal(text, &obj); err != nil {
		return nil, err
	}
	if obj.Kind != "WasmPlugin" {
		return nil, fmt.Errorf("%s: kind is %q, not WasmPlugin", *file, obj.Kind)
	}
	wp := &extensions.WasmPlugin{}
	if err := protomarshal.Unmarshal(obj.Spec, wp); err != nil {
		return nil, fmt.Errorf("%s: spec: %v", *file, err)
	}

	targetRefs := wp.TargetRefs
	if wp.TargetRef != nil && len(targetRefs) == 0 {
		targetRefs = []*typeapi.PolicyTargetReference{wp.TargetRef}
	}
	var match []*extensions.TrafficSelector
	for _, m := range wp.Match {
		match = append(match, &extensions.TrafficSelector{Mode: m.Mode, Ports: m.Ports})
	}
	name := obj.Metadata.Name + syntheticMarker
	ns := obj.Metadata.Namespace
	wrapper := &model.TrafficExtensionWrapper{
		TrafficExtension: &extensions.TrafficExtension{
			Selector:   wp.Selector,
			TargetRefs: targetRefs,
			Phase:      extensions.TrafficExtension_ExecutionPhase(wp.Phase),
			Priority:   wp.Priority,
			Match:      match,
			FilterConfig: &extensions.TrafficExtension_Wasm{Wasm: &extensions.WasmConfig{
				Url:             wp.Url,
				Sha256:          wp.Sha256,
				ImagePullPolicy: wp.ImagePullPolicy,
				ImagePullSecret: wp.ImagePullSecret,
				PluginConfig:    wp.PluginConfig,
				PluginName:      wp.PluginName,
				FailStrategy:    wp.FailStrategy,
				VmConfig:        wp.VmConfig,
				Type:            wp.Type,
			}},
		},
		Name:            name,
		Namespace:       ns,
		ResourceName:    model.TrafficExtensionResourceNamePrefix + ns + "." + name,
		ResourceVersion: *resourceVersion,
	}

	phase := wrapper.TrafficExtension.Phase
	filters := extension.PopAppendNetworkTrafficExtension(nil,
		map[extensions.TrafficExtension_ExecutionPhase][]*model.TrafficExtensionWrapper{phase: {wrapper}}, phase)
	configs := extension.InsertedTrafficExtensionConfigurations([]*model.TrafficExtensionWrapper{wrapper}, []string{wrapper.ResourceName}, nil)
	if len(filters) != 1 || len(configs) != 1 {
		return nil, fmt.Errorf("%s: istiod generated %d listener filters and %d extension configs (is type NETWORK?)", *file, len(filters), len(configs))
	}
	filter, err := protomarshal.Marshal(filters[0])
	if err != nil {
		return nil, err
	}
	ec, err := protomarshal.Marshal(configs[0])
	if err != nil {
		return nil, err
	}
	return istiodResult{ListenerFilter: filter, ExtensionConfig: ec}, nil
}

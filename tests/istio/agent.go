package main

import (
	"encoding/json"
	"flag"
	"io"
	"os"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"istio.io/istio/pkg/util/protomarshal"
	"istio.io/istio/pkg/wasm"
)

type agentResult struct {
	// ExtensionConfig is the resource the agent forwards to Envoy.
	ExtensionConfig json.RawMessage `json:"extensionConfig"`
}

// agent rewrites one ECDS resource as istio-agent does before forwarding it
// to Envoy (pkg/istio-agent/xds_proxy_delta.go calls
// wasm.MaybeConvertWasmExtensionConfig with its LocalFileCache).
func agent(args []string) (any, error) {
	fs := flag.NewFlagSet("agent", flag.ContinueOnError)
	dir := fs.String("cache", "", "the module cache directory")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		return nil, err
	}
	ec := &core.TypedExtensionConfig{}
	if err := protomarshal.Unmarshal(in, ec); err != nil {
		return nil, err
	}
	resource, err := anypb.New(ec)
	if err != nil {
		return nil, err
	}
	cache := wasm.NewLocalFileCache(*dir, wasm.Options{})
	defer cache.Cleanup()
	resources := []*anypb.Any{resource}
	if err := wasm.MaybeConvertWasmExtensionConfig(resources, cache); err != nil {
		return nil, err
	}
	out := &core.TypedExtensionConfig{}
	if err := resources[0].UnmarshalTo(out); err != nil {
		return nil, err
	}
	js, err := protomarshal.Marshal(out)
	if err != nil {
		return nil, err
	}
	return agentResult{ExtensionConfig: js}, nil
}

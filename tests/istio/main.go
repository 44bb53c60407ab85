// ppv2-istio runs Istio's own Go code (istio.io/istio, pinned in go.mod) on
// the steps of a WasmPlugin's delivery that need no cluster, so the tests
// check this project against the code an Istio user runs, not against a
// reading of it:
//
//	fetch     the agent's image fetcher (pkg/wasm ImageFetcher): pull an
//	          oci:// image, report the manifest digest, extract plugin.wasm
//	istiod    istiod's generation of the ECDS resource and of the listener
//	          filter that asks for it (pilot/pkg/networking/core/extension)
//	agent     the agent's rewrite of that ECDS resource (pkg/wasm
//	          MaybeConvertWasmExtensionConfig): pull through the module cache,
//	          check sha256, point the VM at the local file, or put the
//	          fail-strategy RBAC filter in its place when the pull fails
//	validate  the API server's checks of Istio objects (CRD schema, unknown
//	          fields, CEL rules, with istio.io/api's CRDs), then istiod's
//	          validating webhook; built-in Kubernetes kinds strictly decoded
//
// Every subcommand prints JSON on stdout; Istio's own log lines go to stderr.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"istio.io/istio/pkg/log"
)

const usage = `usage: ppv2-istio COMMAND [options]
  fetch    -url oci://REGISTRY/REPO:TAG [-out FILE]
  istiod   -f WASMPLUGIN.yaml [-resource-version V]
  agent    -cache DIR < EXTENSION_CONFIG.json
  validate -crds CRDS.yaml FILE...`

func main() {
	if len(os.Args) < 2 {
		fail(2, usage)
	}
	commands := map[string]func([]string) (any, error){
		"fetch":    fetch,
		"istiod":   istiod,
		"agent":    agent,
		"validate": validate,
	}
	run, ok := commands[os.Args[1]]
	if !ok {
		fail(2, "ppv2-istio: unknown command %q\n%s", os.Args[1], usage)
	}
	// Istio logs to stdout by default; stdout is for the JSON result.
	logging := log.DefaultOptions()
	logging.OutputPaths = []string{"stderr"}
	if err := log.Configure(logging); err != nil {
		fail(1, "ppv2-istio: %v", err)
	}
	out, err := run(os.Args[2:])
	if err != nil {
		fail(1, "ppv2-istio %s: %v", os.Args[1], err)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fail(1, "ppv2-istio: %v", err)
	}
}

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(code)
}

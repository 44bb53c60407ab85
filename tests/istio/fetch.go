package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"istio.io/istio/pkg/wasm"
)

type fetchResult struct {
	// Digest is the manifest digest the fetcher reports: what the agent
	// compares with the WasmPlugin's sha256 for an oci:// url (pkg/wasm/cache.go).
	Digest string `json:"digest"`
	// WasmSha256 is the sha256 of the extracted plugin.wasm.
	WasmSha256 string `json:"wasmSha256"`
	Size       int    `json:"size"`
}

// fetch pulls an image the way the agent does (pkg/wasm/cache.go, case
// "oci"): NewImageFetcher, then PrepareFetch with the url's host and path,
// which falls back to plain HTTP when the registry answers without TLS.
func fetch(args []string) (any, error) {
	fs := flag.NewFlagSet("fetch", flag.ContinueOnError)
	url := fs.String("url", "", "oci://REGISTRY/REPO:TAG")
	out := fs.String("out", "", "where to write the extracted plugin.wasm")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	ref, ok := strings.CutPrefix(*url, "oci://")
	if !ok {
		return nil, fmt.Errorf("-url must start with oci://, got %q", *url)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	binary, digest, err := wasm.NewImageFetcher(ctx, wasm.ImageFetcherOption{}).PrepareFetch(ref)
	if err != nil {
		return nil, err
	}
	module, err := binary()
	if err != nil {
		return nil, err
	}
	if *out != "" {
		if err := os.WriteFile(*out, module, 0o644); err != nil {
			return nil, err
		}
	}
	sum := sha256.Sum256(module)
	return fetchResult{Digest: digest, WasmSha256: hex.EncodeToString(sum[:]), Size: len(module)}, nil
}

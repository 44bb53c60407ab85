package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kubejson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	kubeyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/schema/collections"
	"istio.io/istio/pkg/util/protomarshal"
)

type docResult struct {
	File string `json:"file"`
	// Doc is the index of the YAML document in the file.
	Doc      int      `json:"doc"`
	Kind     string   `json:"kind"`
	Name     string   `json:"name"`
	Errors   []string `json:"errors"`
	Warnings []string `json:"warnings"`
}

// validate checks every Istio object in the files twice:
//   - against the CRD of its kind in -crds (istio.io/api's generated CRD file)
//     with Kubernetes' own CRD code, as the API server runs it on apply
//     (crdSchema below); unknown fields, which the server would prune, are
//     errors, as with kubectl apply --validate=strict;
//   - with istiod's validating webhook for that kind (the ValidateConfig of
//     its schema, which is also what istioctl validate runs).
//
// Kubernetes' built-in kinds are decoded as the API server decodes them
// with field validation Strict (checkBuiltIn). Any other kind is an error.
func validate(args []string) (any, error) {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	crds := fs.String("crds", "", "istio.io/api kubernetes/customresourcedefinitions.gen.yaml")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	schemas, err := loadCRDs(*crds)
	if err != nil {
		return nil, err
	}
	results := []docResult{}
	for _, file := range fs.Args() {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		docs := kubeyaml.NewYAMLReader(bufio.NewReader(f))
		for i := 0; ; i++ {
			item, err := docs.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("%s: %v", file, err)
			}
			if strings.TrimSpace(string(item)) == "" || strings.TrimSpace(string(item)) == "---" {
				continue
			}
			if r, ok := validateDoc(schemas, file, i, item); ok {
				results = append(results, r)
			}
		}
		f.Close()
	}
	return results, nil
}

// validateDoc checks one document; ok is false for a document with no
// content (comments only), which is not an object.
func validateDoc(schemas *crdSchemas, file string, doc int, item []byte) (r docResult, ok bool) {
	r = docResult{File: file, Doc: doc, Errors: []string{}, Warnings: []string{}}
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(item, &obj.Object); err != nil {
		r.Errors = append(r.Errors, err.Error())
		return r, true
	}
	if len(obj.Object) == 0 {
		return r, false
	}
	return checkObject(schemas, r, obj, item), true
}

func checkObject(schemas *crdSchemas, r docResult, obj *unstructured.Unstructured, item []byte) docResult {
	gvk := obj.GroupVersionKind()
	r.Kind = fmt.Sprintf("%s/%s", obj.GetAPIVersion(), gvk.Kind)
	r.Name = obj.GetName()
	if !strings.HasSuffix(gvk.Group, "istio.io") {
		r.Errors = append(r.Errors, checkBuiltIn(gvk, item)...)
		return r
	}
	s, err := schemas.get(gvk)
	if err != nil {
		r.Errors = append(r.Errors, fmt.Sprintf("the CRD for %s: %v", r.Kind, err))
		return r
	}
	if s == nil {
		r.Errors = append(r.Errors, fmt.Sprintf("istio.io/api has no CRD for %s", r.Kind))
		return r
	}
	r.Errors = append(r.Errors, s.check(obj)...)
	if len(r.Errors) > 0 {
		// The API server runs validating webhooks only on objects that pass the schema.
		return r
	}

	pilot, ok := collections.Pilot.FindByGroupVersionAliasesKind(config.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind})
	if !ok {
		r.Errors = append(r.Errors, fmt.Sprintf("istiod has no schema for %s", r.Kind))
		return r
	}
	spec, err := pilot.NewInstance()
	if err != nil {
		r.Errors = append(r.Errors, err.Error())
		return r
	}
	message, ok := spec.(proto.Message)
	if !ok {
		r.Errors = append(r.Errors, fmt.Sprintf("istiod's schema for %s is not a proto message", r.Kind))
		return r
	}
	specJSON, err := json.Marshal(obj.Object["spec"])
	if err != nil {
		r.Errors = append(r.Errors, err.Error())
		return r
	}
	// Unknown fields are the CRD check's to report, with their paths.
	if err := protomarshal.UnmarshalAllowUnknown(specJSON, message); err != nil {
		r.Errors = append(r.Errors, fmt.Sprintf("spec: %v", err))
		return r
	}
	namespace := obj.GetNamespace()
	if namespace == "" {
		namespace = "default"
	}
	warning, err := pilot.ValidateConfig(config.Config{
		Meta: config.Meta{GroupVersionKind: pilot.GroupVersionKind(), Name: obj.GetName(), Namespace: namespace},
		Spec: spec,
	})
	if err != nil {
		r.Errors = append(r.Errors, "istiod webhook: "+err.Error())
	}
	if warning != nil {
		r.Warnings = append(r.Warnings, warning.Error())
	}
	return r
}

// strictDecoder decodes built-in kinds into the Kubernetes API types
// (k8s.io/api, at the version Istio pins) the way the API server does for
// kubectl apply --validate=strict: unknown and duplicate fields are errors,
// and so are values of the wrong type. The server's further checks of
// values (required fields, ranges) live in Kubernetes' own repository, which
// is not a Go module others can import, so they are not run here.
var strictDecoder = kubejson.NewSerializerWithOptions(kubejson.DefaultMetaFactory, scheme.Scheme, scheme.Scheme,
	kubejson.SerializerOptions{Yaml: true, Strict: true})

func checkBuiltIn(gvk schema.GroupVersionKind, item []byte) []string {
	if !scheme.Scheme.Recognizes(gvk) {
		return []string{fmt.Sprintf("no schema for %s/%s: known are Kubernetes' built-in kinds and Istio's CRDs", gvk.GroupVersion(), gvk.Kind)}
	}
	_, _, err := strictDecoder.Decode(item, nil, nil)
	if err == nil {
		return nil
	}
	if strict, ok := runtime.AsStrictDecodingError(err); ok {
		problems := []string{}
		for _, e := range strict.Errors() {
			problems = append(problems, e.Error())
		}
		return problems
	}
	return []string{err.Error()}
}

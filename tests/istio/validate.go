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
	"k8s.io/apimachinery/pkg/runtime/schema"
	kubeyaml "k8s.io/apimachinery/pkg/util/yaml"
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
	Checked  bool     `json:"checked"`
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
// Objects of other groups are listed with checked=false.
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
			results = append(results, validateDoc(schemas, file, i, item))
		}
		f.Close()
	}
	return results, nil
}

func validateDoc(schemas map[schema.GroupVersionKind]*crdSchema, file string, doc int, item []byte) docResult {
	r := docResult{File: file, Doc: doc, Errors: []string{}, Warnings: []string{}}
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(item, &obj.Object); err != nil {
		r.Errors = append(r.Errors, err.Error())
		return r
	}
	gvk := obj.GroupVersionKind()
	r.Kind = fmt.Sprintf("%s/%s", obj.GetAPIVersion(), gvk.Kind)
	r.Name = obj.GetName()
	if !strings.HasSuffix(gvk.Group, "istio.io") {
		return r
	}
	r.Checked = true
	s, ok := schemas[gvk]
	if !ok {
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

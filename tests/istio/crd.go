package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	structurallisttype "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	structuralpruning "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kubeyaml "k8s.io/apimachinery/pkg/util/yaml"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
)

// crdSchema is one version of one CRD, ready to check objects the way the
// API server's custom resource handler does. The steps follow Istio's own
// CRD validator for tests (pkg/config/crd/validator.go), which this program
// does not import because its package pulls in Istio's test framework.
type crdSchema struct {
	validator  validation.SchemaCreateValidator
	structural *structuralschema.Structural
	cel        *cel.Validator
}

// crdSchemas holds every version of every CRD read, and builds a version's
// validators the first time an object of that kind is checked: compiling all
// of Istio's schemas and CEL rules takes about a second.
type crdSchemas struct {
	sources map[schema.GroupVersionKind]*apiextensions.CustomResourceValidation
	built   map[schema.GroupVersionKind]*crdSchema
}

func (c *crdSchemas) get(gvk schema.GroupVersionKind) (*crdSchema, error) {
	if s, ok := c.built[gvk]; ok {
		return s, nil
	}
	source, ok := c.sources[gvk]
	if !ok {
		return nil, nil
	}
	validator, _, err := validation.NewSchemaValidator(source.OpenAPIV3Schema)
	if err != nil {
		return nil, err
	}
	structural, err := structuralschema.NewStructural(source.OpenAPIV3Schema)
	if err != nil {
		return nil, err
	}
	s := &crdSchema{validator: validator, structural: structural, cel: cel.NewValidator(structural, true, celconfig.PerCallLimit)}
	c.built[gvk] = s
	return s, nil
}

// loadCRDs reads every apiextensions.k8s.io/v1 CustomResourceDefinition in file.
func loadCRDs(file string) (*crdSchemas, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := &crdSchemas{sources: map[schema.GroupVersionKind]*apiextensions.CustomResourceValidation{}, built: map[schema.GroupVersionKind]*crdSchema{}}
	decoder := kubeyaml.NewYAMLOrJSONDecoder(f, 512*1024)
	for {
		un := &unstructured.Unstructured{}
		if err := decoder.Decode(un); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("%s: %v", file, err)
		}
		if un.GetKind() != "CustomResourceDefinition" {
			continue
		}
		v1 := apiextensionsv1.CustomResourceDefinition{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(un.Object, &v1); err != nil {
			return nil, err
		}
		crd := apiextensions.CustomResourceDefinition{}
		if err := apiextensionsv1.Convert_v1_CustomResourceDefinition_To_apiextensions_CustomResourceDefinition(&v1, &crd, nil); err != nil {
			return nil, err
		}
		for _, version := range crd.Spec.Versions {
			// The internal form keeps a schema shared by every version once, in spec.validation.
			crdValidation := version.Schema
			if crdValidation == nil {
				crdValidation = crd.Spec.Validation
			}
			if crdValidation == nil {
				return nil, fmt.Errorf("%s: CRD %s version %s has no schema", file, crd.Name, version.Name)
			}
			gvk := schema.GroupVersionKind{Group: crd.Spec.Group, Version: version.Name, Kind: crd.Spec.Names.Kind}
			out.sources[gvk] = crdValidation
		}
	}
	return out, nil
}

// check returns one line per problem: defaults applied, then the OpenAPI
// schema, list-type rules, fields the server would prune (metadata aside:
// CRDs leave it to the server's own ObjectMeta checks) and CEL rules.
func (s *crdSchema) check(obj *unstructured.Unstructured) []string {
	problems := []string{}
	un := obj.DeepCopy()
	structuraldefaulting.Default(un.Object, s.structural)
	for _, err := range validation.ValidateCustomResource(nil, un.Object, s.validator) {
		problems = append(problems, err.Error())
	}
	for _, err := range structurallisttype.ValidateListSetsAndMaps(nil, s.structural, un.Object) {
		problems = append(problems, err.Error())
	}
	pruned := structuralpruning.PruneWithOptions(un.DeepCopy().Object, s.structural, false,
		structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	for _, path := range pruned {
		if len(path) >= 9 && path[:9] == "metadata." {
			continue
		}
		problems = append(problems, fmt.Sprintf("%s: unknown field", path))
	}
	if s.cel != nil {
		errs, _ := s.cel.Validate(context.Background(), nil, s.structural, un.Object, nil, celconfig.RuntimeCELCostBudget)
		for _, err := range errs {
			problems = append(problems, err.Error())
		}
	}
	return problems
}

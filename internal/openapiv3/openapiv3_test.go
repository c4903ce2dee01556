package openapiv3

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	servicecenterd "github.com/servicecenterd/servicecenterd"
)

// TestCommittedDocumentIsCurrent fails when gen/openapi's v3 document is
// not what FromV2 makes of the v2 one (run make generate).
func TestCommittedDocumentIsCurrent(t *testing.T) {
	got, err := FromV2(context.Background(), servicecenterd.OpenAPIv2)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, servicecenterd.OpenAPIv3) {
		t.Fatal("gen/openapi/servicecenter.openapi.v3.json is stale: run make generate")
	}
}

// TestDocument checks what the clients rely on: version 3.0, every REST
// route of the v2 document, a schema for the error body.
func TestDocument(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(servicecenterd.OpenAPIv3)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi %q, want 3.0.3", doc.OpenAPI)
	}
	var v2 struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(servicecenterd.OpenAPIv2, &v2); err != nil {
		t.Fatal(err)
	}
	for path, ops := range v2.Paths {
		item := doc.Paths.Value(path)
		if item == nil {
			t.Errorf("path %s missing", path)
			continue
		}
		for method := range ops {
			if item.GetOperation(strings.ToUpper(method)) == nil && method != "parameters" {
				t.Errorf("%s %s missing", method, path)
			}
		}
	}
	if doc.Components.Schemas["rpcStatus"] == nil {
		t.Error("no rpcStatus schema (the error body)")
	}
}

// TestFromV2Refuses shows that a document that does not convert or
// validate is an error.
func TestFromV2Refuses(t *testing.T) {
	for name, in := range map[string]string{
		"not json":      `{`,
		"dangling $ref": `{"swagger":"2.0","info":{"title":"t","version":"1"},"paths":{"/x":{"get":{"responses":{"200":{"description":"ok","schema":{"$ref":"#/definitions/Missing"}}}}}}}`,
	} {
		if _, err := FromV2(context.Background(), []byte(in)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestStructFieldsTakeAnyObject: ext_json (a google.protobuf.Struct) takes
// any JSON object; an empty message body stays an object without
// properties.
func TestStructFieldsTakeAnyObject(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData(servicecenterd.OpenAPIv3)
	if err != nil {
		t.Fatal(err)
	}
	ext := doc.Components.Schemas["WorkcardServiceAssignWorkerBody"].Value.Properties["ext_json"].Value
	if ext.AdditionalProperties.Has == nil || !*ext.AdditionalProperties.Has {
		t.Errorf("ext_json additionalProperties = %+v, want true", ext.AdditionalProperties)
	}
	cancel := doc.Components.Schemas["LogisticsServiceCancelBlacklistSyncJobBody"].Value
	if cancel.AdditionalProperties.Has != nil {
		t.Errorf("the empty cancel body got additionalProperties %v", *cancel.AdditionalProperties.Has)
	}
}

// Package openapiv3 turns the OpenAPI v2 (Swagger) document that
// protoc-gen-openapiv2 writes into an OpenAPI 3.0 one, for the tools that
// read only version 3 (openapi-typescript, most generators today). The
// conversion is kin-openapi's openapi2conv, the one the Go ecosystem uses;
// this package adds the document's server, opens the google.protobuf.Struct
// fields to any JSON object (openStructs) and checks the result with
// kin-openapi's validator.
package openapiv3

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
)

// openStructs says that a google.protobuf.Struct field (ext_json, extra)
// takes any JSON object. protoc-gen-openapiv2 writes such a field as a
// bare {"type": "object"}, which generators read as an object that may
// have no property at all (openapi-typescript: Record<string, never>).
// Only properties are changed: a message schema without fields (an empty
// request body) stays as it is.
func openStructs(doc *openapi3.T) {
	for _, schema := range doc.Components.Schemas {
		if schema.Value == nil {
			continue
		}
		for _, prop := range schema.Value.Properties {
			v := prop.Value
			if prop.Ref == "" && v != nil && v.Type.Is(openapi3.TypeObject) && len(v.Properties) == 0 &&
				v.AdditionalProperties.Has == nil && v.AdditionalProperties.Schema == nil {
				yes := true
				v.AdditionalProperties = openapi3.AdditionalProperties{Has: &yes}
			}
		}
	}
}

// FromV2 converts an OpenAPI v2 document (JSON) to a validated OpenAPI
// 3.0 document (indented JSON, keys sorted, so the same input gives the
// same bytes). The paths stay relative to the server they are served by
// ("/").
func FromV2(ctx context.Context, v2 []byte) ([]byte, error) {
	var doc2 openapi2.T
	if err := json.Unmarshal(v2, &doc2); err != nil {
		return nil, fmt.Errorf("read the OpenAPI v2 document: %w", err)
	}
	doc3, err := openapi2conv.ToV3(&doc2)
	if err != nil {
		return nil, fmt.Errorf("convert to OpenAPI 3: %w", err)
	}
	openStructs(doc3)
	doc3.Servers = openapi3.Servers{{URL: "/", Description: "the servicecenterd HTTP listener (--http-addr) that serves this document"}}
	if err := doc3.Validate(ctx); err != nil {
		return nil, fmt.Errorf("the OpenAPI 3 document is invalid: %w", err)
	}
	out, err := json.MarshalIndent(doc3, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("write the OpenAPI 3 document: %w", err)
	}
	return append(out, '\n'), nil
}

// Package openapiv3 turns the OpenAPI v2 (Swagger) document that
// protoc-gen-openapiv2 writes into an OpenAPI 3.0 one, for the tools that
// read only version 3 (openapi-typescript, most generators today). The
// conversion is kin-openapi's openapi2conv, the one the Go ecosystem uses;
// this package adds the document's server and checks the result with
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

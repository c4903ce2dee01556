// Validates an OpenAPI document against the OpenAPI schema with
// @apidevtools/swagger-parser (every $ref resolved), and prints its version.
//
//   node validate-openapi.mjs ../../gen/openapi/servicecenter.openapi.v3.json
import SwaggerParser from "@apidevtools/swagger-parser";

const file = process.argv[2];
const api = await SwaggerParser.validate(file);
console.log("valid OpenAPI %s: %s, %d paths", api.openapi ?? api.swagger, api.info.title, Object.keys(api.paths).length);

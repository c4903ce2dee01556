// Package clients runs the example clients of examples/ (Node with Connect
// and with @grpc/grpc-js, grpc-js-reflection-client, Python with grpcio,
// Java with grpc-java, REST with openapi-typescript types) against a live servicecenterd on
// loopback, as other teams would call it. The tests are behind the build
// tag "clients": `make test-clients` installs the clients' tools, generates
// their code and runs them.
package clients

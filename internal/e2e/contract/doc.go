// Package contract holds the tests of the servicecenter.v1 protobuf
// contract (proto/servicecenter/v1, generated into gen/go/servicecenter/v1):
// every service, RPC, message, field, enum value and rule extension has a
// doc comment naming what it maps to in TOP, every RPC has its REST route,
// the generated code matches the .proto sources, and every buf.validate
// rule accepts and refuses what it should. It has no code of its own.
package contract

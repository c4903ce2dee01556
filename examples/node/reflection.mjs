// Loads every service of servicecenterd through gRPC server reflection with
// grpc-js-reflection-client (no .proto files at all), then calls
// GetWorkerTags through what it loaded.
//
//   node reflection.mjs [127.0.0.1:9090]
import grpc from "@grpc/grpc-js";
import { GrpcReflection } from "grpc-js-reflection-client";
import { promisify } from "node:util";

const addr = process.argv[2] ?? process.env.SCD_GRPC_ADDR ?? "127.0.0.1:9090";
const creds = grpc.credentials.createInsecure();
const reflection = new GrpcReflection(addr, creds, {}, "v1");

const services = (await reflection.listServices()).filter((s) => s.startsWith("servicecenter."));
for (const service of services) {
  const methods = await reflection.listMethods(service);
  console.log("%s: %s", service, methods.map((m) => m.name).join(", "));
}

const descriptor = await reflection.getDescriptorBySymbol("servicecenter.v1.WorkerService");
const v1 = descriptor.getPackageObject({ keepCase: true, longs: String, enums: String, defaults: true }).servicecenter.v1;
const client = new v1.WorkerService(addr, creds);
const tags = await promisify(client.GetWorkerTags.bind(client))({ id_number: "11010519491231002X", mobile: "13245678901" });
console.log("GetWorkerTags via reflection success=%s vip=%s", tags.success, tags.result_data.vip);
client.close();

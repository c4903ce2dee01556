// Calls servicecenterd's AssignWorker, BindVirtualPhone, UpdateWorker,
// GetWorkerTags and SyncUserBlacklist with @grpc/grpc-js and
// @grpc/proto-loader on the proto bundle (make protos, or
// curl http://127.0.0.1:8080/protos.tar.gz | tar -xz), then decodes the
// ErrorInfo of a failed call with protobufjs.
//
//   node grpcjs.mjs [127.0.0.1:9090] [path/to/protos]
import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";
import protobuf from "protobufjs";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";

const addr = process.argv[2] ?? process.env.SCD_GRPC_ADDR ?? "127.0.0.1:9090";
const protos = process.argv[3] ?? fileURLToPath(new URL("../../dist/protos", import.meta.url));

// keepCase: field names as in the .proto (snake_case); longs: String for
// int64; enums: String for enum names; defaults: unset fields come back as
// their zero values, as REST answers do.
const def = protoLoader.loadSync(
  ["servicecenter/v1/workcard_service.proto", "servicecenter/v1/worker_service.proto", "servicecenter/v1/logistics_service.proto"],
  { includeDirs: [protos], keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
const v1 = grpc.loadPackageDefinition(def).servicecenter.v1;
const creds = grpc.credentials.createInsecure();
const call = (Service, method) => {
  const client = new Service(addr, creds);
  return promisify(client[method].bind(client));
};

// ext_json is a google.protobuf.Struct: with proto-loader it must be given
// in the Struct's own shape. A plain object ({carNumber: "1234"}) is
// accepted and silently sent as an empty Struct.
const assigned = await call(v1.WorkcardService, "AssignWorker")({
  workcard_id: "2345678", target_worker_id: "1234567", type: "OPERATOR_TYPE_PROVIDER",
  ext_json: { fields: { carNumber: { string_value: "1234" } } },
});
console.log("AssignWorker success=%s top_request_id=%s", assigned.success, assigned.top_request_id);

const bound = await call(v1.WorkcardService, "BindVirtualPhone")({
  workcard_id: "11111222", request_source: { real_tp_nick: "天猫服务商XXX", service_store_code: "FWS1122" },
});
console.log("BindVirtualPhone success=%s result_data=%s", bound.success, bound.result_data);

const updated = await call(v1.WorkerService, "UpdateWorker")({
  worker: {
    name: "张三", phone: "13712345678", biz_type: "appliance_install", provider_id: "1",
    cover_category_ids: ["123", "456"], service_codes: ["tv_install"], register_time: { seconds: "1467081000" },
  },
});
console.log("UpdateWorker success=%s value=%s", updated.success, updated.value);

const tags = await call(v1.WorkerService, "GetWorkerTags")({ id_number: "11010519491231002X", mobile: "13245678901" });
console.log("GetWorkerTags success=%s vip=%s abilities=%s", tags.success, tags.result_data.vip,
  Object.keys(tags.result_data.ability_map).sort().join(","));

const synced = await call(v1.LogisticsService, "SyncUserBlacklist")({
  supplier_id: "10000000001", operate_type: "OPERATE_TYPE_UPSERT",
  blacklist: [{ mobile: "13900000002", reason: ["BLACKLIST_REASON_EXTORTION"] }],
});
console.log("SyncUserBlacklist success=%s code=%s request_id=%s", synced.success, synced.code, synced.request_id);

// Error details travel in the grpc-status-details-bin trailer, a
// google.rpc.Status whose details are Any messages.
const root = protobuf.loadSync(["google/rpc/status.proto", "google/rpc/error_details.proto"].map((f) => `${protos}/${f}`));
const Status = root.lookupType("google.rpc.Status");
const ErrorInfo = root.lookupType("google.rpc.ErrorInfo");
try {
  await call(v1.WorkcardService, "AssignWorker")({ workcard_id: "999", target_worker_id: "1234567" });
  throw new Error("AssignWorker of workcard 999 succeeded");
} catch (err) {
  if (err.code !== grpc.status.NOT_FOUND) throw err;
  const [bin] = err.metadata.get("grpc-status-details-bin");
  const any = Status.decode(bin).details.find((d) => d.type_url === "type.googleapis.com/google.rpc.ErrorInfo");
  const info = ErrorInfo.toObject(ErrorInfo.decode(any.value));
  console.log("ErrorInfo code=%s reason=%s domain=%s top_biz_code=%s", grpc.status[err.code], info.reason, info.domain, info.metadata.top_biz_code);
}

export * from "./client.js";
export * from "./errors.js";
export * from "./watch.js";
export * as pb from "./gen/aegis/v1/aegis_pb.js";
export { Code } from "@connectrpc/connect";

export * from "./client.js";
export * from "./errors.js";
export * from "./watch.js";
export * as pb from "./gen/aegis/v1/aegis_pb.js";
export { Code } from "@connectrpc/connect";
/** This client's version: 1 = the aegis.v1 API (see clients/README.md "Versions"). */
export const VERSION = "1.0.0";

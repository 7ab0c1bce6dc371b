// @bufbuild/protobuf's code generator runtime, for lib/rpc/gen (see grpc.ts).
export * from "npm:@bufbuild/protobuf@2.17.0/codegenv2";

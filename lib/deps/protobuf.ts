// @bufbuild/protobuf (runtime), pinned here once (see grpc.ts).
export * from "npm:@bufbuild/protobuf@2.17.0";

// Adapts the service schema of `blit.v2.Blit` (gen/blit.ts) to grpc-js,
// for the daemon's server (and tests that speak the raw protocol). The
// client has its own gRPC client (grpc_client.ts) and never loads this.
import * as grpc from "../deps/grpc.ts";
import {
  type DescMessage,
  fromBinary,
  type MessageShape,
  toBinary,
} from "./codec.ts";
import type { DescService } from "./codec.ts";
import { Buffer } from "node:buffer";
import { Blit } from "./gen/blit.ts";

function serializer<T extends DescMessage>(
  schema: T,
): (value: MessageShape<T>) => Buffer {
  return (value) => {
    const bytes = toBinary(schema, value);
    // grpc-js wants a Buffer; wrap the bytes without copying them.
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function deserializer<T extends DescMessage>(
  schema: T,
): (bytes: Buffer) => MessageShape<T> {
  return (bytes) => fromBinary(schema, bytes);
}

/**
 * Builds a grpc-js service definition from a service schema: method
 * paths, streaming kinds and binary codecs.
 *
 * @example
 * ```ts
 * import { serviceDefinition } from "./grpc_service.ts";
 * import { Blit } from "./gen/blit.ts";
 * const def = serviceDefinition(Blit);
 * if (!(def.push.path === "/blit.v2.Blit/Push")) throw new Error("example failed");
 * ```
 */
export function serviceDefinition(
  service: DescService,
): grpc.ServiceDefinition {
  const definition: Record<
    string,
    grpc.MethodDefinition<MessageShape<DescMessage>, MessageShape<DescMessage>>
  > = {};
  for (const method of service.methods) {
    definition[method.localName] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream: method.methodKind === "client_streaming" ||
        method.methodKind === "bidi_streaming",
      responseStream: method.methodKind === "server_streaming" ||
        method.methodKind === "bidi_streaming",
      requestSerialize: serializer(method.input),
      requestDeserialize: deserializer(method.input),
      responseSerialize: serializer(method.output),
      responseDeserialize: deserializer(method.output),
    };
  }
  return definition as grpc.ServiceDefinition;
}

/** The grpc-js definition of the blit control-plane service. */
export const blitService: grpc.ServiceDefinition = serviceDefinition(Blit);

/** grpc-js client constructor for the blit service (tests' raw calls). */
export const BlitClient: grpc.ServiceClientConstructor = grpc
  .makeGenericClientConstructor(blitService, "Blit");

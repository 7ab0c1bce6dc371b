// The part of @grpc/grpc-js's API blit uses, typed here: grpc-js's own
// declarations pull in npm's @types/node, which `deno doc` cannot resolve
// (dozens of "Failed resolving types" warnings for every importer of the
// library). The runtime is grpc-js itself (lib/deps/grpc.ts); these
// declarations follow its 1.14 API and Deno's built-in node: types.
import type { Buffer } from "node:buffer";
import type { EventEmitter } from "node:events";
import type { Duplex, Readable, Writable } from "node:stream";

export enum status {
  OK = 0,
  CANCELLED = 1,
  UNKNOWN = 2,
  INVALID_ARGUMENT = 3,
  DEADLINE_EXCEEDED = 4,
  NOT_FOUND = 5,
  ALREADY_EXISTS = 6,
  PERMISSION_DENIED = 7,
  RESOURCE_EXHAUSTED = 8,
  FAILED_PRECONDITION = 9,
  ABORTED = 10,
  OUT_OF_RANGE = 11,
  UNIMPLEMENTED = 12,
  INTERNAL = 13,
  UNAVAILABLE = 14,
  DATA_LOSS = 15,
  UNAUTHENTICATED = 16,
}

export enum logVerbosity {
  DEBUG = 0,
  INFO = 1,
  ERROR = 2,
  NONE = 3,
}

export function setLogVerbosity(verbosity: logVerbosity): void;

export type MetadataValue = string | Buffer;

export class Metadata {
  constructor();
  set(key: string, value: MetadataValue): void;
  add(key: string, value: MetadataValue): void;
  remove(key: string): void;
  get(key: string): MetadataValue[];
  getMap(): { [key: string]: MetadataValue };
  clone(): Metadata;
}

export interface StatusObject {
  code: status;
  details: string;
  metadata: Metadata;
}

export interface ServiceError extends Error, StatusObject {}

export type ServerErrorResponse = Partial<ServiceError>;

export type sendUnaryData<ResponseType> = (
  error: ServerErrorResponse | Partial<StatusObject> | null,
  value?: ResponseType | null,
  trailer?: Metadata,
  flags?: number,
) => void;

/** What every server call has (grpc-js's ServerSurfaceCall). */
interface SurfaceCall {
  cancelled: boolean;
  readonly metadata: Metadata;
  getPeer(): string;
  sendMetadata(responseMetadata: Metadata): void;
  getDeadline(): Date | number;
  getPath(): string;
}

export interface ServerUnaryCall<RequestType, _ResponseType>
  extends EventEmitter, SurfaceCall {
  request: RequestType;
}

export interface ServerReadableStream<_RequestType, _ResponseType>
  extends Readable, SurfaceCall {}

export interface ServerWritableStream<RequestType, _ResponseType>
  extends Writable, SurfaceCall {
  request: RequestType;
}

export interface ServerDuplexStream<_RequestType, _ResponseType>
  extends Duplex, SurfaceCall {}

export interface MethodDefinition<RequestType, ResponseType> {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestSerialize: (value: RequestType) => Buffer;
  responseSerialize: (value: ResponseType) => Buffer;
  requestDeserialize: (bytes: Buffer) => RequestType;
  responseDeserialize: (bytes: Buffer) => ResponseType;
  originalName?: string;
}

/** A service's methods by name (the codecs' types are each method's own). */
// deno-lint-ignore no-explicit-any
type AnyMethod = MethodDefinition<any, any>;
// deno-lint-ignore no-explicit-any
export type ServiceDefinition<ImplementationType = any> = {
  readonly [index in keyof ImplementationType]: AnyMethod;
};

// deno-lint-ignore no-explicit-any
export type UntypedServiceImplementation = { [name: string]: any };

export class ChannelCredentials {
  protected constructor();
}

export class ServerCredentials {
  protected constructor();
  static createInsecure(): ServerCredentials;
}

export const credentials: {
  createInsecure(): ChannelCredentials;
  createSsl(
    rootCerts?: Buffer | null,
    privateKey?: Buffer | null,
    certChain?: Buffer | null,
    verifyOptions?: {
      checkServerIdentity?: (
        hostname: string,
        cert: unknown,
      ) => Error | undefined;
      rejectUnauthorized?: boolean;
    },
  ): ChannelCredentials;
};

/** Channel and server options: grpc-js's "grpc.*" keys. */
// deno-lint-ignore no-explicit-any
export type ChannelOptions = { [key: string]: any };

export interface ConnectionInjector {
  injectConnection(connection: Duplex): void;
  drain(graceTimeMs: number): void;
  destroy(): void;
}

export class Server {
  constructor(options?: ChannelOptions);
  addService(
    service: ServiceDefinition,
    implementation: UntypedServiceImplementation,
  ): void;
  createConnectionInjector(credentials: ServerCredentials): ConnectionInjector;
  bindAsync(
    port: string,
    creds: ServerCredentials,
    callback: (error: Error | null, port: number) => void,
  ): void;
  tryShutdown(callback: (error?: Error) => void): void;
  forceShutdown(): void;
}

export interface CallOptions {
  deadline?: Date | number;
}

export interface ClientUnaryCall extends EventEmitter {
  cancel(): void;
  getPeer(): string;
}

export interface ClientReadableStream<_ResponseType> extends Readable {
  cancel(): void;
  getPeer(): string;
}

export interface ClientWritableStream<_RequestType> extends Writable {
  cancel(): void;
  getPeer(): string;
}

export interface ClientDuplexStream<_RequestType, _ResponseType>
  extends Duplex {
  cancel(): void;
  getPeer(): string;
}

export class Client {
  constructor(
    address: string,
    credentials: ChannelCredentials,
    options?: ChannelOptions,
  );
  close(): void;
  waitForReady(
    deadline: Date | number,
    callback: (error?: Error) => void,
  ): void;
}

export interface ServiceClientConstructor {
  new (
    address: string,
    credentials: ChannelCredentials,
    options?: ChannelOptions,
  ): Client;
  service: ServiceDefinition;
  serviceName: string;
}

export function makeGenericClientConstructor(
  methods: ServiceDefinition,
  serviceName: string,
  classOptions?: object,
): ServiceClientConstructor;

export interface InterceptorOptions extends CallOptions {
  method_definition: MethodDefinition<unknown, unknown>;
}

export interface Listener {
  // deno-lint-ignore no-explicit-any
  onReceiveMetadata?: (metadata: Metadata, next: any) => void;
  // deno-lint-ignore no-explicit-any
  onReceiveMessage?: (message: any, next: any) => void;
  // deno-lint-ignore no-explicit-any
  onReceiveStatus?: (status: StatusObject, next: any) => void;
}

export interface Requester {
  start?: (
    metadata: Metadata,
    listener: Listener,
    next: (metadata: Metadata, listener: Listener) => void,
  ) => void;
  // deno-lint-ignore no-explicit-any
  sendMessage?: (message: any, next: (message: any) => void) => void;
  halfClose?: (next: () => void) => void;
  cancel?: (next: () => void) => void;
}

export interface InterceptingCallInterface {
  cancelWithStatus(status: status, details: string): void;
  getPeer(): string;
}

export type NextCall = (
  options: InterceptorOptions,
) => InterceptingCallInterface;

export class InterceptingCall implements InterceptingCallInterface {
  constructor(nextCall: InterceptingCallInterface, requester?: Requester);
  cancelWithStatus(status: status, details: string): void;
  getPeer(): string;
}

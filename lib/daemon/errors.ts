// Maps daemon-side failures to gRPC statuses the CLI turns into messages.
import { PeerError } from "../transfer/peer.ts";
import { status as Status } from "../deps/grpc.ts";
import { PathEscapeError } from "../fs/safe_path.ts";
import { ContainmentError } from "../fs/contained_root.ts";
import { EntryConflictError } from "../fs/_replace.ts";
import { SizeMismatchError } from "../fs/atomic_file.ts";
import { FrameProtocolError, IntegrityError } from "../wire/frame_codec.ts";
import {
  ManifestProtocolError,
  ManifestTooLargeError,
} from "../rpc/convert.ts";

/** A failure with the gRPC status the client should see. */
export class ServiceError extends Error {
  readonly code: Status;
  constructor(code: Status, message: string) {
    super(message);
    this.name = "ServiceError";
    this.code = code;
  }
}

/** An unknown module name. */
export class ModuleNotFoundError extends ServiceError {
  constructor(name: string, available: string[]) {
    super(
      Status.NOT_FOUND,
      `Module "${name}" not found (available: ${
        available.join(", ") || "none"
      })`,
    );
    this.name = "ModuleNotFoundError";
  }
}

/** A write to a read-only module. */
export class ReadOnlyModuleError extends ServiceError {
  constructor(name: string) {
    super(Status.PERMISSION_DENIED, `Module "${name}" is read-only`);
    this.name = "ReadOnlyModuleError";
  }
}

/**
 * The gRPC status object for any error.
 *
 * @example
 * ```ts
 * import { toStatus, ServiceError } from "./errors.ts";
 * import { status } from "../deps/grpc.ts";
 * if (!(toStatus(new ServiceError(status.NOT_FOUND, "x")).code === status.NOT_FOUND)) throw new Error("example failed");
 * ```
 */
export function toStatus(error: unknown): { code: Status; details: string } {
  if (error instanceof ServiceError) {
    return { code: error.code, details: error.message };
  }
  if (error instanceof PathEscapeError) {
    return { code: Status.INVALID_ARGUMENT, details: error.message };
  }
  if (error instanceof ManifestTooLargeError) {
    return { code: Status.RESOURCE_EXHAUSTED, details: error.message };
  }
  if (error instanceof IntegrityError) {
    return { code: Status.DATA_LOSS, details: error.message };
  }
  if (
    error instanceof FrameProtocolError || error instanceof SizeMismatchError ||
    error instanceof ManifestProtocolError
  ) {
    return { code: Status.INVALID_ARGUMENT, details: error.message };
  }
  if (error instanceof PeerError) {
    // The client's side of the conversation: one line, capitalised.
    const details = error.message.replace(
      /^the (sender|receiver)/,
      "the client",
    );
    return {
      code: Status.INVALID_ARGUMENT,
      details: details[0].toUpperCase() + details.slice(1),
    };
  }
  if (error instanceof ContainmentError) {
    return { code: Status.FAILED_PRECONDITION, details: error.message };
  }
  if (error instanceof Deno.errors.NotADirectory) {
    return {
      code: Status.FAILED_PRECONDITION,
      details: `${error.message}; a file is in the way of a directory`,
    };
  }
  if (error instanceof EntryConflictError) {
    return { code: Status.FAILED_PRECONDITION, details: error.message };
  }
  if (error instanceof RangeError || error instanceof TypeError) {
    return { code: Status.INVALID_ARGUMENT, details: error.message };
  }
  if (error instanceof Deno.errors.NotFound) {
    return { code: Status.NOT_FOUND, details: error.message };
  }
  if (
    error instanceof Deno.errors.NotCapable ||
    error instanceof Deno.errors.PermissionDenied
  ) {
    return {
      code: Status.PERMISSION_DENIED,
      details: `Permission denied on the daemon: ${error.message}`,
    };
  }
  return {
    code: Status.INTERNAL,
    details: `Daemon error: ${
      error instanceof Error ? error.message : String(error)
    }`,
  };
}

import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import { Metadata } from "../deps/grpc.ts";
import { PathEscapeError } from "../fs/safe_path.ts";
import { BusyError } from "./admission.ts";
import { parseAllowRule } from "./allow.ts";
import { ServiceError } from "./errors.ts";
import {
  checkConnection,
  clientOf,
  findModule,
  moduleRoot,
  openModule,
  refuseTempNames,
} from "./access.ts";
import { testContext } from "../../tests/_service_context.ts";

const call = (peer: string) => ({
  getPeer: () => peer,
  metadata: new Metadata(),
});

Deno.test("findModule: a module by name; an unknown one names those there are", () => {
  const ctx = testContext();
  try {
    assertEquals(findModule(ctx, "m").name, "m");
    assertThrows(
      () => findModule(ctx, "nope"),
      ServiceError,
      /^Module "nope" not found \(available: m\)$/,
    );
  } finally {
    ctx.dispose();
  }
});

Deno.test("openModule: an address outside the allow list is denied before anything else", () => {
  const ctx = testContext({}, { allow: [parseAllowRule("10.0.0.0/8")!] });
  try {
    assertEquals(openModule(ctx, "m", call("10.1.2.3:4000")).name, "m");
    const error = assertThrows(
      () => openModule(ctx, "m", call("127.0.0.1:4000")),
      ServiceError,
    );
    assertEquals([error.code, error.message], [
      7,
      'access denied to module "m"',
    ]);
  } finally {
    ctx.dispose();
  }
});

Deno.test("openModule: a module with a secret file needs the secret on the call", () => {
  const ctx = testContext({}, { secretFile: "/nonexistent" });
  try {
    const error = assertThrows(
      () => openModule(ctx, "m", call("127.0.0.1:4000")),
      ServiceError,
    );
    assertEquals(error.code, 16);
    assertEquals(
      error.message,
      'module "m" requires a secret (set BLIT_SECRET or --secret-file)',
    );
  } finally {
    ctx.dispose();
  }
});

Deno.test("clientOf: the address without its port, IPv6 unbracketed", () => {
  assertEquals(clientOf({ getPeer: () => "127.0.0.1:5000" }), "127.0.0.1");
  assertEquals(clientOf({ getPeer: () => "[::1]:5000" }), "::1");
  assertEquals(clientOf({ getPeer: () => "unix" }), "unix");
});

Deno.test("checkConnection: a connection that came over a cap is refused, others pass", () => {
  const ctx = testContext({ refusedPeers: new Set(["127.0.0.1:9"]) });
  try {
    checkConnection({ getPeer: () => "127.0.0.1:8" }, ctx);
    assertThrows(
      () => checkConnection({ getPeer: () => "127.0.0.1:9" }, ctx),
      BusyError,
      /too many connections open/,
    );
  } finally {
    ctx.dispose();
  }
});

Deno.test("refuseTempNames: a path using a temp file's name is refused", () => {
  refuseTempNames("a/b.txt");
  assertThrows(
    () => refuseTempNames("a/.b.blit-partial.tmp"),
    PathEscapeError,
    /reserved for temp files/,
  );
});

Deno.test("moduleRoot: a module whose directory went away is UNAVAILABLE, naming only the module", () => {
  const ctx = testContext();
  const module = ctx.config.modules[0];
  const cwd = Deno.cwd(); // a walk-fallback tree moves it
  const tree = moduleRoot(ctx, module);
  tree.close();
  Deno.chdir(cwd);
  ctx.dispose();
  const error = assertThrows(() => moduleRoot(ctx, module), ServiceError);
  assertEquals([error.code, error.message], [
    14,
    'Module "m" directory is missing on the daemon',
  ]);
});

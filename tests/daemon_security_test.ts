// The daemon against hostile input: paths, symlinks, read-only modules,
// tokens and garbage on the data port, bad configs, and its sandbox.
import * as grpc from "../lib/deps/grpc.ts";
import { create } from "../lib/rpc/codec.ts";
import { assert, assertEquals, assertMatch, assertRejects } from "./_assert.ts";
import { REPO, runCli, tempFiles } from "./_helpers.ts";
import { startDaemon } from "./_daemon.ts";
import { bootId, hostTag } from "../lib/transfer/same_host.ts";
import {
  type ClientPullRequest,
  ClientPullRequestSchema,
  type ClientPushRequest,
  ClientPushRequestSchema,
  EntryKind,
  FileHeaderSchema,
  ListRequestSchema,
  PullHeaderSchema,
  PurgeRequestSchema,
  PushHeaderSchema,
  type ServerPullResponse,
  type ServerPushResponse,
  TransferOptionsSchema,
  UploadCompleteSchema,
} from "../lib/rpc/service.ts";
import { BlitClient } from "../lib/rpc/grpc_service.ts";
import {
  DataPlaneRejectedError,
  dialDataPlane,
} from "../lib/wire/data_plane.ts";
import {
  encodeEnd,
  encodeFileHeader,
  encodeHash,
} from "../lib/wire/frame_codec.ts";
import { hashBytes } from "../lib/fs/hash.ts";
import { writeAll } from "../lib/wire/socket.ts";

type Client = grpc.Client & Record<string, CallableFunction>;

interface Outcome {
  code: number;
  details: string;
  responses: ServerPushResponse[];
}

function client(port: number): Client {
  return new BlitClient(
    `127.0.0.1:${port}`,
    grpc.credentials.createInsecure(),
  ) as Client;
}

function push(
  c: Client,
  requests: ClientPushRequest["payload"][],
): Promise<Outcome> {
  return new Promise((resolve) => {
    const call = c.push() as grpc.ClientDuplexStream<
      ClientPushRequest,
      ServerPushResponse
    >;
    const responses: ServerPushResponse[] = [];
    call.on("data", (r: ServerPushResponse) => responses.push(r));
    call.on(
      "error",
      (e: grpc.ServiceError) =>
        resolve({ code: e.code, details: e.details, responses }),
    );
    call.on("end", () => resolve({ code: 0, details: "", responses }));
    for (const payload of requests) {
      call.write(create(ClientPushRequestSchema, { payload }));
    }
    call.end();
  });
}

function pull(
  c: Client,
  path: string,
  hostTag?: Uint8Array,
): Promise<{ code: number; details: string; responses: ServerPullResponse[] }> {
  return new Promise((resolve) => {
    const call = c.pull() as grpc.ClientDuplexStream<
      ClientPullRequest,
      ServerPullResponse
    >;
    const responses: ServerPullResponse[] = [];
    call.on("data", (r: ServerPullResponse) => responses.push(r));
    call.on(
      "error",
      (e: grpc.ServiceError) =>
        resolve({ code: e.code, details: e.details, responses }),
    );
    call.on("end", () => resolve({ code: 0, details: "", responses }));
    call.write(create(ClientPullRequestSchema, {
      payload: {
        case: "header",
        value: create(PullHeaderSchema, {
          module: "m",
          path,
          ...(hostTag ? { hostTag } : {}),
        }),
      },
    }));
    call.end();
  });
}

function list(
  c: Client,
  path: string,
): Promise<{ code: number; details: string; names: string[] }> {
  return new Promise((resolve) => {
    const call = c.list(
      create(ListRequestSchema, { module: "m", path }),
    ) as grpc.ClientReadableStream<
      { entries: { path: string }[] }
    >;
    const names: string[] = [];
    call.on(
      "data",
      (r: { entries: { path: string }[] }) =>
        names.push(...r.entries.map((e) => e.path)),
    );
    call.on(
      "error",
      (e: grpc.ServiceError) =>
        resolve({ code: e.code, details: e.details, names }),
    );
    call.on("end", () => resolve({ code: 0, details: "", names }));
  });
}

function purge(
  c: Client,
  path: string,
  module = "m",
): Promise<{ code: number; details: string }> {
  return new Promise((resolve) => {
    c.purge(
      create(PurgeRequestSchema, { module, path, allowRoot: true }),
      (e: grpc.ServiceError | null) =>
        resolve(
          e ? { code: e.code, details: e.details } : { code: 0, details: "" },
        ),
    );
  });
}

function header(destination: string, module = "m") {
  return {
    case: "header" as const,
    value: create(PushHeaderSchema, {
      module,
      destination,
      options: create(TransferOptionsSchema, {}),
    }),
  };
}

function file(path: string, size = 3) {
  return {
    case: "file" as const,
    value: create(FileHeaderSchema, {
      path,
      size: BigInt(size),
      mtimeMs: 0n,
      mode: 0o644,
      kind: EntryKind.FILE,
    }),
  };
}

const manifestComplete = {
  case: "manifestComplete" as const,
  value: { $typeName: "blit.v2.ManifestComplete" as const, entries: 1n },
};

const HOSTILE = [
  "../x",
  "/etc/passwd",
  "a/../../x",
  "x\0y",
  "a\\..\\b",
  "evil/passwd",
  "out/planted",
];

async function setup() {
  const work = Deno.realPathSync(
    await Deno.makeTempDir({ prefix: "blit-sec-" }),
  );
  const module = `${work}/module`;
  const outside = `${work}/outside`;
  Deno.mkdirSync(module);
  Deno.mkdirSync(outside);
  Deno.writeTextFileSync(`${outside}/secret.txt`, "secret");
  Deno.writeTextFileSync(`${module}/ok.txt`, "ok");
  Deno.symlinkSync("/etc", `${module}/evil`);
  Deno.symlinkSync(outside, `${module}/out`);
  const ro = `${work}/ro`;
  Deno.mkdirSync(ro);
  Deno.writeTextFileSync(`${ro}/keep.txt`, "keep");
  const daemon = await startDaemon({
    modules: { m: { path: module }, ro: { path: ro, readOnly: true } },
  });
  return { work, module, outside, ro, daemon };
}

Deno.test("every RPC refuses hostile paths; nothing outside the module is read or written", async () => {
  const { work, module, outside, daemon } = await setup();
  const c = client(daemon.port);
  try {
    for (const bad of HOSTILE) {
      const l = await list(c, bad);
      assertEquals(
        l.code,
        grpc.status.INVALID_ARGUMENT,
        `list ${JSON.stringify(bad)}: ${l.details}`,
      );
      assertEquals(l.names, []);
      const p = await pull(c, bad);
      assertEquals(
        p.code,
        grpc.status.INVALID_ARGUMENT,
        `pull ${JSON.stringify(bad)}: ${p.details}`,
      );
      assertEquals(
        p.responses.filter((r) =>
          r.payload.case === "file" || r.payload.case === "fileData"
        ),
        [],
      );
      const d = await purge(c, bad);
      assertEquals(
        d.code,
        grpc.status.INVALID_ARGUMENT,
        `purge ${JSON.stringify(bad)}: ${d.details}`,
      );
      const ph = await push(c, [header(bad), file("f"), manifestComplete]);
      assertEquals(
        ph.code === grpc.status.INVALID_ARGUMENT,
        true,
        `push dest ${JSON.stringify(bad)}: ${ph.details}`,
      );
      const pm = await push(c, [header(""), file(bad), manifestComplete]);
      assertEquals(
        pm.code,
        grpc.status.INVALID_ARGUMENT,
        `push entry ${JSON.stringify(bad)}: ${pm.details}`,
      );
    }
    // Through the link itself: it is listed as a link, never followed.
    const link = await list(c, "evil");
    assertEquals(link.names, ["evil"]);
    const pulled = await pull(c, "out");
    assertEquals(
      pulled.responses.filter((r) => r.payload.case === "fileData"),
      [],
    );
    // A push whose destination is the outward link is refused.
    const into = await push(c, [
      header("out"),
      file("planted"),
      manifestComplete,
    ]);
    assertEquals(into.code, grpc.status.INVALID_ARGUMENT, into.details);
    assertMatch(into.details, /"out": goes through a symlink/);
    assertEquals([...Deno.readDirSync(outside)].map((e) => e.name), [
      "secret.txt",
    ]);
    assertEquals(Deno.readTextFileSync(`${outside}/secret.txt`), "secret");
    assertEquals([...Deno.readDirSync(module)].map((e) => e.name).sort(), [
      "evil",
      "ok.txt",
      "out",
    ]);
    assertEquals(tempFiles(module).length, 0);
  } finally {
    c.close();
    assertEquals(await daemon.stop(), 0);
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("a read-only module refuses push, mirror and purge before touching anything", async () => {
  const { work, ro, daemon } = await setup();
  const c = client(daemon.port);
  try {
    const p = await push(c, [
      header("", "ro"),
      file("new.txt"),
      manifestComplete,
    ]);
    assertEquals(p.code, grpc.status.PERMISSION_DENIED);
    assertEquals(p.details, 'Module "ro" is read-only');
    const d = await purge(c, "keep.txt", "ro");
    assertEquals(d.code, grpc.status.PERMISSION_DENIED);
    const root = await purge(c, "", "ro");
    assertEquals(root.code, grpc.status.PERMISSION_DENIED);
    Deno.mkdirSync(`${work}/src`);
    const mirror = await runCli(["mirror", `${work}/src`, `${daemon.url}/ro`], {
      env: { BLIT_DISABLE_PERF_HISTORY: "1" },
    });
    assertEquals(mirror.code, 1);
    assertEquals([...Deno.readDirSync(ro)].map((e) => e.name), ["keep.txt"]);
    assertEquals(Deno.readTextFileSync(`${ro}/keep.txt`), "keep");
  } finally {
    c.close();
    assertEquals(await daemon.stop(), 0);
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("data port: garbage, bad and replayed tokens are closed; real transfers go on", async () => {
  const { work, module, daemon } = await setup();
  const c = client(daemon.port);
  try {
    const dataPort = Number(
      daemon.stderr().match(/data plane: 127\.0\.0\.1:(\d+)/)![1],
    );
    // Garbage.
    const g = await Deno.connect({ hostname: "127.0.0.1", port: dataPort });
    await writeAll(
      g,
      new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    );
    assertEquals(await g.read(new Uint8Array(16)), null);
    g.close();
    // A well-formed hello with a forged token.
    await assertRejects(
      () =>
        dialDataPlane(
          "127.0.0.1",
          dataPort,
          "eyJhbGciOiJIUzI1NiJ9.eyJzaWQiOiJ4In0.c2ln",
        ),
      DataPlaneRejectedError,
    );
    // A real negotiation, used once, then replayed.
    const out = await new Promise<ServerPushResponse[]>((resolve, reject) => {
      const call = c.push() as grpc.ClientDuplexStream<
        ClientPushRequest,
        ServerPushResponse
      >;
      const seen: ServerPushResponse[] = [];
      call.on("data", async (r: ServerPushResponse) => {
        seen.push(r);
        if (r.payload.case === "negotiation") {
          const { port, token } = r.payload.value;
          const conn = await dialDataPlane("127.0.0.1", port, token);
          await writeAll(
            conn,
            encodeFileHeader({
              path: "via-tcp.txt",
              kind: "file",
              size: 3,
              mtimeMs: 0,
              mode: 0o600,
            }),
          );
          await writeAll(conn, new TextEncoder().encode("abc"));
          await writeAll(
            conn,
            encodeHash(await hashBytes(new TextEncoder().encode("abc"))),
          );
          await writeAll(conn, encodeEnd());
          conn.close();
          // Replay: the same token again.
          try {
            await dialDataPlane("127.0.0.1", port, token);
            reject(new Error("replayed token accepted"));
          } catch (error) {
            if (!(error instanceof DataPlaneRejectedError)) reject(error);
          }
          call.write(create(ClientPushRequestSchema, {
            payload: {
              case: "uploadComplete",
              value: create(UploadCompleteSchema, {}),
            },
          }));
          call.end();
        }
      });
      call.on("error", reject);
      call.on("end", () => resolve(seen));
      for (
        const payload of [header(""), file("via-tcp.txt"), manifestComplete]
      ) {
        call.write(create(ClientPushRequestSchema, { payload }));
      }
    });
    assertEquals(out.at(-1)?.payload.case, "summary");
    assertEquals(Deno.readTextFileSync(`${module}/via-tcp.txt`), "abc");
    // Mode and mtime come from the negotiated manifest entry, not the frame.
    assertEquals(Deno.statSync(`${module}/via-tcp.txt`).mode! & 0o777, 0o644);
    // A normal user transfer still works after all that.
    Deno.writeTextFileSync(`${work}/after.txt`, "after");
    const r = await runCli([
      "push",
      "--json",
      `${work}/after.txt`,
      `${daemon.url}/m/`,
    ], {
      env: { BLIT_DISABLE_PERF_HISTORY: "1" },
    });
    assertEquals(r.code, 0, r.stderr);
    assertEquals(JSON.parse(r.stdout).transport, "tcp");
    const rejected = daemon.stderr().split("\n").filter((l) =>
      l.includes("data plane: rejected")
    );
    assertEquals(rejected.length, 3, daemon.stderr());
    assertMatch(rejected[2], /already used/);
  } finally {
    c.close();
    assertEquals(await daemon.stop(), 0);
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("a pull's ack says whether the client's host tag names the daemon's kernel: the sandboxed daemon's own boot id yes; another, junk or none no", async () => {
  const work = Deno.realPathSync(await Deno.makeTempDir());
  Deno.mkdirSync(`${work}/module`);
  Deno.writeTextFileSync(`${work}/module/a.txt`, "a");
  const daemon = await startDaemon({
    modules: { m: { path: `${work}/module` } },
  });
  const c = client(daemon.port);
  try {
    const id = bootId();
    // These machines are Linux: the id is there to be told.
    assert(id !== undefined, "no boot id on this machine");
    const cases: [string, Uint8Array | undefined, boolean][] = [
      ["own", await hostTag(id), true],
      ["other", await hostTag(`${id.slice(0, -1)}x`), false],
      ["junk", crypto.getRandomValues(new Uint8Array(48)), false],
      ["short", new Uint8Array(7), false],
      ["none", undefined, false],
    ];
    for (const [name, tag, same] of cases) {
      const got = await pull(c, "a.txt", tag);
      const ack = got.responses.find((r) => r.payload.case === "ack");
      assert(ack?.payload.case === "ack", `${name}: no ack (${got.details})`);
      assertEquals(ack.payload.value.sameHost, same, name);
      assertEquals(ack.payload.value.sourceExists, true, name);
    }
  } finally {
    c.close();
    assertEquals(await daemon.stop(), 0);
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("sandbox: the daemon cannot read outside its modules (NotCapable)", async () => {
  const work = Deno.realPathSync(await Deno.makeTempDir());
  Deno.mkdirSync(`${work}/module`);
  Deno.writeTextFileSync(`${work}/outside.txt`, "no");
  const daemon = await startDaemon({
    modules: { m: { path: `${work}/module` } },
    env: { BLIT_DAEMON_DEBUG_READ: `${work}/outside.txt` },
  });
  try {
    await new Promise((r) => setTimeout(r, 200));
    assertMatch(
      daemon.stderr(),
      new RegExp(`debug read ${work}/outside.txt: NotCapable`),
    );
    assertMatch(
      daemon.stderr(),
      /blit-daemon: sandbox: --no-prompt --allow-read=\S+ --allow-write=\S+ --allow-net=127\.0\.0\.1 --allow-env=/,
    );
  } finally {
    assertEquals(await daemon.stop(), 0);
    await Deno.remove(work, { recursive: true });
  }
});

async function runDaemon(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", `${REPO}/daemon.ts`, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test("bad configs stop the daemon with file, line and key", async () => {
  const work = await Deno.makeTempDir();
  try {
    const cases: [string, RegExp][] = [
      [
        '{\n  "port": 1,\n  "colour": "blue"\n}',
        /blit\.jsonc:3:3: colour: unknown key/,
      ],
      [
        '{\n  "modules": { "m": { "readOnly": true } }\n}',
        /blit\.jsonc:2:16: modules\.m\.path: missing/,
      ],
      [
        '{\n  "modules": {\n    "m": { "path": "relative/dir" }\n  }\n}',
        /blit\.jsonc:3:12: modules\.m\.path: path must be an absolute path/,
      ],
      [
        `{ "modules": { "m": { "path": "${work}/nope" } } }`,
        /blit\.jsonc:1:23: modules\.m\.path: path .* does not exist/,
      ],
      ['{\n  "port": 1,\n  oops\n}', /blit\.jsonc:3:3: invalid JSONC/],
      [
        '{ "port": "80" }',
        /blit\.jsonc:1:3: port: value must be an integer port/,
      ],
      [
        '{ "modules": { "m": { "path": "/tmp", "color": 1 } } }',
        /modules\.m\.color: unknown key/,
      ],
    ];
    for (const [text, pattern] of cases) {
      Deno.writeTextFileSync(`${work}/blit.jsonc`, text);
      const r = await runDaemon(["--config", `${work}/blit.jsonc`]);
      assertEquals(r.code, 2, text);
      assertMatch(r.stderr, pattern);
      assertMatch(r.stderr, /^blit-daemon: error: /);
    }
    const none = await runDaemon([]);
    assertEquals(none.code, 2);
    assertMatch(none.stderr, /no modules to export; pass --root DIR/);
    const flag = await runDaemon(["--port", "x", "--root", work]);
    assertEquals(flag.code, 2);
    const perms = await runDaemon([
      "--root",
      work,
      "--print-permissions",
      "--state-dir",
      `${work}/../${work.split("/").at(-1)}-state`,
    ]);
    assertEquals(perms.code, 0);
    assertMatch(perms.stdout, /^--no-prompt --allow-read=/);
  } finally {
    await Deno.remove(work, { recursive: true });
    await Deno.remove(`${work}-state`, { recursive: true }).catch(() => {});
  }
});

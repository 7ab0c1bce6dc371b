// Module secrets, end to end: the real daemon and the real CLI on loopback.
import { assertEquals, assertMatch } from "./_assert.ts";
import { daemonRefuses, runCli, snapshot, tempFiles } from "./_helpers.ts";
import { startDaemon } from "./_daemon.ts";
import { grpcClient, listCall } from "./_daemon.ts";
import * as grpc from "../lib/deps/grpc.ts";

const SECRET = "correct horse battery staple";

Deno.test("module secrets: missing, wrong and right; every call checked; modules says auth; never logged", async () => {
  const work = Deno.realPathSync(Deno.makeTempDirSync());
  const open = `${work}/open`;
  const guarded = `${work}/guarded`;
  Deno.mkdirSync(open);
  Deno.mkdirSync(guarded);
  Deno.writeTextFileSync(`${guarded}/kept.txt`, "kept");
  const secretFile = `${work}/p.secret`;
  Deno.writeTextFileSync(secretFile, `${SECRET}\n`);
  Deno.chmodSync(secretFile, 0o600);
  const daemon = await startDaemon({
    modules: {
      m: { path: open, comment: "open to all" },
      p: { path: guarded, comment: "private", secretFile },
    },
  });
  const env = { BLIT_STATE_DIR: `${work}/client-state` };
  const src = `${work}/src`;
  Deno.mkdirSync(src);
  Deno.writeTextFileSync(`${src}/a.txt`, "alpha");
  try {
    // `modules` shows that p needs a secret, and nothing else about it.
    const modules = await runCli(["modules", "--json", daemon.url], { env });
    assertEquals(modules.code, 0, modules.stderr);
    assertEquals(JSON.parse(modules.stdout), [
      { name: "m", read_only: false, comment: "open to all", auth: false },
      { name: "p", auth: true },
    ]);
    const human = await runCli(["modules", daemon.url], { env });
    assertEquals(human.stdout, "m  open to all\np (secret required)\n");

    const missing =
      'blit: error: module "p" requires a secret (set BLIT_SECRET or --secret-file)\n';
    const denied = 'blit: error: access denied to module "p"\n';
    const wrong = { ...env, BLIT_SECRET: "Tr0ub4dor&3" };
    const calls: string[][] = [
      ["push", src, `${daemon.url}/p/up`],
      ["pull", `${daemon.url}/p/kept.txt`, `${work}/got.txt`],
      ["list", `${daemon.url}/p`],
      ["purge", "--yes", `${daemon.url}/p`],
    ];
    for (const args of calls) {
      const none = await runCli(args, { env });
      assertEquals([none.code, none.stderr], [1, missing], args.join(" "));
    }
    // Four wrong tries (a fifth would make this address wait).
    for (const args of calls) {
      const bad = await runCli(args, { env: wrong });
      assertEquals([bad.code, bad.stderr], [1, denied], args.join(" "));
    }
    // Nothing was read, written or deleted.
    assertEquals(Object.keys(await snapshot(guarded)), ["kept.txt"]);
    assertEquals(tempFiles(guarded), []);
    // The open module needs nothing.
    const free = await runCli(["push", src, `${daemon.url}/m/up`], { env });
    assertEquals(free.code, 0, free.stderr);

    // The right secret, from the environment or a file.
    const right = { ...env, BLIT_SECRET: SECRET };
    const push = await runCli(["push", "--json", src, `${daemon.url}/p/up`], {
      env: right,
    });
    assertEquals(push.code, 0, push.stderr);
    assertEquals(Deno.readTextFileSync(`${guarded}/up/a.txt`), "alpha");
    const clientSecret = `${work}/mine.secret`;
    Deno.writeTextFileSync(clientSecret, `${SECRET}\n`);
    const pull = await runCli(
      [
        "pull",
        "--secret-file",
        clientSecret,
        `${daemon.url}/p/up`,
        `${work}/back`,
      ],
      { env },
    );
    assertEquals(pull.code, 0, pull.stderr);
    assertEquals(Deno.readTextFileSync(`${work}/back/a.txt`), "alpha");
    const list = await runCli(["list", `${daemon.url}/p`], { env: right });
    assertEquals(list.code, 0, list.stderr);
    assertMatch(list.stdout, /kept\.txt/);
    const purge = await runCli(["purge", "--yes", `${daemon.url}/p/up`], {
      env: right,
    });
    assertEquals(purge.code, 0, purge.stderr);
    assertEquals(Object.keys(await snapshot(guarded)), ["kept.txt"]);

    // A missing or empty secret file is the client's error, said once.
    const noFile = await runCli(
      ["list", "--secret-file", `${work}/nope`, `${daemon.url}/p`],
      { env },
    );
    assertEquals(noFile.code, 1);
    assertMatch(
      noFile.stderr,
      /^blit: error: cannot read secret file \S+\/nope: no such file or directory\n$/,
    );

    // The secret is in no log, no history and no output.
    const history = [...Deno.readDirSync(`${work}/client-state`)]
      .map((e) => Deno.readTextFileSync(`${work}/client-state/${e.name}`))
      .join("");
    for (
      const text of [daemon.stderr(), history, push.stdout, pull.stdout]
    ) {
      assertEquals(text.includes(SECRET), false);
    }
  } finally {
    assertEquals(await daemon.stop(), 0, daemon.stderr());
    Deno.removeSync(work, { recursive: true });
  }
});

Deno.test("module secrets: after 5 wrong secrets an address waits, even with the right one", async () => {
  const work = Deno.realPathSync(Deno.makeTempDirSync());
  const secretFile = `${work}/p.secret`;
  Deno.writeTextFileSync(secretFile, SECRET);
  Deno.chmodSync(secretFile, 0o600);
  Deno.mkdirSync(`${work}/p`);
  const daemon = await startDaemon({
    modules: { p: { path: `${work}/p`, secretFile } },
  });
  const client = grpcClient(`127.0.0.1:${daemon.port}`);
  const withSecret = (secret: string) => {
    const metadata = new grpc.Metadata();
    metadata.set("blit-secret", secret);
    return metadata;
  };
  try {
    for (let i = 0; i < 5; i++) {
      const bad = await listCall(client, "p", "", withSecret(`guess ${i}`));
      assertEquals([bad.code, bad.details], [
        grpc.status.PERMISSION_DENIED,
        'access denied to module "p"',
      ]);
    }
    const held = await listCall(client, "p", "", withSecret(SECRET));
    assertEquals(held.code, grpc.status.RESOURCE_EXHAUSTED);
    assertMatch(
      held.details,
      /^too many wrong secrets from your address; try again in \d+ s$/,
    );
    // The CLI says so in one line, and does not retry.
    const cli = await runCli(["list", `${daemon.url}/p`], {
      env: { BLIT_SECRET: SECRET, BLIT_STATE_DIR: `${work}/state` },
    });
    assertEquals(cli.code, 1);
    assertMatch(
      cli.stderr,
      /^blit: error: too many wrong secrets from your address; try again in \d+ s\n$/,
    );
  } finally {
    client.close();
    assertEquals(await daemon.stop(), 0, daemon.stderr());
    Deno.removeSync(work, { recursive: true });
  }
});

Deno.test("module secrets: a secret file others can read stops the daemon, naming it", async () => {
  const work = Deno.realPathSync(Deno.makeTempDirSync());
  const secretFile = `${work}/p.secret`;
  Deno.writeTextFileSync(secretFile, SECRET);
  Deno.chmodSync(secretFile, 0o644);
  Deno.mkdirSync(`${work}/p`);
  try {
    const { code, stderr } = await daemonRefuses(work, {
      port: 0,
      modules: { p: { path: `${work}/p`, secretFile } },
    });
    assertEquals(code, 2, stderr);
    assertEquals(stderr.trim().split("\n").length, 1, stderr);
    assertMatch(
      stderr,
      new RegExp(
        `modules\\.p\\.secretFile: ${secretFile} is readable or writable by group or others \\(mode 0644\\); chmod 600 it`,
      ),
    );
    assertEquals(stderr.includes(SECRET), false);
  } finally {
    Deno.removeSync(work, { recursive: true });
  }
});

Deno.test("allow lists: a client outside a module's list is denied on every call; inside, it works", async () => {
  const work = Deno.realPathSync(Deno.makeTempDirSync());
  for (const m of ["far", "near"]) Deno.mkdirSync(`${work}/${m}`);
  Deno.writeTextFileSync(`${work}/far/x`, "x");
  const daemon = await startDaemon({
    modules: {
      far: { path: `${work}/far`, allow: ["10.0.0.0/8", "2001:db8::/32"] },
      near: { path: `${work}/near`, allow: ["127.0.0.0/8", "::1"] },
    },
  });
  const env = { BLIT_STATE_DIR: `${work}/state` };
  try {
    for (
      const args of [
        ["list", `${daemon.url}/far`],
        ["pull", `${daemon.url}/far/x`, `${work}/x`],
        ["push", `${work}/near`, `${daemon.url}/far/up`],
        ["purge", "--yes", `${daemon.url}/far`],
      ]
    ) {
      const r = await runCli(args, { env });
      assertEquals(
        [r.code, r.stderr],
        [1, 'blit: error: access denied to module "far"\n'],
        args.join(" "),
      );
    }
    assertEquals(Deno.readTextFileSync(`${work}/far/x`), "x");
    const ok = await runCli(["list", `${daemon.url}/near`], { env });
    assertEquals(ok.code, 0, ok.stderr);
  } finally {
    assertEquals(await daemon.stop(), 0, daemon.stderr());
    Deno.removeSync(work, { recursive: true });
  }
});

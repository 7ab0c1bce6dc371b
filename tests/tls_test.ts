// TLS on both planes: the real daemon and CLI on loopback, certificates
// made by openssl at test time (a private CA, a certificate for
// 127.0.0.1/localhost, and one for another name).
import { assertEquals, assertMatch } from "./_assert.ts";
import { daemonRefuses, runCli, snapshot, tempFiles } from "./_helpers.ts";
import { startDaemon, type TestDaemon } from "./_daemon.ts";
import { encodeHello } from "../lib/wire/frame_codec.ts";
import { makeCerts } from "./_certs.ts";

function tlsConfig(dir: string, name: string) {
  return { tls: { cert: `${dir}/${name}.pem`, key: `${dir}/${name}.key` } };
}

function json(stdout: string) {
  return JSON.parse(stdout);
}

Deno.test("TLS: push and pull over TLS on the data plane and over gRPC; tokens still required; every mismatch is one clear line", async () => {
  const work = Deno.realPathSync(Deno.makeTempDirSync());
  const certs = `${work}/certs`;
  Deno.mkdirSync(certs);
  await makeCerts(certs, {
    good: "DNS:localhost,IP:127.0.0.1",
    other: "DNS:other.example",
  });
  const module = `${work}/module`;
  Deno.mkdirSync(module);
  const src = `${work}/src`;
  Deno.mkdirSync(`${src}/d`, { recursive: true });
  Deno.writeTextFileSync(`${src}/a.txt`, "alpha\n");
  // Past the sendfile threshold: over TLS it must not be sent raw.
  const big = new Uint8Array(3 << 20).map((_, i) => (i * 31) & 0xff);
  Deno.writeFileSync(`${src}/d/big.bin`, big);
  Deno.chmodSync(`${src}/d/big.bin`, 0o640);
  Deno.utimeSync(`${src}/d/big.bin`, 1_600_000_000, 1_600_000_123);
  const want = await snapshot(src);
  const env = { BLIT_STATE_DIR: `${work}/client-state` };
  const ca = `${certs}/ca.pem`;
  const daemons: TestDaemon[] = [];
  try {
    const tlsDaemon = await startDaemon({
      modules: { m: { path: module } },
      config: { ...tlsConfig(certs, "good"), zeroCopy: true },
    });
    daemons.push(tlsDaemon);
    assertMatch(tlsDaemon.stderr(), /tls: on \(\S+good\.pem\)/);
    const secure = `blits://127.0.0.1:${tlsDaemon.port}/m`;

    // TCP data plane over TLS, both ways; by name and by address.
    const push = await runCli(
      ["push", "--json", "--tls-ca", ca, src, `${secure}/up`],
      { env },
    );
    assertEquals(push.code, 0, push.stderr);
    assertEquals(json(push.stdout).transport, "tcp");
    assertEquals(await snapshot(`${module}/up`), want);
    const pull = await runCli(
      [
        "pull",
        "--json",
        `blits://localhost:${tlsDaemon.port}/m/up`,
        `${work}/back`,
      ],
      { env: { ...env, BLIT_TLS_CA: ca } },
    );
    assertEquals(pull.code, 0, pull.stderr);
    assertEquals(json(pull.stdout).transport, "tcp");
    assertEquals(await snapshot(`${work}/back`), want);
    // gRPC data over TLS.
    const grpc = await runCli(
      [
        "push",
        "--json",
        "--force-grpc-data",
        "--tls-ca",
        ca,
        src,
        `${secure}/g`,
      ],
      { env },
    );
    assertEquals(grpc.code, 0, grpc.stderr);
    assertEquals(json(grpc.stdout).transport, "grpc");
    assertEquals(await snapshot(`${module}/g`), want);

    // A plain client at a TLS daemon; a TLS client without the CA.
    const plain = await runCli(
      ["push", src, `blit://127.0.0.1:${tlsDaemon.port}/m/plain`],
      { env },
    );
    assertEquals(plain.code, 1);
    assertEquals(
      plain.stderr,
      `blit: error: the daemon at 127.0.0.1:${tlsDaemon.port} speaks TLS; use blits://127.0.0.1:${tlsDaemon.port}/... (and --tls-ca FILE for a private CA)\n`,
    );
    const untrusted = await runCli(["push", src, `${secure}/untrusted`], {
      env,
    });
    assertEquals(untrusted.code, 1);
    assertEquals(
      untrusted.stderr,
      `blit: error: the TLS certificate of the daemon at 127.0.0.1:${tlsDaemon.port} does not verify (UnknownIssuer); trust its CA with --tls-ca FILE or BLIT_TLS_CA\n`,
    );

    // The data plane still wants a token: a TLS connection with a made-up
    // one is closed without a byte of acceptance.
    const dataPort = Number(
      tlsDaemon.stderr().match(/data plane: 127\.0\.0\.1:(\d+)/)![1],
    );
    const conn = await Deno.connectTls({
      hostname: "127.0.0.1",
      port: dataPort,
      caCerts: [Deno.readTextFileSync(ca)],
    });
    await conn.write(encodeHello("made.up.token"));
    const reply = new Uint8Array(1);
    assertEquals(await conn.read(reply), null);
    conn.close();

    // A certificate for another name; a TLS client at a plain daemon.
    const wrongName = await startDaemon({
      modules: { m: { path: module } },
      config: tlsConfig(certs, "other"),
    });
    daemons.push(wrongName);
    const wrong = await runCli(
      ["list", "--tls-ca", ca, `blits://127.0.0.1:${wrongName.port}/m`],
      { env },
    );
    assertEquals(wrong.code, 1);
    assertEquals(
      wrong.stderr,
      `blit: error: the TLS certificate of the daemon at 127.0.0.1:${wrongName.port} is not for 127.0.0.1; connect by a name the certificate lists\n`,
    );
    const plainDaemon = await startDaemon({ modules: { m: { path: module } } });
    daemons.push(plainDaemon);
    const notTls = await runCli(
      [
        "push",
        "--tls-ca",
        ca,
        src,
        `blits://127.0.0.1:${plainDaemon.port}/m/x`,
      ],
      { env },
    );
    assertEquals(notTls.code, 1);
    assertMatch(
      notTls.stderr,
      new RegExp(
        `^blit: error: the daemon at 127\\.0\\.0\\.1:${plainDaemon.port} does not speak TLS; use blit:// for it\\n$`,
      ),
    );
    // Nothing was sent by any refused run.
    assertEquals(
      [...Deno.readDirSync(module)].map((e) => e.name).sort(),
      ["g", "up"],
    );
    assertEquals(tempFiles(module), []);
  } finally {
    for (const d of daemons) assertEquals(await d.stop(), 0, d.stderr());
    Deno.removeSync(work, { recursive: true });
  }
});

Deno.test("TLS: a bad tls config stops the daemon with one line naming the key", async () => {
  const work = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    Deno.writeTextFileSync(`${work}/not.pem`, "hello");
    const cases: [unknown, RegExp][] = [
      [
        { cert: `${work}/nope.pem`, key: `${work}/not.pem` },
        /tls\.cert: \S+nope\.pem does not exist or cannot be read/,
      ],
      [
        { cert: `${work}/not.pem`, key: `${work}/not.pem` },
        /tls\.cert: \S+not\.pem is not a PEM certificate/,
      ],
      [{ cert: "relative.pem" }, /tls\.cert: must be an absolute path/],
      [
        { key: `${work}/not.pem`, extra: 1 },
        /tls\.key: \S+not\.pem is not a PEM private key|tls\.extra: unknown key/,
      ],
      ["yes", /tls: must be \{"cert"/],
    ];
    for (const [tls, pattern] of cases) {
      const { code, stderr } = await daemonRefuses(work, {
        port: 0,
        tls,
        modules: { m: { path: work } },
      });
      assertEquals(code, 2, stderr);
      assertEquals(stderr.trim().split("\n").length, 1, stderr);
      assertMatch(stderr, pattern);
    }
  } finally {
    Deno.removeSync(work, { recursive: true });
  }
});

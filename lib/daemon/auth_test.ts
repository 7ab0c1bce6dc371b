import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import { AuthGuard, sameSecret } from "./auth.ts";
import { parseConfig } from "./config.ts";
import { diskFiles } from "./config_load.ts";
import { ServiceError } from "./errors.ts";

function protectedModule(secret: string) {
  const dir = Deno.makeTempDirSync();
  const file = `${dir}/secret`;
  Deno.writeTextFileSync(file, secret + "\n", { mode: 0o600 });
  Deno.chmodSync(file, 0o600);
  const config = parseConfig(
    JSON.stringify({ modules: { p: { path: dir, secretFile: file } } }),
    "test.jsonc",
    diskFiles,
  );
  return { module: config.modules[0], dir };
}

function code(fn: () => void): number {
  try {
    fn();
    return 0;
  } catch (error) {
    if (error instanceof ServiceError) return error.code;
    throw error;
  }
}

Deno.test("AuthGuard: a module without a secret file admits anyone", () => {
  const { module, dir } = protectedModule("s3cret");
  try {
    new AuthGuard().check(
      { ...module, secretFile: undefined },
      "10.0.0.1",
      undefined,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("AuthGuard: a missing secret and a wrong one are told apart", () => {
  const { module, dir } = protectedModule("s3cret");
  try {
    const guard = new AuthGuard();
    assertThrows(
      () => guard.check(module, "10.0.0.1", undefined),
      ServiceError,
      /^module "p" requires a secret \(set BLIT_SECRET or --secret-file\)$/,
    );
    assertThrows(
      () => guard.check(module, "10.0.0.1", "s3cre"),
      ServiceError,
      /^access denied to module "p"$/,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("AuthGuard: the right secret admits (its file's newline dropped), and it never shows in the config", () => {
  const { module, dir } = protectedModule("s3cret");
  try {
    new AuthGuard().check(module, "10.0.0.1", "s3cret");
    assertEquals(JSON.stringify(module).includes("s3cret"), false);
    assertEquals(Deno.inspect(module).includes("s3cret"), false);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("AuthGuard: a protected module whose secret was lost admits no one", () => {
  const { module, dir } = protectedModule("s3cret");
  try {
    assertEquals(
      code(() =>
        new AuthGuard().check({ ...module, name: "copy" }, "10.0.0.1", "s3cret")
      ),
      7,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("AuthGuard: after 5 wrong secrets an address waits 10 s, then 20 s; others are not held up", () => {
  const { module, dir } = protectedModule("right");
  try {
    let now = 1_000_000;
    const guard = new AuthGuard({ now: () => now });
    for (let i = 0; i < 5; i++) {
      assertEquals(code(() => guard.check(module, "a", "wrong")), 7);
    }
    // Even the right secret waits now; another address does not.
    assertThrows(
      () => guard.check(module, "a", "right"),
      ServiceError,
      /^too many wrong secrets from your address; try again in 10 s$/,
    );
    guard.check(module, "b", "right");
    now += 10_000;
    assertEquals(code(() => guard.check(module, "a", "wrong")), 7);
    assertEquals(code(() => guard.check(module, "a", "right")), 8);
    now += 20_000;
    guard.check(module, "a", "right"); // clears the record
    assertEquals(code(() => guard.check(module, "a", "wrong")), 7);
    assertEquals(code(() => guard.check(module, "a", "right")), 0);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("sameSecret: equal bytes only", () => {
  const e = new TextEncoder();
  assertEquals(sameSecret(e.encode("abc"), e.encode("abc")), true);
  assertEquals(sameSecret(e.encode("abc"), e.encode("abd")), false);
  assertEquals(sameSecret(e.encode("abc"), e.encode("ab")), false);
  assertEquals(sameSecret(e.encode("abc"), e.encode("abcd")), false);
  assertEquals(sameSecret(e.encode("abc"), new Uint8Array(0)), false);
});

Deno.test("config: a secret file readable by group or others, missing, empty or relative stops the daemon, naming it", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const file = `${dir}/secret`;
    const load = (secretFile: string) =>
      parseConfig(
        JSON.stringify({ modules: { p: { path: dir, secretFile } } }),
        "blit.jsonc",
        diskFiles,
      );
    Deno.writeTextFileSync(file, "x");
    Deno.chmodSync(file, 0o640);
    assertThrows(
      () => load(file),
      Error,
      new RegExp(
        `modules\\.p\\.secretFile: ${file} is readable or writable by group or others \\(mode 0640\\); chmod 600 it`,
      ),
    );
    Deno.chmodSync(file, 0o604);
    assertThrows(() => load(file), Error, /mode 0604/);
    Deno.writeTextFileSync(file, "\n");
    Deno.chmodSync(file, 0o600);
    assertThrows(() => load(file), Error, /is empty/);
    assertThrows(() => load(`${dir}/nope`), Error, /does not exist/);
    assertThrows(() => load("secret"), Error, /must be an absolute path/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("AuthGuard: guessers rotating addresses spend one budget per module; an address that gave the right secret is never shut out", () => {
  const { module, dir } = protectedModule("s3cret");
  try {
    let now = 1_000_000;
    const guard = new AuthGuard({ now: () => now });
    // A real client, seen before the attack.
    assertEquals(code(() => guard.check(module, "10.0.0.1", "s3cret")), 0);
    // 400 guesses from 400 addresses: only the first 20 are checked.
    const codes = new Map<number, number>();
    for (let i = 0; i < 400; i++) {
      const c = code(() =>
        guard.check(module, `192.0.2.${i % 250}:${i}`, `guess${i}`)
      );
      codes.set(c, (codes.get(c) ?? 0) + 1);
    }
    assertEquals(Object.fromEntries(codes), { 7: 20, 8: 380 });
    // The real client still gets in, from its own address, with the
    // right secret; a wrong one from it is checked (and counted) as ever.
    assertEquals(code(() => guard.check(module, "10.0.0.1", "s3cret")), 0);
    assertEquals(code(() => guard.check(module, "10.0.0.1", "nope")), 7);
    // A new address waits while the budget is spent...
    assertEquals(code(() => guard.check(module, "10.0.0.2", "s3cret")), 8);
    // ...and is heard again once it refills (one guess per 6 s).
    now += 6_000;
    assertEquals(code(() => guard.check(module, "10.0.0.2", "s3cret")), 0);
    // Another module's budget is its own.
    const other = { ...module, name: "q" };
    assertEquals(code(() => guard.check(other, "10.0.0.3", "wrong")), 7);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

// Hash hints: the daemon's side (a walk's files listed with their content
// hash, hashed on the describing workers) and the client's (a file whose
// old copy is that content only takes its new mode and mtime).
import { assert, assertEquals } from "../../tests/_assert.ts";
import { xorshiftBytes } from "../../tests/_bytes.ts";
import {
  hinted,
  PUSH_HINT_MAX_BYTES,
  withHashHints,
  withLocalHashHints,
} from "./hash_hints.ts";
import { HASH_FIRST_MAX_BYTES } from "./basis.ts";
import { closeDescribers } from "./basis_pool.ts";
import { contentHasher, hashBytes } from "../fs/hash.ts";
import { hashSteady } from "./describe.ts";
import { AT, cString, loadLibc, O } from "../fs/_libc.ts";
import { KernelFile } from "../fs/kernel_file.ts";
import { openedStatus } from "../fs/tree.ts";
import { KernelTree } from "../fs/kernel_tree.ts";
import { walkEntries } from "../fs/enumerate.ts";
import { Receiver } from "../transfer/receiver.ts";
import type { FileEntry } from "../fs/entry.ts";
import { planNamed } from "../../tests/_plan.ts";

/**
 * How many of `got` carry a hint: each file in `bodies` its exact hash,
 * every other entry none.
 */
async function hintsOf(
  got: FileEntry[],
  bodies: Map<string, Uint8Array>,
): Promise<number> {
  let hints = 0;
  for (const entry of got) {
    const body = bodies.get(entry.path);
    if (body) {
      assertEquals(entry.hash, await hashBytes(body), entry.path);
      hints++;
    } else assertEquals(entry.hash, undefined, entry.path);
  }
  return hints;
}

Deno.test("hash hints: files from 1 KiB to under 16 MiB get hints, others none", () => {
  assertEquals(hinted(1023), false);
  assertEquals(hinted(1024), true);
  assertEquals(hinted(HASH_FIRST_MAX_BYTES - 1), true);
  assertEquals(hinted(HASH_FIRST_MAX_BYTES), false);
});

Deno.test("hash hints: a walk's files carry their content hash, in walk order; small files, links and directories none", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  const tree = KernelTree.open(root);
  try {
    if (!tree) return; // no kernel containment here: no hints either
    Deno.mkdirSync(`${root}/d`);
    const bodies = new Map<string, Uint8Array>();
    // More files than a batch, so several are hashed at once.
    for (let i = 0; i < 150; i++) {
      const body = xorshiftBytes(1024 + i * 37, i + 1);
      const path = `d/f${String(i).padStart(3, "0")}`;
      Deno.writeFileSync(`${root}/${path}`, body);
      bodies.set(path, body);
    }
    Deno.writeFileSync(`${root}/small`, new Uint8Array(100));
    Deno.symlinkSync("small", `${root}/link`);
    const plain = await Array.fromAsync(walkEntries(tree));
    const got = await Array.fromAsync(withHashHints(tree, walkEntries(tree)));
    assertEquals(got.map((e) => e.path), plain.map((e) => e.path));
    assertEquals(await hintsOf(got, bodies), 150);
  } finally {
    tree?.close();
    await closeDescribers();
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("hash hints: a file changed after it was listed goes without a hint", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  const tree = KernelTree.open(root);
  try {
    if (!tree) return;
    Deno.writeFileSync(`${root}/a`, xorshiftBytes(5000, 1));
    Deno.writeFileSync(`${root}/b`, xorshiftBytes(5000, 2));
    // Listed, then `a` touched (another mtime) before it is hashed.
    const listed = async function* (): AsyncGenerator<FileEntry> {
      for await (const entry of walkEntries(tree)) {
        if (entry.path === "a") Deno.utimeSync(`${root}/a`, 1, 1);
        yield entry;
      }
    };
    const got = await Array.fromAsync(withHashHints(tree, listed()));
    assertEquals(got.map((e) => [e.path, e.hash !== undefined]), [
      ["a", false],
      ["b", true],
    ]);
  } finally {
    tree?.close();
    await closeDescribers();
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("local hash hints (a pushing client): files from 1 KiB to under 1 MiB carry their content hash, in walk order; others, links, directories and a file changed after it was listed none", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    Deno.mkdirSync(`${root}/d`);
    const bodies = new Map<string, Uint8Array>();
    for (let i = 0; i < 20; i++) {
      const body = xorshiftBytes(1024 + i * 4001, i + 1);
      Deno.writeFileSync(`${root}/d/f${i}`, body);
      bodies.set(`d/f${i}`, body);
    }
    Deno.writeFileSync(
      `${root}/edge`,
      xorshiftBytes(PUSH_HINT_MAX_BYTES - 1, 7),
    );
    bodies.set("edge", Deno.readFileSync(`${root}/edge`));
    Deno.writeFileSync(`${root}/big`, xorshiftBytes(PUSH_HINT_MAX_BYTES, 8));
    Deno.writeFileSync(`${root}/small`, new Uint8Array(1023));
    Deno.writeFileSync(`${root}/touched`, xorshiftBytes(5000, 9));
    Deno.symlinkSync("small", `${root}/link`);
    // `touched` gets another mtime after it is listed, before it is read.
    const listed = async function* (): AsyncGenerator<FileEntry> {
      for await (const entry of walkEntries(root)) {
        if (entry.path === "touched") Deno.utimeSync(`${root}/touched`, 1, 1);
        yield entry;
      }
    };
    const plain = await Array.fromAsync(walkEntries(root));
    const got = await Array.fromAsync(withLocalHashHints(root, listed()));
    assertEquals(got.map((e) => e.path), plain.map((e) => e.path));
    assertEquals(await hintsOf(got, bodies), 21);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

const MTIME = 1_700_000_123_456;

Deno.test("hash hints: an old copy of the hinted content takes the new mode and mtime and is not named; another content is described in full; a bad hint is ignored", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    const same = xorshiftBytes(6000, 1);
    const old = xorshiftBytes(6000, 2);
    const now = xorshiftBytes(6000, 3);
    Deno.writeFileSync(`${root}/same`, same, { mode: 0o600 });
    Deno.chmodSync(`${root}/same`, 0o600);
    Deno.writeFileSync(`${root}/changed`, old);
    Deno.writeFileSync(`${root}/unhinted`, same);
    Deno.writeFileSync(`${root}/short`, same);
    const entry = (path: string, hash?: Uint8Array): FileEntry => ({
      path,
      kind: "file",
      size: 6000,
      mtimeMs: MTIME,
      mtimeNs: 789_000,
      mode: 0o640,
      ...(hash ? { hash } : {}),
    });
    const receiver = new Receiver(root, { delta: true, hashHints: true });
    const named = await planNamed(receiver, [
      entry("changed", await hashBytes(now)),
      entry("same", await hashBytes(same)),
      entry("short", (await hashBytes(same)).subarray(0, 8)),
      entry("unhinted"),
    ]);
    // `changed` is known to differ: described chunk by chunk at once.
    assertEquals(named.sort(), [
      "changed full",
      "short full",
      "unhinted full",
    ]);
    const info = Deno.statSync(`${root}/same`);
    assertEquals(info.mtime!.getTime(), MTIME);
    assertEquals(info.mode! & 0o7777, 0o640);
    assertEquals(Deno.readFileSync(`${root}/same`), same);
    // Untouched until their bytes come.
    assertEquals(Deno.readFileSync(`${root}/changed`), old);
    const result = await receiver.finish();
    assertEquals(result.files, 1);
    assertEquals(result.bytes, 6000);
    assertEquals(result.matched, 6000);
  } finally {
    await closeDescribers();
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("hash hints: ignored unless asked for, in a dry run, with another size or a second name", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    const body = xorshiftBytes(4000, 9);
    const hash = await hashBytes(body);
    Deno.writeFileSync(`${root}/f`, body);
    Deno.writeFileSync(`${root}/g`, body);
    Deno.linkSync(`${root}/g`, `${root}/g2`);
    const entry = (path: string, size = 4000): FileEntry => ({
      path,
      kind: "file",
      size,
      mtimeMs: MTIME,
      mode: 0o644,
      hash,
    });
    for (
      const [options, entries, want] of [
        [{ delta: true }, [entry("f")], ["f hash"]],
        // A dry run names it, with nothing to offer, and changes nothing.
        [{ delta: true, hashHints: true, dryRun: true }, [entry("f")], [
          "f full",
        ]],
        // Another size: the hint is not compared (nor, with nothing known
        // of appends here, is a smaller old copy offered by hash).
        [{ delta: true, hashHints: true }, [entry("f", 4001)], ["f full"]],
        [{ delta: true, hashHints: true }, [entry("f", 3999)], ["f full"]],
        [{ delta: true, hashHints: true }, [entry("g")], ["g hash"]],
      ] as const
    ) {
      const receiver = new Receiver(root, options);
      receiver.hashFirst();
      const named = await planNamed(receiver, [...entries]);
      assertEquals(named, [...want], JSON.stringify(options));
      assert(Deno.statSync(`${root}/f`).mtime!.getTime() !== MTIME);
      assert(Deno.statSync(`${root}/g`).mtime!.getTime() !== MTIME);
    }
  } finally {
    await closeDescribers();
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("hashSteady: no hash for a file whose status changed while it was read (asked anew after the read, not the status kept from the open)", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    const body = xorshiftBytes(5000, 9);
    Deno.writeFileSync(`${root}/f`, body);
    const hasher = await contentHasher();
    const libc = loadLibc();
    if (!libc) return; // no libc here: statuses to the ns are not known
    const open = () => {
      const fd = libc.openat2(AT.FDCWD, cString(`${root}/f`), O.RDONLY, 0, 0);
      const file = KernelFile.regular(libc, fd, "f", false);
      return { file, info: openedStatus(file) };
    };
    // Unchanged: its hash.
    {
      const { file, info } = open();
      const handle = {
        statusAtOpen: info,
        readSync: (p: Uint8Array) => file.readSync(p),
        seekSync: (o: number, w: Deno.SeekMode) => file.seekSync(o, w),
        statSync: () => file.statSync(),
        close: () => file.close(),
      };
      assertEquals(hashSteady(handle, 5000, hasher), await hashBytes(body));
      file.close();
    }
    // Its change time moved during the read (a write): none.
    {
      const { file, info } = open();
      // (A status as a later statx gives it: its change time moved on.)
      const moved = Object.assign(Object.create(info), {
        ctimeNs: (info as { ctimeNs?: number }).ctimeNs! + 1,
      });
      const handle = {
        statusAtOpen: info,
        readSync: (p: Uint8Array) => file.readSync(p),
        seekSync: (o: number, w: Deno.SeekMode) => file.seekSync(o, w),
        statSync: () => moved,
        close: () => file.close(),
      };
      assertEquals(hashSteady(handle, 5000, hasher), undefined);
      file.close();
    }
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

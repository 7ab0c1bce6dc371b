import { assertEquals } from "../../tests/_assert.ts";
import { avgBitsFor, Chunker } from "./chunker.ts";
import { PRECUT_MIN_BYTES, PreCutter } from "./precut.ts";

function random(size: number, seed: number): Uint8Array {
  const out = new Uint8Array(size);
  let s = seed;
  for (let i = 0; i < size; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = s & 0xff;
  }
  return out;
}

function entry(path: string, size: number) {
  return { path, kind: "file" as const, size, mtimeMs: 0, mode: 0o644 };
}

/** The chunk lengths a chunker finds in `data` in one go. */
function lengthsOf(data: Uint8Array): number[] {
  const chunker = new Chunker(avgBitsFor(data.length));
  const out: number[] = [];
  let last = 0;
  for (let at = 0; at < data.length;) {
    const end = chunker.scan(data, at);
    if (end < 0) break;
    out.push(end - last);
    last = at = end;
  }
  if (last < data.length) out.push(data.length - last);
  return out;
}

Deno.test("PreCutter: a file cut ahead has the chunks the chunker finds", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    const data = random(6 << 20, 3);
    Deno.writeFileSync(`${root}/f`, data);
    const cutter = new PreCutter(root);
    cutter.add(entry("f", data.length), 0);
    const cut = await cutter.take("f");
    assertEquals(cut?.avgBits, avgBitsFor(data.length));
    assertEquals([...cut!.lengths], lengthsOf(data));
    // Taken once.
    assertEquals(cutter.take("f"), undefined);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("PreCutter: small files, passed-over files and a closed cutter are not cut", async () => {
  const root = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    Deno.writeFileSync(`${root}/small`, new Uint8Array(1000));
    for (const name of ["a", "b", "c"]) {
      Deno.writeFileSync(`${root}/${name}`, random(PRECUT_MIN_BYTES * 2, 7));
    }
    const cutter = new PreCutter(root);
    cutter.add(entry("small", 1000), 0);
    assertEquals(cutter.take("small"), undefined);
    cutter.add(entry("a", PRECUT_MIN_BYTES * 2), 1);
    cutter.add(entry("b", PRECUT_MIN_BYTES * 2), 2);
    // The receiver decided past a and b without needing them: a's cut
    // stops, b's never starts.
    cutter.forget(3);
    assertEquals(cutter.take("a"), undefined);
    assertEquals(cutter.take("b"), undefined);
    await new Promise((resolve) => setTimeout(resolve, 50));
    // A file needed before its cut started is cut when sent instead.
    cutter.add(entry("b", PRECUT_MIN_BYTES * 2), 3);
    cutter.add(entry("c", PRECUT_MIN_BYTES * 2), 4);
    assertEquals(cutter.take("c"), undefined);
    // One whose cut is under way is waited for; a missing file is not cut.
    const b = await cutter.take("b");
    assertEquals(b?.lengths.reduce((x, y) => x + y, 0), PRECUT_MIN_BYTES * 2);
    cutter.add(entry("gone", PRECUT_MIN_BYTES), 5);
    assertEquals(await cutter.take("gone"), undefined);
    cutter.close();
    cutter.add(entry("a", PRECUT_MIN_BYTES * 2), 6);
    assertEquals(cutter.take("a"), undefined);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

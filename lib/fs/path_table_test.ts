import { assertEquals, assertThrows } from "../../tests/_assert.ts";
import { FileTable, PathSet } from "./path_table.ts";

const name = (i: number) => `dir${i % 97}/sub/file-${i}.dat`;

Deno.test("PathSet: 100,000 paths, each found, none invented", () => {
  const set = new PathSet();
  for (let i = 0; i < 100_000; i++) set.add(name(i));
  set.add(name(5)); // again: no change
  assertEquals(set.size, 100_000);
  let found = 0;
  let invented = 0;
  for (let i = 0; i < 100_000; i++) if (set.has(name(i))) found++;
  for (let i = 100_000; i < 200_000; i++) if (set.has(name(i))) invented++;
  assertEquals([found, invented], [100_000, 0]);
  // About 16 bytes a path, not the strings.
  assertEquals(set.bytes <= 100_000 * 48, true);
});

Deno.test("FileTable: entries come back exact under the name asked; take is once", () => {
  const table = new FileTable();
  for (let i = 0; i < 50_000; i++) {
    table.set(name(i), {
      path: "ignored",
      kind: "file",
      size: i * 3,
      mtimeMs: 1_700_000_000_000 + i,
      mode: 0o600 + (i % 8),
    });
  }
  assertEquals(table.size, 50_000);
  assertEquals(table.get(name(1234)), {
    path: name(1234),
    kind: "file",
    size: 3702,
    mtimeMs: 1_700_000_001_234,
    mode: 0o602,
  });
  assertEquals(table.get("not/there"), undefined);
  let sizes = 0;
  for (let i = 0; i < 50_000; i++) sizes += table.take(name(i))?.size ?? -1e12;
  assertEquals(sizes, 3 * (50_000 * 49_999) / 2);
  assertEquals(table.take(name(7)), undefined);
  assertEquals([table.taken(name(7)), table.pending], [true, 0]);
  assertThrows(
    () =>
      table.set(name(7), {
        path: "",
        kind: "file",
        size: 0,
        mtimeMs: 0,
        mode: 0,
      }),
    RangeError,
    /listed twice/,
  );
  assertThrows(
    () =>
      table.set("d", { path: "d", kind: "dir", size: 0, mtimeMs: 0, mode: 0 }),
    TypeError,
  );
});

Deno.test("FileTable.delete: a sliding window of 1,000 over 200,000 paths stays small and exact", () => {
  const table = new FileTable();
  const entry = (i: number) => ({
    path: "",
    kind: "file" as const,
    size: i,
    mtimeMs: i * 2,
    mode: 0o644,
  });
  const small = new FileTable();
  for (let i = 0; i < 1000; i++) small.set(name(i), entry(i));
  for (let i = 0; i < 200_000; i++) {
    table.set(name(i), entry(i));
    if (i % 3 === 0) table.take(name(i));
    if (i >= 1000) {
      // Out of order now and then: removal must not strand other keys.
      const gone = i % 7 === 0 ? [i - 500, i - 1000] : [i - 1000];
      for (const g of gone) {
        if (table.has(name(g))) assertEquals(table.delete(name(g)), true);
      }
    }
  }
  assertEquals(table.delete("never/there"), false);
  // Everything still in is found with its own values; nothing deleted is.
  let found = 0;
  for (let i = 0; i < 200_000; i++) {
    const got = table.get(name(i));
    if (got) {
      assertEquals([got.size, got.mtimeMs], [i, i * 2]);
      found++;
    }
  }
  assertEquals(found, table.size);
  assertEquals(table.size <= 1000, true);
  assertEquals(
    table.pending,
    [...Array(200_000).keys()].filter((i) => table.has(name(i)) && i % 3 !== 0)
      .length,
  );
  // Rows are reused: no bigger than a table that only ever held 1,000.
  assertEquals(table.bytes <= small.bytes * 2, true);
});

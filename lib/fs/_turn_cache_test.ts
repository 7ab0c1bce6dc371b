import { assertEquals } from "../../tests/_assert.ts";
import { AT, cString, loadLibc, O } from "./_libc.ts";
import { DIR_CACHE, TurnCache } from "./_turn_cache.ts";

Deno.test("TurnCache: handles kept for one event-loop turn, at most DIR_CACHE; a rename's name forgets those at and under it", async () => {
  const libc = loadLibc();
  if (!libc) return; // not Linux, or no FFI
  const dir = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    const open = () =>
      libc.openat2(AT.FDCWD, cString(dir), O.PATH | O.DIRECTORY, 0, 0);
    const turn = new TurnCache(libc);
    turn.set("a", open());
    turn.set("a/b", open());
    turn.set("c", open());
    turn.markVerified();
    assertEquals([turn.size, turn.verified, turn.get("a") !== undefined], [
      3,
      true,
      true,
    ]);
    turn.forgetUnder("a");
    assertEquals([turn.get("a"), turn.get("a/b"), turn.size], [
      undefined,
      undefined,
      1,
    ]);
    // Only `rel` and what is beneath it: not a name it merely begins.
    for (const name of ["ab", "a", "a/b/c", "a.b", "x/a"]) {
      turn.set(name, open());
    }
    turn.forgetUnder("a/b/c/.f.tmp"); // a file's rename: nothing
    assertEquals(turn.size, 6);
    turn.forgetUnder("a");
    assertEquals(
      ["ab", "a", "a/b/c", "a.b", "x/a", "c"].map((d) =>
        turn.get(d) !== undefined
      ),
      [true, false, false, true, true, true],
    );
    turn.forgetUnder("");
    assertEquals(turn.size, 0);
    for (let i = 0; i < DIR_CACHE; i++) turn.set(`d${i}`, open());
    assertEquals(turn.size <= DIR_CACHE, true);
    await new Promise((r) => setTimeout(r, 0)); // the turn ends
    assertEquals([turn.size, turn.verified], [0, false]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

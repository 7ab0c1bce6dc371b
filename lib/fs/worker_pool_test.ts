import {
  assertEquals,
  assertRejects,
  assertThrows,
} from "../../tests/_assert.ts";
import { PoolError, WorkerPool, workerScriptExists } from "./worker_pool.ts";

// A worker that answers each batch with its number doubled, or fails.
const SCRIPT = `self.onmessage = (e) => {
  const b = e.data;
  self.postMessage(b.n < 0 ? { id: b.id, error: "negative", errorName: "RangeError" } : { id: b.id, doubled: b.n * 2 });
};`;

Deno.test("WorkerPool: batches answered by its workers; a failed batch is the pool's failure, with the worker's error name", async () => {
  const dir = Deno.makeTempDirSync();
  const url = new URL(`file://${dir}/worker.js`);
  Deno.writeTextFileSync(url, SCRIPT);
  const answers: number[] = [];
  const pool = new WorkerPool<
    { id: number; n: number },
    { id: number; doubled?: number; error?: string }
  >(
    url,
    2,
    (answer) => answers.push(answer.doubled ?? -1),
  );
  try {
    assertEquals(workerScriptExists(url), true);
    assertEquals(workerScriptExists(new URL(`file://${dir}/none.js`)), false);
    for (const n of [1, 2, 3]) await pool.post({ id: 0, n });
    await pool.drain();
    assertEquals(answers.sort(), [2, 4, 6]);
    await pool.post({ id: 0, n: -1 }).catch(() => {});
    const error = await assertRejects(
      () => pool.drain(),
      PoolError,
      /^negative$/,
    );
    assertEquals(error.name, "RangeError");
    assertEquals(pool.failure instanceof Error, true);
  } finally {
    await pool.close();
    Deno.removeSync(dir, { recursive: true });
  }
  assertThrows(() => new WorkerPool(url, 0, () => {}), RangeError);
  assertEquals(new PoolError("x", "Error").name, "PoolError");
});

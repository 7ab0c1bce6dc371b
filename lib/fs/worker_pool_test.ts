import {
  assertEquals,
  assertRejects,
  assertThrows,
} from "../../tests/_assert.ts";
import {
  PoolError,
  WorkerPool,
  workerScriptExists,
  workerUrl,
} from "./worker_pool.ts";

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

// A worker that names itself in each answer; a batch with `hold` waits
// until the test sets the shared word it is given.
const NAMING = `const me = crypto.randomUUID();
self.onmessage = (e) => {
  const b = e.data;
  if (b.hold) Atomics.wait(new Int32Array(b.hold), 0, 0);
  self.postMessage({ id: b.id, worker: me });
};`;

Deno.test("WorkerPool: a batch goes to the worker with the least work posted, not behind a big one", async () => {
  const dir = Deno.makeTempDirSync();
  const url = new URL(`file://${dir}/worker.js`);
  Deno.writeTextFileSync(url, NAMING);
  const by = new Map<number, string>();
  const pool = new WorkerPool<
    { id: number; hold?: SharedArrayBuffer },
    { id: number; worker: string }
  >(url, 2, (answer) => by.set(answer.id, answer.worker));
  const hold = new SharedArrayBuffer(4);
  try {
    // A big batch that holds its worker, then two small ones: both go
    // to the other worker and are answered while the big one waits.
    const big = { id: 0, hold };
    await pool.post(big, [], 1000);
    const small = [{ id: 0 }, { id: 0 }];
    for (const batch of small) await pool.post(batch, [], 1);
    for (let i = 0; i < 500 && by.size < 2; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assertEquals(by.size, 2);
    assertEquals(by.get(small[0].id), by.get(small[1].id));
    Atomics.store(new Int32Array(hold), 0, 1);
    Atomics.notify(new Int32Array(hold), 0);
    await pool.drain();
    assertEquals(by.size, 3);
    assertEquals(by.get(big.id) === by.get(small[0].id), false);
    await assertRejects(() => pool.post({ id: 0 }, [], -1), RangeError);
    await assertRejects(() => pool.post({ id: 0 }, [], NaN), RangeError);
  } finally {
    Atomics.store(new Int32Array(hold), 0, 1);
    Atomics.notify(new Int32Array(hold), 0);
    await pool.close();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("workerUrl: a source module's Worker is the .ts beside it; a bundle's, the .js bundle beside it", () => {
  assertEquals(
    workerUrl("_hash_worker", "file:///repo/lib/fs/hash_pool.ts").href,
    "file:///repo/lib/fs/_hash_worker.ts",
  );
  assertEquals(
    workerUrl(
      "_hash_worker",
      "https://jsr.io/@blit/cli/0.1.0/lib/fs/hash_pool.ts",
    )
      .href,
    "https://jsr.io/@blit/cli/0.1.0/lib/fs/_hash_worker.ts",
  );
  assertEquals(
    workerUrl("_basis_worker", "file:///opt/blit/dist/blit.js").href,
    "file:///opt/blit/dist/_basis_worker.js",
  );
  // The module's own directory, whatever its query.
  assertEquals(
    workerUrl("_w", "file:///opt/blit/dist/blit-daemon.js?x=1").href,
    "file:///opt/blit/dist/_w.js",
  );
});

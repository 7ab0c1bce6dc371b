// An unbounded single-consumer queue: the need list fills it as the
// receiver's answers arrive, the data path drains it as it goes.

/** Items pushed by one side, taken by one `for await` on the other. */
export class WorkQueue<T> implements AsyncIterable<T> {
  #items: T[] = [];
  #head = 0;
  #closed = false;
  #error: unknown = undefined;
  #wake: (() => void) | undefined;
  #taken = false;

  /** Adds an item. @throws {Error} after close. */
  push(item: T): void {
    if (this.#closed) throw new Error("WorkQueue is closed");
    this.#items.push(item);
    this.#notify();
  }

  /** No more items: the consumer ends after the ones queued. */
  close(): void {
    this.#closed = true;
    this.#notify();
  }

  /** Fails the consumer (it throws `error` at its next take). */
  fail(error: unknown): void {
    this.#error = error ?? new Error("WorkQueue failed");
    this.#closed = true;
    this.#notify();
  }

  /** Whether a take would wait: nothing queued and not closed. */
  get idle(): boolean {
    return this.#head >= this.#items.length && !this.#closed;
  }

  /** Whether close() or fail() was called. */
  get closed(): boolean {
    return this.#closed;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    if (this.#taken) throw new Error("WorkQueue has one consumer");
    this.#taken = true;
    for (;;) {
      if (this.#error !== undefined) throw this.#error;
      if (this.#head < this.#items.length) {
        const item = this.#items[this.#head];
        this.#items[this.#head++] = undefined as T; // let it go
        // Compact now and then, so a long transfer holds only what waits.
        if (this.#head > 4096 && this.#head * 2 > this.#items.length) {
          this.#items = this.#items.slice(this.#head);
          this.#head = 0;
        }
        yield item;
        continue;
      }
      if (this.#closed) return;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
  }
}

// Test helper: frame events as an honest sender sends them, each body (or
// range) followed by its content hash.
import { hashBytes } from "../lib/fs/hash.ts";
import type { FrameEvent } from "../lib/wire/frame_codec.ts";

/**
 * `events` with a hash event after each file's (or range's) data once it
 * is complete (as many bytes as announced), unless one is there already;
 * incomplete bodies (a test's broken stream) get none.
 */
export async function hashed(events: FrameEvent[]): Promise<FrameEvent[]> {
  const out: FrameEvent[] = [];
  let body: Uint8Array[] | undefined;
  let want = 0;
  const close = async () => {
    if (!body) return;
    if (body.reduce((n, b) => n + b.length, 0) !== want) {
      body = undefined;
      return;
    }
    const all = new Uint8Array(body.reduce((n, b) => n + b.length, 0));
    let at = 0;
    for (const b of body) {
      all.set(b, at);
      at += b.length;
    }
    out.push({ type: "hash", digest: await hashBytes(all) });
    body = undefined;
  };
  for (const event of events) {
    if (event.type === "file" || event.type === "end") {
      await close();
      if (event.type === "file") {
        body = [];
        want = event.range?.length ?? event.entry.size;
      }
      out.push(event);
      continue;
    }
    if (event.type === "data") {
      body?.push(event.bytes.slice());
      out.push(event);
      // Complete: its hash goes right after, as a sender sends it.
      if (body && body.reduce((n, b) => n + b.length, 0) === want) {
        await close();
      }
      continue;
    }
    if (event.type === "hash") body = undefined;
    out.push(event);
  }
  await close();
  return out;
}

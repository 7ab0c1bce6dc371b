// An example of blit as a library: the stages composed by hand.
//
//   deno run -A examples/filtered_copy.ts SRC DST [SUFFIX]
//
// Copies the files of SRC whose name ends in SUFFIX (default ".txt") into
// DST, through the same stages a transfer runs: enumerate -> a filter of
// our own -> need list -> frames (the wire format) -> decode -> the atomic
// receive sink. Files already up to date are not sent again.
import {
  decodeFrames,
  encodeFrames,
  enumerate,
  type FileEntry,
  NeedListStream,
  ReceiveSink,
} from "@blit/cli/mod";

/** Copies the files under `src` whose name ends in `suffix`; returns how many. */
export async function filteredCopy(
  src: string,
  dst: string,
  suffix: string,
): Promise<{ sent: number; skipped: number }> {
  Deno.mkdirSync(dst, { recursive: true });
  const root = Deno.realPathSync(dst);
  const matching = new TransformStream<FileEntry, FileEntry>({
    transform(entry, controller) {
      if (entry.kind === "file" && entry.path.endsWith(suffix)) {
        controller.enqueue(entry);
      }
    },
  });
  const needList = new NeedListStream(root);
  // What the receiver will accept: exactly the files the need list kept.
  const expected = new Map<string, FileEntry>();
  const remember = new TransformStream<FileEntry, FileEntry>({
    transform(entry, controller) {
      expected.set(entry.path, entry);
      controller.enqueue(entry);
    },
  });
  const sink = new ReceiveSink(root, expected);
  await enumerate(Deno.realPathSync(src))
    .pipeThrough(matching)
    .pipeThrough(needList)
    .pipeThrough(remember)
    .pipeThrough(encodeFrames(Deno.realPathSync(src)))
    .pipeThrough(decodeFrames())
    .pipeTo(sink);
  return { sent: sink.stats.files, skipped: needList.skipped };
}

if (import.meta.main) {
  const [src, dst, suffix = ".txt"] = Deno.args;
  if (!src || !dst) {
    console.error("usage: filtered_copy.ts SRC DST [SUFFIX]");
    Deno.exit(2);
  }
  const { sent, skipped } = await filteredCopy(src, dst, suffix);
  console.log(
    `copied ${sent} files ending in ${suffix}; ${skipped} up to date`,
  );
}

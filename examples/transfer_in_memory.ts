// An example of blit as a library: the two roles of a transfer, joined in
// one process.
//
//   deno run -A examples/transfer_in_memory.ts SRC DST
//
// Runs exactly the conversation `blit push` and `blit pull` run (need
// list, resume offers, acknowledged data, directory times, links, empty
// directories), with the network replaced by `peerPair()`: the sender
// reads SRC, the receiver writes DST and says what it already has.
import {
  enumerate,
  peerPair,
  Receiver,
  receiveTree,
  Sender,
  sendTree,
} from "@blit/cli/mod";

/** Brings `dst` up to date with `src`; what moved and what was kept. */
export async function transfer(
  src: string,
  dst: string,
): Promise<{ files: number; bytes: number; skipped: number }> {
  Deno.mkdirSync(dst, { recursive: true });
  const from = Deno.realPathSync(src);
  const [toReceiver, toSender] = peerPair();
  const [sent] = await Promise.all([
    sendTree(toReceiver, new Sender(from), enumerate(from)),
    receiveTree(toSender, new Receiver(Deno.realPathSync(dst))),
  ]);
  const { files, bytes, skipped } = sent.summary;
  return { files, bytes, skipped };
}

if (import.meta.main) {
  const [src, dst] = Deno.args;
  if (!src || !dst) {
    console.error("usage: transfer_in_memory.ts SRC DST");
    Deno.exit(2);
  }
  const { files, bytes, skipped } = await transfer(src, dst);
  console.log(
    `${files} files and links (${bytes} bytes); ${skipped} up to date`,
  );
}

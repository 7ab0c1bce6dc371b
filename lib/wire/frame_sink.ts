// The sending end of a data connection as a Web Streams stage: the same
// FrameSender a transfer drives (frame_io.ts), behind a WritableStream.
import type { TreeRoot } from "../fs/tree.ts";
import {
  FrameSender,
  type FrameWriter,
  type SendFramesOptions,
  type SendItem,
} from "./frame_io.ts";

/**
 * The socket sink of a transfer: a `WritableStream` of work items (see
 * {@linkcode SendItem}: entries, batches, ranges) that writes each regular
 * file's header and body frames to `out` (other entries are ignored) and,
 * on close, the end frame and a half-close: a {@linkcode FrameSender}.
 * Bodies are read straight into one reused buffer and leave in writes of
 * up to `bufferSize`: entries are work items, bulk bytes never cross the
 * stream as chunks.
 *
 * Permissions: read on `root`, net.
 *
 * @example
 * ```ts ignore
 * await enumerate(root).pipeTo(new FrameSink(conn, root));
 * ```
 */
export class FrameSink extends WritableStream<SendItem> {
  /** A sink writing frames for files under `root` to `out`. */
  constructor(
    out: FrameWriter,
    root: TreeRoot,
    options: SendFramesOptions = {},
  ) {
    const sender = new FrameSender(out, root, options);
    super({
      write: (chunk) => sender.write(chunk),
      close: () => sender.close(),
      abort: (reason) => sender.abort(reason),
      // One item at a time: sinks sharing a work queue (parallel
      // streams) take the next item only when they are ready for it.
    }, { highWaterMark: 1 });
  }
}

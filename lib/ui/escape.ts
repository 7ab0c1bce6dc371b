// Names from a peer or a disk, made safe to print on a terminal: control
// characters (and the bidirectional overrides that reorder what is shown)
// become visible escapes, so a name can't move the cursor, recolour the
// terminal or forge a line of its own.

const NAMED: Record<string, string> = {
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
};

// C0 controls, DEL, C1 controls, and the Unicode bidi embeddings,
// overrides and isolates.
// deno-lint-ignore no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/**
 * `text` with every control character escaped: `\n`, `\r`, `\t`, and
 * `\xHH` (`\u{HHHH}` for bidi controls) for the rest; anything else is
 * kept as it is.
 *
 * @example
 * ```ts
 * import { escapeControls } from "./escape.ts";
 * if (escapeControls("a\nb\u001b[31m") !== "a\\nb\\x1b[31m") throw new Error("example failed");
 * if (escapeControls("plain é") !== "plain é") throw new Error("example failed");
 * ```
 */
export function escapeControls(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const named = NAMED[c];
    if (named) return named;
    const code = c.charCodeAt(0);
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u{${code.toString(16)}}`;
  });
}

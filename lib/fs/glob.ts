// Glob patterns as rsync users write them, compiled to one RegExp each:
// `*` any run of characters but `/`, `**` any run including `/` (a whole
// `**` segment also matches no segment: `a/**/b` matches `a/b`), `?` one
// character but `/`, `[...]` a class (`[!...]` or `[^...]` negated,
// ranges), `{a,b}` alternatives, `\x` a literal x. Dotfiles match like
// any other name. Everything else stands for itself.

function escaped(ch: string): string {
  return /[\\^$.*+?()[\]{}|/-]/.test(ch) ? `\\${ch}` : ch;
}

/** The index of the `]` closing a class opened at `start`, or -1. */
function classEnd(glob: string, start: number): number {
  let i = start + 1;
  if (glob[i] === "!" || glob[i] === "^") i++;
  if (glob[i] === "]") i++; // a leading ] is a member
  for (; i < glob.length; i++) {
    if (glob[i] === "\\") i++;
    else if (glob[i] === "]") return i;
  }
  return -1;
}

function classSource(body: string): string {
  let negate = false;
  let i = 0;
  if (body[0] === "!" || body[0] === "^") {
    negate = true;
    i = 1;
  }
  let out = "";
  for (; i < body.length; i++) {
    let ch = body[i];
    if (ch === "\\" && i + 1 < body.length) ch = body[++i];
    out += ch === "-" && i > 0 && i < body.length - 1 ? "-" : escaped(ch);
  }
  // A class never matches the separator.
  return negate ? `[^/${out}]` : `(?!/)[${out}]`;
}

/** The `}` closing a brace opened at `start` and its top-level commas. */
function braceParts(
  glob: string,
  start: number,
): { end: number; commas: number[] } | undefined {
  let depth = 0;
  const commas: number[] = [];
  for (let i = start; i < glob.length; i++) {
    const ch = glob[i];
    if (ch === "\\") i++;
    else if (ch === "[") {
      const end = classEnd(glob, i);
      if (end > 0) i = end;
    } else if (ch === "{") depth++;
    else if (ch === "}") {
      depth--;
      if (depth === 0) {
        return commas.length > 0 ? { end: i, commas } : undefined;
      }
    } else if (ch === "," && depth === 1) commas.push(i);
  }
  return undefined;
}

function source(glob: string): string {
  let out = "";
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i];
    if (ch === "*") {
      let j = i;
      while (glob[j] === "*") j++;
      if (j - i === 1) {
        out += "[^/]*";
      } else {
        // `**`: a whole segment matches any number of segments, none too.
        const segmentStart = i === 0 || glob[i - 1] === "/";
        const segmentEnd = j === glob.length || glob[j] === "/";
        if (segmentStart && segmentEnd && j < glob.length) {
          out += "(?:[^/]*(?:/[^/]*)*/)?";
          j++; // the slash is part of it
        } else if (segmentStart && segmentEnd && i > 0) {
          out = out.replace(/\\\/$/, "") + "(?:/.*)?";
        } else out += ".*";
      }
      i = j - 1;
    } else if (ch === "?") out += "[^/]";
    else if (ch === "[") {
      const end = classEnd(glob, i);
      if (end < 0) out += "\\[";
      else {
        out += classSource(glob.slice(i + 1, end));
        i = end;
      }
    } else if (ch === "{") {
      const parts = braceParts(glob, i);
      if (!parts) out += "\\{";
      else {
        const cuts = [i, ...parts.commas, parts.end];
        const alternatives = [];
        for (let k = 0; k + 1 < cuts.length; k++) {
          alternatives.push(source(glob.slice(cuts[k] + 1, cuts[k + 1])));
        }
        out += `(?:${alternatives.join("|")})`;
        i = parts.end;
      }
    } else if (ch === "\\" && i + 1 < glob.length) out += escaped(glob[++i]);
    else out += escaped(ch);
  }
  return out;
}

/**
 * A matcher for `glob` against whole relative paths (`a/b/c`).
 *
 * @example
 * ```ts
 * import { globMatcher } from "./glob.ts";
 * const m = globMatcher("src/**\/*.{ts,js}");
 * if (!(m("src/a.ts") && m("src/x/y/b.js") && !m("src/a.py"))) throw new Error("example failed");
 * ```
 */
export function globMatcher(glob: string): (path: string) => boolean {
  const re = new RegExp(`^${source(glob)}$`, "s");
  return (path) => re.test(path);
}

// Per-module allow lists: client addresses and CIDR blocks, IPv4 and IPv6.

/** One parsed allow-list item: an address family, its bits and prefix. */
export interface AllowRule {
  v6: boolean;
  bits: bigint;
  prefix: number;
}

function parseV4(text: string): bigint | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let out = 0n;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    out = (out << 8n) | BigInt(Number(part));
  }
  return out;
}

function parseV6(text: string): bigint | undefined {
  let body = text.replace(/%.*$/, "");
  // A trailing dotted quad (::ffff:10.0.0.1) is two groups.
  const quad = body.match(/^(.*:)(\d+\.\d+\.\d+\.\d+)$/);
  if (quad) {
    const v4 = parseV4(quad[2]);
    if (v4 === undefined) return undefined;
    body = `${quad[1]}${(v4 >> 16n).toString(16)}:${
      (v4 & 0xffffn).toString(16)
    }`;
  }
  const halves = body.split("::");
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(":") : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [
    ...head,
    ...Array(halves.length === 2 ? missing : 0).fill("0"),
    ...tail,
  ];
  let out = 0n;
  for (const group of groups) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return undefined;
    out = (out << 16n) | BigInt(parseInt(group, 16));
  }
  return out;
}

/** An address as a rule's family and bits; IPv4-mapped IPv6 counts as IPv4. */
function parseAddress(text: string): { v6: boolean; bits: bigint } | undefined {
  const v4 = parseV4(text);
  if (v4 !== undefined) return { v6: false, bits: v4 };
  const v6 = parseV6(text.replace(/^\[|\]$/g, ""));
  if (v6 === undefined) return undefined;
  if (v6 >> 32n === 0xffffn) return { v6: false, bits: v6 & 0xffffffffn };
  return { v6: true, bits: v6 };
}

/**
 * Parses `ADDRESS` or `ADDRESS/PREFIX`; undefined when it is neither.
 *
 * @example
 * ```ts
 * import { allows, parseAllowRule } from "./allow.ts";
 * const rule = parseAllowRule("10.0.0.0/8")!;
 * if (!allows([rule], "10.1.2.3") || allows([rule], "11.0.0.1")) throw new Error("example failed");
 * ```
 */
export function parseAllowRule(text: string): AllowRule | undefined {
  const [addr, prefixText, extra] = text.split("/");
  if (extra !== undefined) return undefined;
  const parsed = parseAddress(addr);
  if (!parsed) return undefined;
  const max = parsed.v6 ? 128 : 32;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) {
    return undefined;
  }
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (prefix > max) return undefined;
  return { ...parsed, prefix };
}

/** Whether `client` (an IP address) is inside one of `rules`. */
export function allows(rules: readonly AllowRule[], client: string): boolean {
  const addr = parseAddress(client);
  if (!addr) return false;
  for (const rule of rules) {
    if (rule.v6 !== addr.v6) continue;
    const width = BigInt(rule.v6 ? 128 : 32);
    const shift = width - BigInt(rule.prefix);
    if ((rule.bits >> shift) === (addr.bits >> shift)) return true;
  }
  return false;
}

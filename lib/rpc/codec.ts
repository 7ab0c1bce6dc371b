// blit's own protobuf codec for its control-plane messages (proto3,
// binary wire format), driven by the field tables that
// `deno task proto` generates into gen/blit.ts.
//
// Messages keep protobuf-es's shape (plain objects with `$typeName`,
// 64-bit integers as bigint, a oneof as `{ case, value }`), so code and
// tests read the same either way. What it saves: importing protobuf-es
// and building its descriptors cost every `blit` command ~40 ms before
// its first byte, and its reflective encoder ~2x the CPU of a table loop.
// protobuf-es stays the reference: a test checks both agree on every
// message, both ways.

import { asciiText } from "../text.ts";

/** A message: a plain object naming its type. */
export interface AnyMessage {
  readonly $typeName: string;
}

/** Field value types the codec knows (protobuf's scalar type numbers). */
export const FieldType = {
  DOUBLE: 1,
  INT64: 3,
  UINT64: 4,
  INT32: 5,
  BOOL: 8,
  STRING: 9,
  MESSAGE: 11,
  BYTES: 12,
  UINT32: 13,
  ENUM: 14,
} as const;

/** One of {@linkcode FieldType}'s values. */
export type FieldTypeCode = typeof FieldType[keyof typeof FieldType];

/** How one field is named, numbered and encoded. */
export interface FieldSpec {
  /** The field number. */
  readonly no: number;
  /** Its property name (protobuf-es's `localName`). */
  readonly name: string;
  /** Its value type. */
  readonly type: FieldTypeCode;
  /** A repeated field (scalars of a numeric type go packed). */
  readonly repeated?: boolean;
  /** The oneof it is a case of (the oneof's property name). */
  readonly oneof?: string;
  /** A message field's schema (a function: schemas refer to each other). */
  readonly message?: () => MessageSchema;
}

/** A message type: its name and fields, and (for typing) its shape. */
export interface MessageSchema<T extends AnyMessage = AnyMessage> {
  /** The fully qualified protobuf name, e.g. `blit.v2.FileHeader`. */
  readonly typeName: T["$typeName"];
  /** Its fields, by number. */
  readonly fields: readonly FieldSpec[];
  /** Never set: carries the message type for inference. */
  readonly shape?: T;
}

/** Any message schema (the codec's counterpart of `DescMessage`). */
export type DescMessage = MessageSchema<AnyMessage>;

/** The message type a schema describes. */
export type MessageShape<S extends DescMessage> = S extends
  MessageSchema<infer T> ? T : never;

type FieldInit<F> = F extends Uint8Array ? F
  : F extends AnyMessage ? MessageInit<F> | F
  : F extends readonly (infer E)[]
    ? (E extends AnyMessage ? (MessageInit<E> | E)[]
      : E[])
  : F extends { case: infer C extends string; value: infer V }
    ? { case: C; value: FieldInit<V> }
  : F extends { case: undefined } ? { case: undefined; value?: undefined }
  : F;

/** What `create` accepts: any subset of the fields, messages as inits. */
export type MessageInit<T extends AnyMessage> =
  & {
    [K in keyof T as K extends "$typeName" ? never : K]?: FieldInit<T[K]>;
  }
  & { $typeName?: T["$typeName"] };

/** The message type of an init's schema (for `create`'s signature). */
export type MessageInitShape<S extends DescMessage> = MessageInit<
  MessageShape<S>
>;

/** One method of a service: its names, kind and message types. */
export interface MethodSchema<
  I extends DescMessage = DescMessage,
  O extends DescMessage = DescMessage,
> {
  /** The method's property name (`push`). */
  readonly localName: string;
  /** Its protobuf name (`Push`). */
  readonly name: string;
  /** Streaming on either side. */
  readonly methodKind:
    | "unary"
    | "server_streaming"
    | "client_streaming"
    | "bidi_streaming";
  /** Request messages. */
  readonly input: I;
  /** Response messages. */
  readonly output: O;
}

/** A service: its name and methods. */
export interface ServiceSchema<
  M extends Record<string, MethodSchema> = Record<string, MethodSchema>,
> {
  /** The fully qualified name, e.g. `blit.v2.Blit`. */
  readonly typeName: string;
  /** The methods by property name. */
  readonly method: M;
  /** The methods in declaration order. */
  readonly methods: readonly MethodSchema[];
}

/** Any service schema (the codec's counterpart of `DescService`). */
export type DescService = ServiceSchema;

/** Thrown for bytes that are not a valid encoding of the message. */
export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DecodeError";
  }
}

// ---------------------------------------------------------------------------
// Compiled schemas: per message, its fields indexed by number and its
// defaults, built once on first use.

interface Compiled {
  readonly schema: MessageSchema;
  readonly fields: readonly FieldSpec[];
  /** Fields by number (sparse). */
  readonly byNo: (FieldSpec | undefined)[];
  /** The oneofs' property names. */
  readonly oneofs: readonly string[];
  /** Field names with a plain default (not in a oneof, not a message). */
  readonly plain: readonly FieldSpec[];
}

const compiled = new WeakMap<MessageSchema, Compiled>();

function compile(schema: MessageSchema): Compiled {
  let c = compiled.get(schema);
  if (c) return c;
  const fields = [...schema.fields].sort((a, b) => a.no - b.no);
  const byNo: (FieldSpec | undefined)[] = [];
  const oneofs: string[] = [];
  const plain: FieldSpec[] = [];
  for (const f of fields) {
    byNo[f.no] = f;
    if (f.oneof !== undefined) {
      if (!oneofs.includes(f.oneof)) oneofs.push(f.oneof);
    } else if (f.repeated || f.type !== FieldType.MESSAGE) {
      plain.push(f);
    }
  }
  c = { schema, fields, byNo, oneofs, plain };
  compiled.set(schema, c);
  return c;
}

function defaultOf(f: FieldSpec): unknown {
  if (f.repeated) return [];
  switch (f.type) {
    case FieldType.STRING:
      return "";
    case FieldType.BOOL:
      return false;
    case FieldType.BYTES:
      return new Uint8Array(0);
    case FieldType.INT64:
    case FieldType.UINT64:
      return 0n;
    default:
      return 0;
  }
}

function blank(c: Compiled): Record<string, unknown> {
  const m: Record<string, unknown> = { $typeName: c.schema.typeName };
  for (const f of c.plain) m[f.name] = defaultOf(f);
  for (const o of c.oneofs) m[o] = { case: undefined };
  return m;
}

function isMessageOf(value: unknown, schema: MessageSchema): boolean {
  return typeof value === "object" && value !== null &&
    (value as AnyMessage).$typeName === schema.typeName;
}

function initValue(f: FieldSpec, value: unknown): unknown {
  if (f.type === FieldType.MESSAGE) {
    const sub = f.message!();
    return isMessageOf(value, sub)
      ? value
      : create(sub, value as MessageInit<AnyMessage>);
  }
  if (f.type === FieldType.INT64 || f.type === FieldType.UINT64) {
    return typeof value === "bigint" ? value : BigInt(value as number);
  }
  return value;
}

/**
 * A new message of `schema`'s type: every field at its default (zero,
 * "", false, empty bytes or list, no message, no oneof case), then
 * `init`'s fields. Messages in `init` are used as they are; plain
 * objects become messages.
 *
 * @example
 * ```ts
 * import { create } from "./codec.ts";
 * import { FileHeaderSchema } from "./service.ts";
 * const h = create(FileHeaderSchema, { path: "a", size: 3n });
 * if (h.mode !== 0 || h.path !== "a") throw new Error("example failed");
 * ```
 */
export function create<S extends DescMessage>(
  schema: S,
  init?: MessageInitShape<S>,
): MessageShape<S> {
  const c = compile(schema);
  const m = blank(c);
  if (init === undefined || init === null) {
    return m as unknown as MessageShape<S>;
  }
  const source = init as Record<string, unknown>;
  for (const f of c.fields) {
    if (f.oneof !== undefined) continue;
    const value = source[f.name];
    if (value === undefined) continue;
    if (f.repeated) {
      m[f.name] = (value as unknown[]).map((v) => initValue(f, v));
    } else {
      m[f.name] = initValue(f, value);
    }
  }
  for (const o of c.oneofs) {
    const value = source[o] as { case?: string; value?: unknown } | undefined;
    if (value === undefined || value.case === undefined) continue;
    const f = c.fields.find((x) => x.oneof === o && x.name === value.case);
    if (f === undefined) {
      throw new TypeError(
        `${schema.typeName}.${o} has no case ${JSON.stringify(value.case)}`,
      );
    }
    m[o] = { case: f.name, value: initValue(f, value.value) };
  }
  return m as unknown as MessageShape<S>;
}

// ---------------------------------------------------------------------------
// Encoding

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

class Writer {
  buf = new Uint8Array(256);
  pos = 0;
  #view: DataView | undefined;

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.#view = undefined;
  }

  varint(v: number): void {
    // v is a non-negative integer below 2^53 here.
    this.ensure(10);
    const b = this.buf;
    let p = this.pos;
    while (v > 0x7f) {
      b[p++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    b[p++] = v;
    this.pos = p;
  }

  varint32(v: number): void {
    if (v < 0) {
      // A negative int32 is sign-extended to ten bytes.
      this.varint64(BigInt.asUintN(64, BigInt(v)));
      return;
    }
    this.ensure(5);
    const b = this.buf;
    let p = this.pos;
    while (v > 0x7f) {
      b[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    b[p++] = v;
    this.pos = p;
  }

  /** `list`'s values as varints, one after another (a packed field's body). */
  packedUint32(list: readonly number[]): void {
    this.ensure(5 * list.length);
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < list.length; i++) {
      let v = list[i] >>> 0;
      while (v > 0x7f) {
        b[p++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      b[p++] = v;
    }
    this.pos = p;
  }

  varint64(v: bigint): void {
    if (v >= 0n && v <= 0x1fffffffffffffn) {
      this.varint(Number(v));
      return;
    }
    let u = BigInt.asUintN(64, v);
    this.ensure(10);
    while (u > 0x7fn) {
      this.buf[this.pos++] = Number(u & 0x7fn) | 0x80;
      u >>= 7n;
    }
    this.buf[this.pos++] = Number(u);
  }

  tag(no: number, wire: number): void {
    this.varint32((no << 3) | wire);
  }

  bytes(b: Uint8Array): void {
    this.varint32(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  string(s: string): void {
    // At most 3 bytes per UTF-16 unit; the length prefix is fixed after.
    const max = s.length * 3;
    const lenBytes = max < 128 ? 1 : max < 16384 ? 2 : max < 2097152 ? 3 : 5;
    this.ensure(lenBytes + max);
    const start = this.pos + lenBytes;
    const { written } = utf8.encodeInto(s, this.buf.subarray(start));
    this.#backfill(start, lenBytes, written);
  }

  double(v: number): void {
    this.ensure(8);
    this.#view ??= new DataView(this.buf.buffer);
    this.#view.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  /** Starts a length-delimited part; `end(mark)` writes its length. */
  begin(): number {
    this.ensure(5);
    this.pos += 5;
    return this.pos;
  }

  end(start: number): void {
    this.#backfill(start, 5, this.pos - start);
  }

  /** Writes `length` before the `length` bytes at `start`, moving them. */
  #backfill(start: number, reserved: number, length: number): void {
    let need = 1;
    for (let v = length; v > 0x7f; v >>>= 7) need++;
    const at = start - reserved;
    if (need !== reserved) {
      this.buf.copyWithin(at + need, start, start + length);
    }
    let p = at;
    let v = length;
    while (v > 0x7f) {
      this.buf[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    this.buf[p++] = v;
    this.pos = p + length;
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

const PACKED = new Set<number>([
  FieldType.DOUBLE,
  FieldType.INT64,
  FieldType.UINT64,
  FieldType.INT32,
  FieldType.BOOL,
  FieldType.UINT32,
  FieldType.ENUM,
]);

function writeScalar(w: Writer, type: number, value: unknown): void {
  switch (type) {
    case FieldType.STRING:
      w.string(value as string);
      return;
    case FieldType.BYTES:
      w.bytes(value as Uint8Array);
      return;
    case FieldType.BOOL:
      w.varint32(value ? 1 : 0);
      return;
    case FieldType.UINT32:
      w.varint32((value as number) >>> 0);
      return;
    case FieldType.INT32:
    case FieldType.ENUM:
      w.varint32((value as number) | 0);
      return;
    case FieldType.INT64:
    case FieldType.UINT64:
      w.varint64(
        typeof value === "bigint" ? value : BigInt(value as number),
      );
      return;
    case FieldType.DOUBLE:
      w.double(value as number);
      return;
  }
}

function wireOf(type: number): number {
  switch (type) {
    case FieldType.STRING:
    case FieldType.BYTES:
    case FieldType.MESSAGE:
      return 2;
    case FieldType.DOUBLE:
      return 1;
    default:
      return 0;
  }
}

function isDefault(type: number, value: unknown): boolean {
  switch (type) {
    case FieldType.STRING:
      return value === "";
    case FieldType.BYTES:
      return (value as Uint8Array).length === 0;
    case FieldType.BOOL:
      return !value;
    case FieldType.INT64:
    case FieldType.UINT64:
      return value === 0n || value === 0;
    case FieldType.DOUBLE:
      // -0 is not the default: it is written (as protobuf-es does).
      return Object.is(value, 0);
    default:
      return value === 0;
  }
}

function writeField(w: Writer, f: FieldSpec, value: unknown): void {
  if (f.type === FieldType.MESSAGE) {
    w.tag(f.no, 2);
    const start = w.begin();
    writeMessage(w, compile(f.message!()), value as Record<string, unknown>);
    w.end(start);
    return;
  }
  w.tag(f.no, wireOf(f.type));
  writeScalar(w, f.type, value);
}

function writeMessage(
  w: Writer,
  c: Compiled,
  m: Record<string, unknown>,
): void {
  for (const f of c.fields) {
    if (f.oneof !== undefined) {
      const o = m[f.oneof] as { case?: string; value?: unknown } | undefined;
      if (o !== undefined && o.case === f.name) writeField(w, f, o.value);
      continue;
    }
    const value = m[f.name];
    if (value === undefined || value === null) continue;
    if (f.repeated) {
      const list = value as unknown[];
      if (list.length === 0) continue;
      if (PACKED.has(f.type)) {
        w.tag(f.no, 2);
        const start = w.begin();
        // Long lists of lengths (old copies' descriptions) in one loop.
        if (f.type === FieldType.UINT32) w.packedUint32(list as number[]);
        else for (const v of list) writeScalar(w, f.type, v);
        w.end(start);
      } else {
        for (const v of list) writeField(w, f, v);
      }
      continue;
    }
    if (f.type !== FieldType.MESSAGE && isDefault(f.type, value)) continue;
    writeField(w, f, value);
  }
}

/**
 * `message` in protobuf's binary format (fields in number order, proto3
 * defaults left out, numeric lists packed).
 */
export function toBinary<S extends DescMessage>(
  schema: S,
  message: MessageShape<S>,
): Uint8Array {
  const w = new Writer();
  writeMessage(
    w,
    compile(schema),
    message as unknown as Record<string, unknown>,
  );
  return w.finish();
}

// ---------------------------------------------------------------------------
// Decoding

/**
 * Reads protobuf fields from `buf`, from `pos` on; each read stops at the
 * `end` it is given and throws {@linkcode DecodeError} past it. Strings
 * and bytes are views of `buf` (no copy).
 */
export class Reader {
  readonly buf: Uint8Array;
  pos: number;
  #view: DataView | undefined;

  constructor(buf: Uint8Array) {
    this.buf = buf;
    this.pos = 0;
  }

  #eof(): never {
    throw new DecodeError("premature end of message");
  }

  /** A varint's low 32 bits (as an unsigned number). */
  uint32(end: number): number {
    const b = this.buf;
    let p = this.pos;
    let result = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (p >= end) this.#eof();
      const byte = b[p++];
      if (shift < 32) result |= (byte & 0x7f) << shift;
      if (byte < 0x80) {
        this.pos = p;
        return result >>> 0;
      }
    }
    // Up to ten bytes (a sign-extended negative); the rest is dropped.
    for (let i = 5; i < 10; i++) {
      if (p >= end) this.#eof();
      if (b[p++] < 0x80) {
        this.pos = p;
        return result >>> 0;
      }
    }
    throw new DecodeError("varint longer than ten bytes");
  }

  /** A packed field's varints up to `stop`, their low 32 bits into `list`. */
  packedUint32(stop: number, list: number[]): void {
    const b = this.buf;
    let p = this.pos;
    while (p < stop) {
      // Up to four bytes inline; a longer varint the general way.
      const b0 = b[p];
      if (b0 < 0x80) {
        list.push(b0);
        p += 1;
        continue;
      }
      if (p + 1 < stop && b[p + 1] < 0x80) {
        list.push((b0 & 0x7f) | (b[p + 1] << 7));
        p += 2;
        continue;
      }
      if (p + 2 < stop && b[p + 1] >= 0x80 && b[p + 2] < 0x80) {
        list.push((b0 & 0x7f) | ((b[p + 1] & 0x7f) << 7) | (b[p + 2] << 14));
        p += 3;
        continue;
      }
      this.pos = p;
      list.push(this.uint32(stop));
      p = this.pos;
    }
    this.pos = p;
  }

  uint64(end: number): bigint {
    const b = this.buf;
    let p = this.pos;
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (p >= end) this.#eof();
      const byte = b[p++];
      const bits = byte & 0x7f;
      if (i < 4) lo |= bits << (7 * i);
      else if (i === 4) {
        lo |= (bits & 0x0f) << 28;
        hi |= bits >>> 4;
      } else hi |= bits << (7 * i - 32);
      if (byte < 0x80) {
        this.pos = p;
        lo >>>= 0;
        hi >>>= 0;
        return hi === 0 ? BigInt(lo) : (BigInt(hi) << 32n) | BigInt(lo);
      }
    }
    throw new DecodeError("varint longer than ten bytes");
  }

  length(end: number): number {
    const n = this.uint32(end);
    if (n > end - this.pos) this.#eof();
    return n;
  }

  /** A string field (ASCII read as is, else UTF-8). */
  string(end: number): string {
    const n = this.length(end);
    const s = n === 0 ? "" : asciiText(this.buf, this.pos, this.pos + n) ??
      utf8Decoder.decode(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return s;
  }

  /** A bytes field: a view of the buffer. */
  bytes(end: number): Uint8Array {
    const n = this.length(end);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }

  double(end: number): number {
    if (this.pos + 8 > end) this.#eof();
    this.#view ??= new DataView(
      this.buf.buffer,
      this.buf.byteOffset,
      this.buf.byteLength,
    );
    const v = this.#view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }

  skip(wire: number, end: number): void {
    switch (wire) {
      case 0:
        this.uint64(end);
        return;
      case 1:
        if (this.pos + 8 > end) this.#eof();
        this.pos += 8;
        return;
      case 2: {
        // (Read first: `this.pos += this.length()` would add to the old
        // position.)
        const n = this.length(end);
        this.pos += n;
        return;
      }
      case 5:
        if (this.pos + 4 > end) this.#eof();
        this.pos += 4;
        return;
      default:
        throw new DecodeError(`unsupported wire type ${wire}`);
    }
  }
}

function readScalar(r: Reader, type: number, end: number): unknown {
  switch (type) {
    case FieldType.STRING:
      return r.string(end);
    case FieldType.BYTES:
      return r.bytes(end);
    case FieldType.BOOL:
      return r.uint32(end) !== 0;
    case FieldType.UINT32:
      return r.uint32(end);
    case FieldType.INT32:
    case FieldType.ENUM:
      return r.uint32(end) | 0;
    case FieldType.UINT64:
      return r.uint64(end);
    case FieldType.INT64:
      return BigInt.asIntN(64, r.uint64(end));
    case FieldType.DOUBLE:
      return r.double(end);
  }
  throw new DecodeError(`unsupported field type ${type}`);
}

function readMessage(
  r: Reader,
  c: Compiled,
  end: number,
  depth: number,
): Record<string, unknown> {
  if (depth > 64) throw new DecodeError("messages nested too deep");
  const m = blank(c);
  while (r.pos < end) {
    const tag = r.uint32(end);
    const no = tag >>> 3;
    const wire = tag & 7;
    if (no === 0) throw new DecodeError("field number 0");
    const f = c.byNo[no];
    if (f === undefined) {
      r.skip(wire, end);
      continue;
    }
    if (f.type === FieldType.MESSAGE) {
      if (wire !== 2) throw wrongWire(c, f, wire);
      const n = r.length(end);
      const sub = compile(f.message!());
      const stop = r.pos + n;
      if (f.oneof !== undefined) {
        const o = m[f.oneof] as { case?: string; value?: unknown };
        // A repeated case merges into the one before, as protobuf does.
        const into = o.case === f.name
          ? o.value as Record<string, unknown>
          : undefined;
        const value = readMessageInto(r, sub, stop, depth + 1, into);
        m[f.oneof] = { case: f.name, value };
      } else if (f.repeated) {
        (m[f.name] as unknown[]).push(readMessage(r, sub, stop, depth + 1));
      } else {
        m[f.name] = readMessageInto(
          r,
          sub,
          stop,
          depth + 1,
          m[f.name] as Record<string, unknown> | undefined,
        );
      }
      continue;
    }
    if (f.repeated) {
      const list = m[f.name] as unknown[];
      if (wire === 2 && PACKED.has(f.type)) {
        const n = r.length(end);
        const stop = r.pos + n;
        if (f.type === FieldType.UINT32) r.packedUint32(stop, list as number[]);
        else while (r.pos < stop) list.push(readScalar(r, f.type, stop));
      } else {
        if (wire !== wireOf(f.type)) throw wrongWire(c, f, wire);
        list.push(readScalar(r, f.type, end));
      }
      continue;
    }
    if (wire !== wireOf(f.type)) throw wrongWire(c, f, wire);
    const value = readScalar(r, f.type, end);
    if (f.oneof !== undefined) m[f.oneof] = { case: f.name, value };
    else m[f.name] = value;
  }
  if (r.pos !== end) throw new DecodeError("premature end of message");
  return m;
}

function readMessageInto(
  r: Reader,
  c: Compiled,
  end: number,
  depth: number,
  into: Record<string, unknown> | undefined,
): Record<string, unknown> {
  const fresh = readMessage(r, c, end, depth);
  if (into === undefined) return fresh;
  // Merge: set fields replace, lists append, messages merge (rare: a
  // field sent twice).
  for (const f of c.fields) {
    if (f.oneof !== undefined) continue;
    const a = into[f.name];
    const b = fresh[f.name];
    if (f.repeated) (a as unknown[]).push(...(b as unknown[]));
    else if (f.type === FieldType.MESSAGE) {
      if (b !== undefined) into[f.name] = b;
    } else if (!isDefault(f.type, b)) into[f.name] = b;
  }
  for (const o of c.oneofs) {
    if ((fresh[o] as { case?: string }).case !== undefined) into[o] = fresh[o];
  }
  return into;
}

function wrongWire(c: Compiled, f: FieldSpec, wire: number): DecodeError {
  return new DecodeError(
    `${c.schema.typeName}.${f.name}: wire type ${wire} is not its type's`,
  );
}

/**
 * Decodes `bytes` as a `schema` message. Unknown fields are skipped;
 * bytes fields are views into `bytes`.
 *
 * @throws DecodeError for bytes that are not such a message.
 */
export function fromBinary<S extends DescMessage>(
  schema: S,
  bytes: Uint8Array,
): MessageShape<S> {
  const r = new Reader(bytes);
  return readMessage(
    r,
    compile(schema),
    bytes.length,
    0,
  ) as unknown as MessageShape<
    S
  >;
}

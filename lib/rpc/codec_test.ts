import { assertEquals, assertThrows } from "../../tests/_assert.ts";

function throwsExactly<E extends Error>(
  fn: () => unknown,
  ErrorClass: abstract new (...args: never[]) => E,
  message: string,
): void {
  assertEquals(assertThrows(fn, ErrorClass).message, message);
}
import {
  type AnyMessage,
  create,
  DecodeError,
  type DescMessage,
  type FieldSpec,
  FieldType,
  fromBinary,
  type MessageSchema,
  toBinary,
} from "./codec.ts";
import * as ours from "./gen/blit.ts";
import * as reference from "./gen/blit_pb.ts";
import * as pb from "../deps/protobuf.ts";
import { generate } from "./_gen_codec.ts";

Deno.test("gen/blit.ts is what _gen_codec.ts makes of blit.proto now (run `deno task proto` after editing it)", () => {
  const proto = Deno.readTextFileSync(
    new URL("../../proto/blit.proto", import.meta.url),
  );
  const current = Deno.readTextFileSync(
    new URL("./gen/blit.ts", import.meta.url),
  );
  assertEquals(generate(proto), current);
});

// A small deterministic generator (xorshift), so a failure reproduces.
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 0x100000000;
  };
}

const SAMPLE_CHARS = ["a", "Z", "/", " ", "é", "中", "😀", "\u0000", "."];

function randomScalar(type: number, r: () => number): unknown {
  const pick = r();
  switch (type) {
    case FieldType.STRING: {
      if (pick < 0.2) return "";
      const n = Math.floor(r() * (r() < 0.1 ? 300 : 12));
      let s = "";
      for (let i = 0; i < n; i++) {
        s += SAMPLE_CHARS[Math.floor(r() * SAMPLE_CHARS.length)];
      }
      return s;
    }
    case FieldType.BYTES: {
      if (pick < 0.2) return new Uint8Array(0);
      const n = Math.floor(r() * (r() < 0.1 ? 500 : 20));
      return Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
    }
    case FieldType.BOOL:
      return pick < 0.5;
    case FieldType.UINT32:
      return pick < 0.2
        ? 0
        : pick < 0.3
        ? 0xffffffff
        : Math.floor(r() * 2 ** (1 + Math.floor(r() * 32)));
    case FieldType.INT32:
    case FieldType.ENUM:
      return pick < 0.3 ? 0 : Math.floor(r() * 3);
    case FieldType.UINT64: {
      if (pick < 0.2) return 0n;
      if (pick < 0.3) return 2n ** 64n - 1n;
      const bits = 1 + Math.floor(r() * 64);
      return BigInt(Math.floor(r() * 2 ** 30)) <<
        BigInt(Math.max(0, bits - 30));
    }
    case FieldType.INT64: {
      if (pick < 0.2) return 0n;
      if (pick < 0.3) return -(2n ** 63n);
      if (pick < 0.4) return 2n ** 63n - 1n;
      const v = BigInt(Math.floor(r() * 2 ** 40));
      return pick < 0.7 ? v : -v;
    }
    case FieldType.DOUBLE:
      return pick < 0.2 ? 0 : pick < 0.25 ? -0 : (r() - 0.5) * 1e9;
  }
  throw new Error(`no generator for type ${type}`);
}

function randomValue(f: FieldSpec, r: () => number, depth: number): unknown {
  if (f.type === FieldType.MESSAGE) {
    return randomMessage(f.message!(), r, depth + 1);
  }
  return randomScalar(f.type, r);
}

function randomMessage(
  schema: MessageSchema,
  r: () => number,
  depth = 0,
): Record<string, unknown> {
  const init: Record<string, unknown> = {};
  const oneofs = new Map<string, FieldSpec[]>();
  for (const f of schema.fields) {
    if (f.oneof !== undefined) {
      oneofs.set(f.oneof, [...(oneofs.get(f.oneof) ?? []), f]);
      continue;
    }
    if (f.repeated) {
      const n = depth > 2 ? 0 : Math.floor(r() * 4);
      init[f.name] = Array.from({ length: n }, () => randomValue(f, r, depth));
    } else if (f.type === FieldType.MESSAGE) {
      if (depth < 3 && r() < 0.6) init[f.name] = randomValue(f, r, depth);
    } else if (r() < 0.8) {
      init[f.name] = randomValue(f, r, depth);
    }
  }
  for (const [name, cases] of oneofs) {
    if (r() < 0.15) continue;
    const f = cases[Math.floor(r() * cases.length)];
    init[name] = { case: f.name, value: randomValue(f, r, depth) };
  }
  return create(schema, init) as unknown as Record<string, unknown>;
}

/** A message as plain data, for comparing ours with protobuf-es's. */
function plain(value: unknown): unknown {
  if (typeof value === "bigint") return `${value}n`;
  if (value instanceof Uint8Array) return [...value];
  if (typeof value === "number" && Object.is(value, -0)) return "-0";
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === "object" && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (k === "$unknown") continue;
      if (v === undefined) continue;
      out[k] = plain(v);
    }
    return out;
  }
  return value;
}

const pairs: [string, MessageSchema, pb.DescMessage][] = Object.entries(ours)
  .filter(([name]) => name.endsWith("Schema"))
  .map(([name, schema]) => [
    name,
    schema as MessageSchema,
    (reference as unknown as Record<string, pb.DescMessage>)[name],
  ]);

Deno.test("every message type has a protobuf-es counterpart with the same fields", () => {
  assertEquals(pairs.length, reference.file_blit.messages.length);
  for (const [name, schema, desc] of pairs) {
    assertEquals(schema.typeName, desc.typeName, name);
    assertEquals(
      schema.fields.map((f) => [f.no, f.name, f.oneof ?? null]),
      desc.fields.map((
        f,
      ) => [f.number, f.localName, f.oneof?.localName ?? null]),
      name,
    );
  }
});

Deno.test("ours and protobuf-es agree on every message, both ways, byte for byte (random messages)", () => {
  const r = rng(20261204);
  let checked = 0;
  for (const [name, schema, desc] of pairs) {
    for (let i = 0; i < 60; i++) {
      const message = randomMessage(schema, r);
      const bytes = toBinary(
        schema as DescMessage,
        message as unknown as AnyMessage,
      );
      // protobuf-es reads our bytes as the same message...
      const theirs = pb.fromBinary(desc, bytes);
      assertEquals(plain(theirs), plain(message), `${name} #${i}`);
      // ...writes the same bytes for it...
      assertEquals([...pb.toBinary(desc, theirs)], [...bytes], `${name} #${i}`);
      // ...and we read its bytes back as the same message.
      assertEquals(
        plain(fromBinary(schema as DescMessage, pb.toBinary(desc, theirs))),
        plain(message),
        `${name} #${i}`,
      );
      checked++;
    }
  }
  assertEquals(checked, pairs.length * 60);
});

Deno.test("packed uint32 lists: every varint length, both ways, as protobuf-es; cut or overlong bodies refused", () => {
  const lengths = [
    0,
    1,
    127,
    128,
    16383,
    16384,
    2097151,
    2097152,
    268435455,
    268435456,
    0xffffffff,
    5000,
  ];
  const message = create(ours.BasisOfferSchema, { path: "f", lengths });
  const bytes = toBinary(ours.BasisOfferSchema, message);
  const desc = reference.BasisOfferSchema as unknown as pb.DescMessage;
  const theirs = pb.fromBinary(desc, bytes) as unknown as { lengths: number[] };
  assertEquals(theirs.lengths, lengths);
  assertEquals([...pb.toBinary(desc, theirs as never)], [...bytes]);
  assertEquals(fromBinary(ours.BasisOfferSchema, bytes).lengths, lengths);
  // A sign-extended (ten-byte) varint in the list keeps its low 32 bits.
  const tenBytes = [...new Array(9).fill(0xff), 0x01];
  const packed = [0x2a, 2 + tenBytes.length, 0x05, ...tenBytes, 0x07];
  assertEquals(
    fromBinary(ours.BasisOfferSchema, Uint8Array.from(packed)).lengths,
    [5, 0xffffffff, 7],
  );
  // A varint cut by the end of the packed body, at each of its bytes.
  for (const varint of [[0x80], [0x80, 0x80], [0x80, 0x80, 0x80]]) {
    throwsExactly(
      () =>
        fromBinary(
          ours.BasisOfferSchema,
          Uint8Array.from([0x2a, 1 + varint.length, 0x01, ...varint, 0x01]),
        ),
      DecodeError,
      "premature end of message",
    );
  }
  throwsExactly(
    () =>
      fromBinary(
        ours.BasisOfferSchema,
        Uint8Array.from([0x2a, 11, ...new Array(11).fill(0x80)]),
      ),
    DecodeError,
    "varint longer than ten bytes",
  );
});

Deno.test("create fills defaults, takes nested inits and messages as they are", () => {
  const header = create(ours.FileHeaderSchema);
  assertEquals(plain(header), {
    $typeName: "blit.v2.FileHeader",
    path: "",
    size: "0n",
    mtimeMs: "0n",
    mode: 0,
    kind: 0,
    linkTarget: "",
    hash: [],
    mtimeNs: 0,
  });
  const file = create(ours.FileHeaderSchema, { path: "a", size: 3n });
  const request = create(ours.ClientPushRequestSchema, {
    payload: { case: "file", value: file },
  });
  assertEquals(request.payload.case, "file");
  assertEquals(request.payload.value === file, true);
  const header2 = create(ours.PushHeaderSchema, {
    module: "m",
    options: { exclude: ["*.o"], streams: 4 },
  });
  assertEquals(header2.options?.$typeName, "blit.v2.TransferOptions");
  assertEquals(header2.options?.exclude, ["*.o"]);
  assertEquals(header2.options?.checksum, false);
  assertEquals(create(ours.PushHeaderSchema).options, undefined);
  assertEquals(create(ours.ClientPushRequestSchema).payload, {
    case: undefined,
  });
  throwsExactly(
    () =>
      create(ours.ClientPushRequestSchema, {
        payload: { case: "nope", value: {} },
      } as never),
    TypeError,
    'blit.v2.ClientPushRequest.payload has no case "nope"',
  );
});

Deno.test("fromBinary refuses what is not a message, and skips unknown fields", () => {
  const bytes = toBinary(
    ours.FileHeaderSchema,
    create(ours.FileHeaderSchema, { path: "dir/file", size: 1234567n }),
  );
  // Field 1 (path) is bytes 0-9; a cut anywhere else is inside a field.
  assertEquals(
    fromBinary(ours.FileHeaderSchema, bytes.subarray(0, 10)).size,
    0n,
  );
  for (let cut = 1; cut < bytes.length; cut++) {
    if (cut === 10) continue;
    throwsExactly(
      () => fromBinary(ours.FileHeaderSchema, bytes.subarray(0, cut)),
      DecodeError,
      "premature end of message",
    );
  }
  // path (field 1) sent as a varint: wrong wire type.
  throwsExactly(
    () => fromBinary(ours.FileHeaderSchema, Uint8Array.of(0x08, 0x01)),
    DecodeError,
    "blit.v2.FileHeader.path: wire type 0 is not its type's",
  );
  // An 11-byte varint.
  throwsExactly(
    () =>
      fromBinary(
        ours.DataAckSchema,
        Uint8Array.of(0x08, ...new Array(10).fill(0xff), 0x01),
      ),
    DecodeError,
    "varint longer than ten bytes",
  );
  throwsExactly(
    () => fromBinary(ours.DataAckSchema, Uint8Array.of(0x00, 0x01)),
    DecodeError,
    "field number 0",
  );
  throwsExactly(
    () => fromBinary(ours.DataAckSchema, Uint8Array.of(0x13)),
    DecodeError,
    "unsupported wire type 3",
  );
  // A length past the end.
  throwsExactly(
    () => fromBinary(ours.FileHeaderSchema, Uint8Array.of(0x0a, 0x7f, 0x61)),
    DecodeError,
    "premature end of message",
  );
  // Unknown fields of every wire type are skipped.
  const withUnknown = Uint8Array.of(
    ...bytes,
    0xf8,
    0x01,
    0x96,
    0x01, // field 31, varint
    0xf9,
    0x01,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8, // field 31, fixed64
    0xfa,
    0x01,
    0x02,
    0xaa,
    0xbb, // field 31, length-delimited
    0xfd,
    0x01,
    1,
    2,
    3,
    4, // field 31, fixed32
  );
  const back = fromBinary(ours.FileHeaderSchema, withUnknown);
  assertEquals(back.path, "dir/file");
  assertEquals(back.size, 1234567n);
});

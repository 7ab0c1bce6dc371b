// After `buf generate`: writes gen/blit.ts, the message types, enums,
// field tables and service that blit's own codec (codec.ts) runs on,
// from protobuf-es's descriptors of blit.proto (gen/blit_pb.ts) and the
// comments in proto/blit.proto. Run by `deno task proto`; a test checks
// gen/blit.ts is what this makes of the current descriptors.
import { file_blit } from "./gen/blit_pb.ts";
import type {
  DescEnum,
  DescField,
  DescMessage,
  DescOneof,
} from "../deps/protobuf.ts";

const SCALARS: Record<number, { code: string; ts: string }> = {
  1: { code: "DOUBLE", ts: "number" },
  3: { code: "INT64", ts: "bigint" },
  4: { code: "UINT64", ts: "bigint" },
  5: { code: "INT32", ts: "number" },
  8: { code: "BOOL", ts: "boolean" },
  9: { code: "STRING", ts: "string" },
  12: { code: "BYTES", ts: "Uint8Array" },
  13: { code: "UINT32", ts: "number" },
};

/** Leading `//` comments of declarations in a .proto file, by key. */
function protoComments(text: string): Map<string, string[]> {
  const comments = new Map<string, string[]>();
  const scope: string[] = [];
  let pending: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("//")) {
      pending.push(line.replace(/^\/\/ ?/, ""));
      continue;
    }
    const block = line.match(/^(message|enum|service|oneof)\s+(\w+)\s*\{/);
    const field = line.match(
      /^(?:repeated\s+)?[\w.]+\s+(\w+)\s*=\s*\d+\s*;/,
    );
    if (block) {
      const key = [...scope, block[2]].join(".");
      if (pending.length > 0) comments.set(key, pending);
      scope.push(block[2]);
    } else if (field) {
      const key = [...scope, field[1]].join(".");
      if (pending.length > 0) comments.set(key, pending);
    } else if (line.startsWith("}")) {
      scope.pop();
    }
    pending = [];
  }
  return comments;
}

function doc(lines: string[] | undefined, indent: string): string {
  if (!lines || lines.length === 0) return "";
  const body = lines.map((l) => `${indent} *${l ? " " + l : ""}`).join("\n");
  return `${indent}/**\n${body}\n${indent} */\n`;
}

function scalarOf(f: DescField): { code: string; ts: string } {
  const scalar = (f as { scalar?: number }).scalar;
  const known = scalar === undefined ? undefined : SCALARS[scalar];
  if (!known) {
    throw new Error(
      `${f.parent.typeName}.${f.name}: scalar type ${scalar} is not supported by lib/rpc/codec.ts`,
    );
  }
  return known;
}

function valueType(f: DescField): string {
  if (f.fieldKind === "message") return f.message.name;
  if (f.fieldKind === "enum") return f.enum.name;
  if (f.fieldKind === "scalar") return scalarOf(f).ts;
  if (f.fieldKind === "list") {
    if (f.listKind === "message") return `${f.message.name}[]`;
    if (f.listKind === "enum") return `${f.enum.name}[]`;
    return `${scalarOf(f).ts}[]`;
  }
  throw new Error(`${f.parent.typeName}.${f.name}: maps are not supported`);
}

function fieldSpec(f: DescField): string {
  const parts = [`no: ${f.number}`, `name: "${f.localName}"`];
  let message: string | undefined;
  if (f.fieldKind === "message") {
    parts.push("type: T.MESSAGE");
    message = f.message.name;
  } else if (f.fieldKind === "enum") parts.push("type: T.ENUM");
  else if (f.fieldKind === "scalar") parts.push(`type: T.${scalarOf(f).code}`);
  else if (f.fieldKind === "list") {
    if (f.listKind === "message") {
      parts.push("type: T.MESSAGE");
      message = f.message.name;
    } else if (f.listKind === "enum") parts.push("type: T.ENUM");
    else parts.push(`type: T.${scalarOf(f).code}`);
    parts.push("repeated: true");
  } else {
    throw new Error(`${f.parent.typeName}.${f.name}: maps are not supported`);
  }
  if (f.oneof) parts.push(`oneof: "${f.oneof.localName}"`);
  if (message) parts.push(`message: () => ${message}Schema`);
  return `{ ${parts.join(", ")} }`;
}

function enumCode(e: DescEnum, comments: Map<string, string[]>): string {
  const values = e.values.map((v) =>
    `${
      doc(comments.get(`${e.name}.${v.name}`), "  ")
    }  ${v.localName} = ${v.number},`
  ).join("\n");
  return `${
    doc(comments.get(e.name) ?? [`The ${e.typeName} enum.`], "")
  }export enum ${e.name} {\n${values}\n}\n`;
}

function messageCode(m: DescMessage, comments: Map<string, string[]>): string {
  const lines: string[] = [];
  const oneofsDone = new Set<DescOneof>();
  for (const f of m.fields) {
    if (f.oneof) {
      if (oneofsDone.has(f.oneof)) continue;
      oneofsDone.add(f.oneof);
      const cases = f.oneof.fields.map((c) =>
        `    | { case: "${c.localName}"; value: ${valueType(c)} }`
      );
      lines.push(
        `${
          doc(
            comments.get(`${m.name}.${f.oneof.name}`) ??
              [`One of: ${f.oneof.fields.map((c) => c.localName).join(", ")}.`],
            "  ",
          )
        }  ${f.oneof.localName}:\n${
          cases.join("\n")
        }\n    | { case: undefined; value?: undefined };`,
      );
      continue;
    }
    const optional = f.fieldKind === "message" ? "?" : "";
    lines.push(
      `${
        doc(comments.get(`${m.name}.${f.name}`), "  ")
      }  ${f.localName}${optional}: ${valueType(f)};`,
    );
  }
  const type = `${
    doc(comments.get(m.name) ?? [`The ${m.typeName} message.`], "")
  }export interface ${m.name} {\n  /** The message's type name. */\n  readonly $typeName: "${m.typeName}";\n${
    lines.join("\n")
  }\n}\n`;
  const schema =
    `/** The fields of {@linkcode ${m.name}}. */\nexport const ${m.name}Schema: MessageSchema<${m.name}> = {\n  typeName: "${m.typeName}",\n  fields: [${
      m.fields.length === 0
        ? ""
        : "\n" + m.fields.map((f) => `    ${fieldSpec(f)},`).join("\n") + "\n  "
    }],\n};\n`;
  return `${type}\n${schema}`;
}

/** gen/blit.ts as the current descriptors and comments make it. */
export function generate(protoText: string): string {
  const comments = protoComments(protoText);
  const out: string[] = [
    "// @generated by lib/rpc/_gen_codec.ts from blit.proto (deno task proto):",
    "// the control plane's message types and the tables lib/rpc/codec.ts",
    "// encodes them by. Do not edit.",
    "",
    "import {",
    "  FieldType as T,",
    "  type MessageSchema,",
    "  type MethodSchema,",
    "  type ServiceSchema,",
    '} from "../codec.ts";',
    "",
  ];
  for (const e of file_blit.enums) out.push(enumCode(e, comments));
  for (const m of file_blit.messages) out.push(messageCode(m, comments));
  for (const s of file_blit.services) {
    const methods = s.methods.map((m) =>
      `  ${m.localName}: {\n    localName: "${m.localName}",\n    name: "${m.name}",\n    methodKind: "${m.methodKind}",\n    input: ${m.input.name}Schema,\n    output: ${m.output.name}Schema,\n  },`
    );
    const types = s.methods.map((m) =>
      `  ${m.localName}: MethodSchema<typeof ${m.input.name}Schema, typeof ${m.output.name}Schema>;`
    );
    out.push(
      `/** The methods of the ${s.typeName} service. */\nexport type ${s.name}Methods = {\n${
        types.join("\n")
      }\n};\n`,
    );
    out.push(
      `const ${s.name}Method: ${s.name}Methods = {\n${
        methods.join("\n")
      }\n};\n`,
    );
    out.push(
      `${
        doc(comments.get(s.name) ?? [`The ${s.typeName} service.`], "")
      }export const ${s.name}: ServiceSchema<${s.name}Methods> = {\n  typeName: "${s.typeName}",\n  method: ${s.name}Method,\n  methods: Object.values(${s.name}Method),\n};\n`,
    );
  }
  return out.join("\n");
}

if (import.meta.main) {
  const proto = Deno.readTextFileSync(
    new URL("../../proto/blit.proto", import.meta.url),
  );
  Deno.writeTextFileSync(
    new URL("./gen/blit.ts", import.meta.url),
    generate(proto),
  );
}

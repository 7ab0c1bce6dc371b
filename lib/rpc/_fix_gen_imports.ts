// After `buf generate`: point the generated code's runtime imports at
// lib/deps/, where each npm version is pinned once (a bare specifier would
// resolve only inside this repository's import map).
const dir = new URL("./gen/", import.meta.url);
const rewrites: [string, string][] = [
  ['"@bufbuild/protobuf/codegenv2"', '"../../deps/protobuf_codegen.ts"'],
  ['"@bufbuild/protobuf"', '"../../deps/protobuf.ts"'],
];
for (const item of Deno.readDirSync(dir)) {
  if (!item.isFile || !item.name.endsWith(".ts")) continue;
  const url = new URL(item.name, dir);
  let text = Deno.readTextFileSync(url);
  for (const [from, to] of rewrites) text = text.replaceAll(from, to);
  Deno.writeTextFileSync(url, text);
}

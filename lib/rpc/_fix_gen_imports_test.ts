import { assertEquals } from "../../tests/_assert.ts";

Deno.test("the generated code imports protobuf through lib/deps (what _fix_gen_imports.ts makes of buf's output)", () => {
  const gen = new URL("./gen/", import.meta.url);
  let checked = 0;
  for (const item of Deno.readDirSync(gen)) {
    // buf's output (gen/blit.ts is _gen_codec.ts's and imports codec.ts).
    if (!item.name.endsWith("_pb.ts")) continue;
    const text = Deno.readTextFileSync(new URL(item.name, gen));
    assertEquals(text.includes('"@bufbuild/protobuf'), false, item.name);
    assertEquals(text.includes('"../../deps/protobuf'), true, item.name);
    checked++;
  }
  assertEquals(checked, 1);
});

import { assertEquals } from "../../tests/_assert.ts";

Deno.test("the generated code imports protobuf through lib/deps (what _fix_gen_imports.ts makes of buf's output)", () => {
  const gen = new URL("./gen/", import.meta.url);
  for (const item of Deno.readDirSync(gen)) {
    if (!item.name.endsWith(".ts")) continue;
    const text = Deno.readTextFileSync(new URL(item.name, gen));
    assertEquals(text.includes('"@bufbuild/protobuf'), false, item.name);
    assertEquals(text.includes('"../../deps/protobuf'), true, item.name);
  }
});

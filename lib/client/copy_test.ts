import { assertEquals, assertRejects } from "../../tests/_assert.ts";
import { UsageError } from "./address.ts";
import { copy } from "./copy.ts";

Deno.test("copy: a local tree as blit copy does it, then nothing; daemon to daemon is refused", async () => {
  const dir = Deno.realPathSync(Deno.makeTempDirSync());
  try {
    Deno.mkdirSync(`${dir}/src/d`, { recursive: true });
    Deno.writeTextFileSync(`${dir}/src/d/a`, "abc");
    const first = await copy(`${dir}/src`, `${dir}/dst`);
    assertEquals([first.filesTransferred, first.transport], [1, "local"]);
    assertEquals(Deno.readTextFileSync(`${dir}/dst/d/a`), "abc");
    const again = await copy(`${dir}/src`, `${dir}/dst`);
    assertEquals([again.filesTransferred, again.filesSkipped], [0, 1]);
    await assertRejects(
      () => copy("blit://h/m/a", "blit://h/n/b"),
      UsageError,
      /^copying from one daemon to another is not supported; pull then push$/,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

import { assert, assertEquals } from "../../tests/_assert.ts";
import { BOOT_ID_ENV, bootId, hostTag, isSameHost } from "./same_host.ts";

const ID = "2f0c8a51-7d1e-4b6a-9c3e-5a1b2c3d4e5f";

Deno.test("host tag: 16 random bytes and a SHA-256; told by the same id only, a new salt each time", async () => {
  const a = await hostTag(ID);
  const b = await hostTag(ID);
  assertEquals(a.length, 48);
  assert(a.some((x, i) => x !== b[i]), "two tags for one id are the same");
  assertEquals(await isSameHost(a, ID), true);
  assertEquals(await isSameHost(b, ID), true);
  assertEquals(await isSameHost(a, ID.toUpperCase()), false);
  assertEquals(await isSameHost(a, ""), false);
  // Any byte changed: no match.
  for (const at of [0, 15, 16, 47]) {
    const bent = a.slice();
    bent[at] ^= 1;
    assertEquals(await isSameHost(bent, ID), false, `byte ${at}`);
  }
  assertEquals(await isSameHost(a.subarray(0, 47), ID), false);
  assertEquals(await isSameHost(new Uint8Array(0), ID), false);
  assertEquals((await hostTag("")).length, 0);
});

Deno.test("boot id: this kernel's from /proc, the daemon's variable first", () => {
  const own = Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim();
  assertEquals(bootId(), own);
  Deno.env.set(BOOT_ID_ENV, ID);
  try {
    assertEquals(bootId(), ID);
  } finally {
    Deno.env.delete(BOOT_ID_ENV);
  }
  assertEquals(bootId(), own);
});

Deno.test("boot id: none where /proc may not be read, without a prompt", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const script = `${dir}/probe.ts`;
    await Deno.writeTextFile(
      script,
      `import { bootId } from "${
        new URL("./same_host.ts", import.meta.url).href
      }";\nconsole.log(String(bootId()));\n`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", `--allow-read=${dir}`, script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(new TextDecoder().decode(out.stderr), "");
    assertEquals(new TextDecoder().decode(out.stdout), "undefined\n");
    assertEquals(out.code, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

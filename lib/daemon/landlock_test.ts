import { assertEquals, assertMatch } from "../../tests/_assert.ts";
import { daemonRules } from "./landlock.ts";

Deno.test("daemonRules: modules by access, the state dir writable, runtime files read-only, nothing broad", () => {
  const rules = daemonRules(
    [{ path: "/srv/rw", readOnly: false }, { path: "/srv/ro", readOnly: true }],
    "/var/lib/blit",
    {
      execPath: "/usr/bin/deno",
      denoDir: "/root/.cache/deno",
      code: ["/opt/blit"],
      files: ["/etc/blit.jsonc"],
    },
  );
  const access = (path: string) => rules.find((r) => r.path === path)?.access;
  assertEquals(access("/srv/rw"), "write");
  assertEquals(access("/srv/ro"), "read");
  assertEquals(access("/var/lib/blit"), "write");
  assertEquals(access("/etc/blit.jsonc"), "read");
  assertEquals(access("/opt/blit"), "read");
  assertEquals(access("/root/.cache/deno"), "read");
  assertEquals(access("/dev/null"), "write");
  // Never the whole filesystem, a home directory or /tmp.
  for (const broad of ["/", "/root", "/home", "/tmp", "/etc"]) {
    assertEquals(access(broad), undefined, broad);
  }
  // Only the state directory, writable modules and /dev/null are writable.
  assertEquals(
    rules.filter((r) => r.access === "write").map((r) => r.path).sort(),
    ["/dev/null", "/srv/rw", "/var/lib/blit"],
  );
});

Deno.test({
  name:
    "confineSelf: a confined process (and what it starts) can't read or write outside its rules",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const dir = Deno.realPathSync(Deno.makeTempDirSync({ prefix: "blit-ll-" }));
    Deno.mkdirSync(`${dir}/allowed`);
    Deno.writeTextFileSync(`${dir}/secret`, "no");
    // In a child process: confinement can't be undone in this one.
    const script = `
      import { confineSelf } from ${
      JSON.stringify(new URL("./landlock.ts", import.meta.url).href)
    };
      import { findLibc } from ${
      JSON.stringify(new URL("../fs/_libc.ts", import.meta.url).href)
    };
      const r = confineSelf(findLibc(), [{ path: ${
      JSON.stringify(`${dir}/allowed`)
    }, access: "write" }]);
      const out = [];
      try { Deno.readTextFileSync(${
      JSON.stringify(`${dir}/secret`)
    }); out.push("read"); } catch (e) { out.push(e.name); }
      try { Deno.writeTextFileSync(${
      JSON.stringify(`${dir}/new`)
    }, "x"); out.push("wrote"); } catch (e) { out.push(e.name); }
      Deno.writeTextFileSync(${JSON.stringify(`${dir}/allowed/ok`)}, "x");
      console.log(r.abi > 0 ? "abi" : "none", out.join(","));
    `;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    const err = new TextDecoder().decode(out.stderr);
    try {
      if (/Landlock is not available/.test(err)) return; // old kernel
      assertEquals(out.code, 0, err);
      assertMatch(text, /^abi PermissionDenied,PermissionDenied\n$/);
      assertEquals(Deno.readTextFileSync(`${dir}/allowed/ok`), "x");
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

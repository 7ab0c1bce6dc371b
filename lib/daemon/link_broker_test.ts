import { assertEquals } from "../../tests/_assert.ts";
import { BROKER_MARK, serveLinkBroker } from "./link_broker.ts";
import type { ModuleConfig } from "./config.ts";

Deno.test("serveLinkBroker: makes a link inside a writable module for the sandboxed child; refuses one leaving it, and one in a read-only module", async () => {
  const dir = Deno.realPathSync(Deno.makeTempDirSync());
  // The broker walks the module (ContainedRoot), which moves the
  // process's working directory: put back before the module goes.
  const cwd = Deno.cwd();
  try {
    Deno.mkdirSync(`${dir}/m`);
    Deno.mkdirSync(`${dir}/ro`);
    const modules: ModuleConfig[] = [
      {
        name: "m",
        path: `${dir}/m`,
        readOnly: false,
        comment: "",
        mungeSymlinks: true,
      },
      {
        name: "ro",
        path: `${dir}/ro`,
        readOnly: true,
        comment: "",
        mungeSymlinks: true,
      },
    ];
    const requests = [
      { id: 1, module: `${dir}/m`, path: "ok", target: "a" },
      { id: 2, module: `${dir}/m`, path: "out", target: "/etc" },
      { id: 3, module: `${dir}/ro`, path: "l", target: "a" },
    ].map((r) => BROKER_MARK + JSON.stringify(r)).join("\n");
    // The child: asks, then reports each answer on stderr.
    const script = `
      const enc = new TextEncoder();
      Deno.stdout.writeSync(enc.encode(${JSON.stringify(requests + "\n")}));
      let text = "";
      for await (const chunk of Deno.stdin.readable) {
        text += new TextDecoder().decode(chunk);
        if (text.split("\\n").length > 3) break;
      }
      Deno.stderr.writeSync(enc.encode(text));
    `;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["eval", script],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const [, stderr] = await Promise.all([
      serveLinkBroker(child, modules),
      new Response(child.stderr).text(),
      child.status,
    ]);
    const answers = stderr.trim().split("\n").map((line) => JSON.parse(line));
    assertEquals(answers[0], { id: 1 });
    assertEquals(answers[1], {
      id: 2,
      error: "Link target of out leaves the module",
    });
    assertEquals(answers[2], { id: 3, error: "Not a writable module" });
    assertEquals(Deno.readLinkSync(`${dir}/m/ok`), "a");
    assertEquals([...Deno.readDirSync(`${dir}/m`)].map((e) => e.name), ["ok"]);
    assertEquals([...Deno.readDirSync(`${dir}/ro`)], []);
  } finally {
    Deno.chdir(cwd);
    Deno.removeSync(dir, { recursive: true });
  }
});

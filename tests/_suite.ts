// `deno task test`: the whole suite (or the paths given), with TMPDIR
// pointed at an empty directory of its own. Afterwards that directory
// must be empty again: a test that leaves anything behind fails the run,
// which names what was left.
const targets = Deno.args.length > 0 ? Deno.args : [
  "tests/",
  "lib/",
  "tools/",
  "mod.ts",
  "internals.ts",
  "cli.ts",
  "daemon.ts",
];
const dir = Deno.makeTempDirSync({ prefix: "blit-suite-" });
let code = 1;
try {
  const status = await new Deno.Command(Deno.execPath(), {
    args: ["test", "--allow-all", "--doc", "--parallel", ...targets],
    env: { TMPDIR: dir },
    stdin: "null",
  }).spawn().status;
  code = status.code;
  const left = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  if (left.length > 0) {
    console.error(
      `blit test: the suite left ${left.length} entries in its temporary directory: ${
        left.slice(0, 10).join(", ")
      }${left.length > 10 ? ", ..." : ""}`,
    );
    code ||= 1;
  }
} finally {
  Deno.removeSync(dir, { recursive: true });
}
Deno.exit(code);

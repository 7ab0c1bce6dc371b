// The library as a user meets it: `deno doc mod.ts` (no warnings; every
// example imports from the package's public entry), and the overview's
// examples pasted into a program outside this repository.
import { assertEquals, assertMatch } from "./_assert.ts";
import { join } from "node:path";
import { REPO, runDeno } from "./_helpers.ts";

const denoDoc = (args: string[]) => runDeno(["doc", ...args], { cwd: REPO });

/** Every `@example` text under `node` (a `deno doc --json` tree). */
function examples(node: unknown, found: string[] = []): string[] {
  if (Array.isArray(node)) {
    for (const item of node) examples(item, found);
  } else if (node && typeof node === "object") {
    const record = node as Record<string, unknown>;
    if (record.kind === "example" && typeof record.doc === "string") {
      found.push(record.doc);
    }
    for (const value of Object.values(record)) examples(value, found);
  }
  return found;
}

/** The ```ts blocks of a doc text. */
function codeBlocks(doc: string): string[] {
  return [...doc.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
}

Deno.test("deno doc mod.ts: no warnings; a curated API; every example imports from @blit/cli/mod or @blit/cli/internals", async () => {
  const text = await denoDoc(["mod.ts"]);
  assertEquals(text.code, 0, text.stderr);
  assertEquals(text.stderr, "");
  const json = await denoDoc(["--json", "mod.ts"]);
  const parsed = JSON.parse(json.stdout);
  const mod = Object.values(parsed.nodes)[0] as {
    module_doc: { doc: string };
    symbols: { name: string }[];
  };
  const names = mod.symbols.map((s) => s.name);
  for (
    const wanted of [
      "copy",
      "pushRemote",
      "pullRemote",
      "serve",
      "enumerate",
      "NeedListStream",
      "ReceiveSink",
      "sendTree",
      "receiveTree",
    ]
  ) {
    assertEquals(names.includes(wanted), true, wanted);
  }
  // Internals stay out (they are in jsr:@blit/cli/internals).
  for (const internal of ["TokenIssuer", "encodeHello", "KernelTree"]) {
    assertEquals(names.includes(internal), false, internal);
  }
  const all = examples(mod.symbols);
  assertEquals(all.length > 20, true, `${all.length} examples`);
  for (const block of [...all, ...codeBlocks(mod.module_doc.doc)]) {
    for (const match of block.matchAll(/from\s+"([^"]+)"/g)) {
      assertMatch(match[1], /^@blit\/cli\/(mod|internals)$/, block);
    }
  }
});

Deno.test("the overview's examples run when pasted into a program outside the repository (import rewritten to the package)", async () => {
  const json = await denoDoc(["--json", "mod.ts"]);
  const mod = Object.values(JSON.parse(json.stdout).nodes)[0] as {
    module_doc: { doc: string };
  };
  const blocks = codeBlocks(mod.module_doc.doc);
  assertEquals(blocks.length, 4);
  const outside = await Deno.makeTempDir({ prefix: "blit-library-" });
  try {
    for (const [i, block] of blocks.entries()) {
      const program = join(outside, `example${i}.ts`);
      await Deno.writeTextFile(
        program,
        block.replaceAll(
          '"@blit/cli/mod"',
          JSON.stringify(new URL(`file://${REPO}/mod.ts`).href),
        ),
      );
      // No config of ours applies out there.
      const run = await runDeno(["run", "-A", program], {
        cwd: outside,
        env: { BLIT_DISABLE_PERF_HISTORY: "1" },
      });
      assertEquals(run.code, 0, `example ${i}: ${run.stderr}`);
    }
  } finally {
    await Deno.remove(outside, { recursive: true });
  }
});

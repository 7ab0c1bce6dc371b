// The progress bar as a user sees it: the real CLI under a pseudo-terminal
// (`script`), pushing to a real daemon over the TCP data plane.
import { assertEquals, assertMatch } from "./_assert.ts";
import { REPO } from "./_helpers.ts";
import { startDaemon } from "./_daemon.ts";

const MiB = 1 << 20;

function quote(arg: string): string {
  return `'${arg.replaceAll("'", "'\\''")}'`;
}

Deno.test({
  name:
    "progress under a terminal: scanning, an advancing file counter on a TCP push, ETA, then the summary on its own line",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const work = await Deno.makeTempDir({ prefix: "blit-progress-" });
    const src = `${work}/src`;
    const module = `${work}/module`;
    Deno.mkdirSync(src);
    Deno.mkdirSync(module);
    // Small files on both sides of a big one, and a link: 22 entries.
    for (let i = 0; i < 10; i++) {
      Deno.writeTextFileSync(`${src}/a${i}.txt`, `a${i}`);
      Deno.writeTextFileSync(`${src}/z${i}.txt`, `z${i}`);
    }
    const big = new Uint8Array(96 * MiB);
    for (let i = 0; i < big.length; i += 4096) big[i] = i & 0xff;
    Deno.writeFileSync(`${src}/m.bin`, big);
    Deno.symlinkSync("a0.txt", `${src}/link`);
    const daemon = await startDaemon({ modules: { m: { path: module } } });
    try {
      const command = [
        Deno.execPath(),
        "run",
        "--allow-all",
        `${REPO}/cli.ts`,
        "push",
        "--progress",
        "--bwlimit",
        "32M",
        `${src}/`,
        `${daemon.url}/m/`,
      ].map(quote).join(" ");
      const out = await new Deno.Command("script", {
        args: ["-qfec", command, "/dev/null"],
        env: {
          BLIT_DISABLE_PERF_HISTORY: "1",
          NO_COLOR: "1",
          TERM: "xterm",
        },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(out.stdout);
      assertEquals(out.code, 0, text);
      const frames = text.split("\r").map((f) => f.replace("\x1b[K", ""));
      const counts = frames.flatMap((f) => {
        const m = f.match(/\] +\d+% (\d+)\/22 files .* tcp/);
        return m ? [Number(m[1])] : [];
      });
      // The counter moves during the push (the daemon reports what landed).
      assertEquals(
        counts.some((n) => n > 0 && n < 22),
        true,
        `no advancing file counter in: ${JSON.stringify(frames.slice(0, 40))}`,
      );
      assertEquals(counts.every((n, i) => i === 0 || n >= counts[i - 1]), true);
      // A real time left while the big file goes.
      assertEquals(frames.some((f) => /ETA 0:0\d/.test(f)), true, text);
      // Cleared, then the summary alone on its line (stdout).
      const clear = "\r\x1b[K";
      const tail = text.slice(text.lastIndexOf(clear) + clear.length);
      assertMatch(
        tail,
        /^push: 22 files transferred \(96\.\d MiB\), 0 unchanged, via tcp, \d+ ms\r?\n$/,
      );
    } finally {
      await daemon.stop();
      await Deno.remove(work, { recursive: true });
    }
  },
});

// V8 heap settings of blit's processes: the daemon's and the CLI's.

/**
 * V8 heap settings for the daemon (its sandbox, and the `daemon` task): a
 * 4 MiB young generation and a 30% heap-growing
 * factor keep the garbage of a big manifest near the live data. Measured
 * on a 300,000-file push: peak RSS 231 -> 166 MiB (client) and 290 -> 187
 * MiB (daemon), time unchanged within noise; `--optimize-for-size` saved
 * more but made no-ops ~25% slower.
 */
export const V8_FLAGS =
  "--v8-flags=--max-semi-space-size=4,--heap-growing-percent=30";

/**
 * The same for the CLI (`deno task blit`, `deno task install`, `deno task
 * compile`, the benchmarks), with a 1 MiB young generation: a command is
 * a young process, and each page its young generation grows into is
 * touched for the first time (~13 us a page on the VMs measured here).
 * Interleaved against 4 MiB (loopback): 10,000 x 4 KiB push 651 -> 621 ms
 * (paired -25), its no-op 328 -> 304 (-22), ~1,100 fewer page faults;
 * 512 MiB pull -55; 100,000 x 1 B push +170-210 ms of ~3.8 s (its 65,536
 * entries in flight outlive a small young generation).
 *
 * And `--no-lazy`: every function is compiled with its module, so Deno's
 * code cache (written after a run that ends normally) holds all of them
 * (1.2 MB for the bundle, against 134 KB of top-level code otherwise);
 * a command then compiles nothing it runs, where it used to compile each
 * function on its first call, every run. Measured with a cache of each
 * kind, 41 pairs over a 1 Gbit/s veth link: Python's library with 10% of
 * its files changed, pushed -17.7 ms (client CPU -17.1), pulled -12.5
 * (-19.9); a no-op push -13.6; `blit list` +2.8; a first run with no
 * cache ~0-30 ms slower. (V8 does not take a cache made under other
 * flags.)
 */
export const CLIENT_V8_FLAGS =
  "--v8-flags=--max-semi-space-size=1,--heap-growing-percent=30,--no-lazy";

// A hostile local user: swaps two paths with renameat2(RENAME_EXCHANGE)
// in a tight loop until killed or `--ms` passes. Run as its own process
// so it races the daemon for real:
//   deno run -A tests/_swapper.ts --ms 3000 PATH_A PATH_B
// It prints "swapping" once it has swapped once, and its swap count at
// the end.
const args = [...Deno.args];
let ms = 5000;
if (args[0] === "--ms") {
  ms = Number(args[1]);
  args.splice(0, 2);
}
const [a, b] = args;
const libc = Deno.dlopen("libc.so.6", {
  renameat2: {
    parameters: ["i32", "buffer", "i32", "buffer", "u32"],
    result: "i32",
  },
});
const AT_FDCWD = -100;
const RENAME_EXCHANGE = 2;
const enc = new TextEncoder();
const pa = enc.encode(a + "\0");
const pb = enc.encode(b + "\0");
const end = Date.now() + ms;
let swaps = 0;
for (let i = 0; i < 100_000_000 && Date.now() < end; i++) {
  if (
    libc.symbols.renameat2(AT_FDCWD, pa, AT_FDCWD, pb, RENAME_EXCHANGE) === 0
  ) {
    if (swaps++ === 0) console.log("swapping");
  }
}
// An even number of swaps leaves both where they started.
if (swaps % 2 === 1) {
  libc.symbols.renameat2(AT_FDCWD, pa, AT_FDCWD, pb, RENAME_EXCHANGE);
  swaps++;
}
console.log(`swaps ${swaps}`);

import { assertEquals } from "../../tests/_assert.ts";
import {
  ContainmentError,
  descriptorOf,
  fileIdentity,
  joinRel,
  splitRel,
} from "./tree.ts";

Deno.test("joinRel and splitRel: tree-relative names, the top being empty", () => {
  assertEquals([joinRel("", "a"), joinRel("d", "a"), joinRel("d", "")], [
    "a",
    "d/a",
    "d",
  ]);
  assertEquals([splitRel("a"), splitRel("d/e/a")], [
    { dir: "", name: "a" },
    { dir: "d/e", name: "a" },
  ]);
});

Deno.test("fileIdentity tells inodes apart however they were reached; descriptorOf reads a handle's fd", () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/a`, "");
    Deno.writeTextFileSync(`${dir}/b`, "");
    Deno.linkSync(`${dir}/a`, `${dir}/hard`);
    const id = (p: string) => fileIdentity(Deno.lstatSync(p));
    assertEquals(id(`${dir}/a`), id(`${dir}/hard`));
    assertEquals(id(`${dir}/a`) === id(`${dir}/b`), false);
    assertEquals([
      descriptorOf({ fd: 7 }),
      descriptorOf({}),
      descriptorOf({ fd: -1 }),
    ], [7, undefined, undefined]);
    const error = new ContainmentError("a/b", "path changed while in use");
    assertEquals([error.name, error.path], ["ContainmentError", "a/b"]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

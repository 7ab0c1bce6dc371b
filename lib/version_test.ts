import { assertEquals } from "../tests/_assert.ts";
import { VERSION } from "./version.ts";

Deno.test("VERSION is the version deno.json publishes", () => {
  const config = JSON.parse(
    Deno.readTextFileSync(new URL("../deno.json", import.meta.url)),
  );
  assertEquals(VERSION, config.version);
});

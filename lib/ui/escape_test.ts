import { assertEquals } from "../../tests/_assert.ts";
import { escapeControls } from "./escape.ts";

Deno.test("escapeControls: every control character becomes visible, nothing else changes", () => {
  assertEquals(escapeControls("a\nb"), "a\\nb");
  assertEquals(escapeControls("\r\t"), "\\r\\t");
  assertEquals(escapeControls("\u001b]0;pwned\u0007"), "\\x1b]0;pwned\\x07");
  assertEquals(escapeControls("\u0000\u007f\u009b"), "\\x00\\x7f\\x9b");
  assertEquals(escapeControls("evil\u202etxt.exe"), "evil\\u{202e}txt.exe");
  assertEquals(escapeControls("naïve 名前 \\ ok"), "naïve 名前 \\ ok");
  assertEquals(escapeControls(""), "");
});

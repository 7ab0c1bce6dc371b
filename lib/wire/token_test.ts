import {
  assertEquals,
  assertRejects,
  assertThrows,
} from "../../tests/_assert.ts";
import { TokenError, TokenIssuer } from "./token.ts";

Deno.test("tokens: valid once, then refused; scope, audience, expiry, tampering", async () => {
  let now = 1_700_000_000_000;
  const issuer = new TokenIssuer({ ttlSeconds: 30, now: () => now });
  const token = await issuer.issue({
    sessionId: "s1",
    module: "photos",
    scope: "push",
  });
  const claims = await issuer.verify(token, {
    module: "photos",
    scope: "push",
  });
  assertEquals([
    claims.sessionId,
    claims.module,
    claims.scope,
    claims.nonce.length,
  ], ["s1", "photos", "push", 32]);
  assertEquals(claims.expiresAt, now + 30_000);
  await assertRejects(
    () => issuer.verify(token),
    TokenError,
    /^Token was already used$/,
  );

  const t2 = await issuer.issue({
    sessionId: "s2",
    module: "photos",
    scope: "pull",
  });
  await assertRejects(
    () => issuer.verify(t2, { scope: "push" }),
    TokenError,
    /^Token scope is wrong$/,
  );
  const t3 = await issuer.issue({
    sessionId: "s3",
    module: "photos",
    scope: "pull",
  });
  await assertRejects(
    () => issuer.verify(t3, { module: "other" }),
    TokenError,
    /^Token claim aud is wrong$/,
  );
  const t4 = await issuer.issue({
    sessionId: "s4",
    module: "photos",
    scope: "pull",
  });
  now += 31_000;
  await assertRejects(() => issuer.verify(t4), TokenError, /^Token expired$/);
  const t5 = await issuer.issue({
    sessionId: "s5",
    module: "photos",
    scope: "pull",
  });
  const [h, p, s] = t5.split(".");
  const forged = `${h}.${p}.${s.slice(0, -2)}${s.endsWith("AA") ? "BB" : "AA"}`;
  await assertRejects(
    () => issuer.verify(forged),
    TokenError,
    /^Token signature or format is invalid$/,
  );
  const other = new TokenIssuer();
  await assertRejects(() => other.verify(t5), TokenError, /signature/);
  await assertRejects(() => issuer.verify("garbage"), TokenError);
  assertThrows(
    () => new TokenIssuer({ ttlSeconds: 61 }),
    RangeError,
    /^ttlSeconds must be an integer 1-60, got 61$/,
  );
  assertThrows(
    () => new TokenIssuer({ ttlSeconds: 0 }),
    RangeError,
    /^ttlSeconds must be an integer 1-60, got 0$/,
  );
  assertThrows(
    () => new TokenIssuer({ key: new Uint8Array(8) }),
    RangeError,
    /32 bytes/,
  );
});

Deno.test("tokens: a burned nonce is forgotten after expiry, and the token stays dead", async () => {
  let now = 1_700_000_000_000;
  const issuer = new TokenIssuer({ ttlSeconds: 5, now: () => now });
  const token = await issuer.issue({
    sessionId: "s",
    module: "m",
    scope: "push",
  });
  await issuer.verify(token);
  now += 10_000;
  await assertRejects(
    () => issuer.verify(token),
    TokenError,
    /^Token expired$/,
  );
});

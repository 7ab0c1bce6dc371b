// One-time data-plane tokens: HS256 JWTs with a random nonce, burned on use.
// jose is loaded on first use: clients import this module (TokenError)
// but never sign or verify, and it costs ~20 ms of start-up.
const jose = () => import("../deps/jose.ts");

/** What a token allows. */
export type TokenScope = "push" | "pull";

/** Verified claims. */
export interface TokenClaims {
  /** The transfer the token opens. */
  sessionId: string;
  /** The module (the token's audience). */
  module: string;
  /** Push or pull. */
  scope: TokenScope;
  /** A random nonce: each token is accepted once. */
  nonce: string;
  /** Expiry, ms since the epoch. */
  expiresAt: number;
}

/** A token that is invalid, expired, for something else, or already used. */
export class TokenError extends Error {
  /** Why the token was refused. */
  constructor(message: string) {
    super(message);
    this.name = "TokenError";
  }
}

/** Options for {@linkcode TokenIssuer}. */
export interface TokenIssuerOptions {
  /** HMAC key (>= 32 bytes). Default: 32 random bytes. */
  key?: Uint8Array;
  /** Lifetime in seconds, 1-60. Default: 30. */
  ttlSeconds?: number;
  /** Clock, ms since the epoch. Default: Date.now. */
  now?: () => number;
}

function hex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

/**
 * Issues and verifies single-use data-plane tokens. Each daemon process
 * has its own random key, so tokens die with it.
 *
 * @example
 * ```ts
 * import { TokenIssuer } from "@blit/cli/internals";
 * const issuer = new TokenIssuer();
 * const token = await issuer.issue({ sessionId: "s", module: "m", scope: "push" });
 * const claims = await issuer.verify(token, { module: "m", scope: "push" });
 * if (!(claims.sessionId === "s")) throw new Error("example failed");
 * ```
 */
export class TokenIssuer {
  readonly #key: Uint8Array;
  readonly #ttl: number;
  readonly #now: () => number;
  /** Burned nonces -> expiry (ms), pruned once expired. */
  readonly #burned = new Map<string, number>();

  /** An issuer with a fresh random key. */
  constructor(options: TokenIssuerOptions = {}) {
    const ttl = options.ttlSeconds ?? 30;
    if (!Number.isInteger(ttl) || ttl <= 0 || ttl > 60) {
      throw new RangeError(`ttlSeconds must be an integer 1-60, got ${ttl}`);
    }
    const key = options.key ?? crypto.getRandomValues(new Uint8Array(32));
    if (key.length < 32) {
      throw new RangeError(`key must be at least 32 bytes, got ${key.length}`);
    }
    this.#key = key;
    this.#ttl = ttl;
    this.#now = options.now ?? Date.now;
  }

  /** Signs a token for one session. */
  async issue(
    claims: { sessionId: string; module: string; scope: TokenScope },
  ): Promise<string> {
    const now = Math.floor(this.#now() / 1000);
    const { SignJWT } = await jose();
    return await new SignJWT({ sid: claims.sessionId, scope: claims.scope })
      .setProtectedHeader({ alg: "HS256", typ: "JWT" })
      .setJti(hex(crypto.getRandomValues(new Uint8Array(16))))
      .setAudience(claims.module)
      .setIssuedAt(now)
      .setExpirationTime(now + this.#ttl)
      .sign(this.#key);
  }

  /**
   * Verifies signature, expiry, audience, scope and that the nonce is
   * unused, then burns the nonce.
   *
   * @throws {TokenError} for any failure.
   */
  async verify(
    token: string,
    expect: { module?: string; scope?: TokenScope } = {},
  ): Promise<TokenClaims> {
    this.#prune();
    const { errors: joseErrors, jwtVerify } = await jose();
    let payload;
    try {
      ({ payload } = await jwtVerify(token, this.#key, {
        algorithms: ["HS256"],
        audience: expect.module,
        currentDate: new Date(this.#now()),
        clockTolerance: 0,
      }));
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) {
        throw new TokenError("Token expired");
      }
      if (error instanceof joseErrors.JWTClaimValidationFailed) {
        throw new TokenError(`Token claim ${error.claim} is wrong`);
      }
      throw new TokenError("Token signature or format is invalid");
    }
    const { jti, sid, scope, aud, exp } = payload;
    if (typeof jti !== "string" || jti.length < 32) {
      throw new TokenError("Token has no nonce");
    }
    if (typeof sid !== "string" || (scope !== "push" && scope !== "pull")) {
      throw new TokenError("Token has no session or scope");
    }
    if (expect.scope && scope !== expect.scope) {
      throw new TokenError("Token scope is wrong");
    }
    if (typeof exp !== "number" || exp * 1000 - this.#now() > 61_000) {
      throw new TokenError("Token lifetime is too long");
    }
    if (this.#burned.has(jti)) throw new TokenError("Token was already used");
    this.#burned.set(jti, exp * 1000);
    return {
      sessionId: sid,
      module: typeof aud === "string" ? aud : String(aud?.[0] ?? ""),
      scope,
      nonce: jti,
      expiresAt: exp * 1000,
    };
  }

  #prune(): void {
    const now = this.#now();
    for (const [nonce, expiry] of this.#burned) {
      if (expiry < now - 1000) this.#burned.delete(nonce);
    }
  }
}

import { Elysia } from "elysia";
import { jwtVerify } from "jose";
import { createHmac, timingSafeEqual } from "node:crypto";
import { ApiError } from "./http";

export const USER_ID = /^[A-Za-z0-9_-]{1,64}$/;

const b64url = (buf: Buffer | string) => Buffer.from(buf).toString("base64url");

/** Mints an HS256 user token (scripts, tests, load generators and the dev-mode pages use it). */
export function signJwt(secret: string, sub: string, ttlSeconds = 3600, extra: Record<string, unknown> = {}): string {
  const head = b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const body = b64url(JSON.stringify({ sub, exp: Math.floor(Date.now() / 1000) + ttlSeconds, ...extra }));
  const sig = createHmac("sha256", secret).update(`${head}.${body}`).digest("base64url");
  return `${head}.${body}.${sig}`;
}

/** The longest a user token may still be valid: a shop hands out short-lived tokens, never forever ones. */
export const MAX_TOKEN_TTL_S = 30 * 24 * 3600;
/** Clock skew forgiven between the shop that signs and this server (exp and nbf). */
export const CLOCK_TOLERANCE_S = 5;

const PART = /^[A-Za-z0-9_-]+$/;

/**
 * One token, one spelling: each part must be base64url that decodes and re-encodes to itself.
 * Decoders skip characters outside the alphabet and ignore spare bits, so without this one signed
 * token has endless variants that all verify (and each would be a new cache entry).
 */
export function isCanonicalJwt(token: string): boolean {
  if (token.length > 4096) return false;
  const parts = token.split(".");
  if (parts.length !== 3) return false;
  for (const p of parts) if (!PART.test(p) || Buffer.from(p, "base64url").toString("base64url") !== p) return false;
  return true;
}

export type JwtOptions = { secret: string; issuer?: string; audience?: string };
type Claims = { sub: string; expMs: number };

/**
 * Verifies a user token with jose: HS256 only (never `none`, never an algorithm the token names),
 * `exp` required, in whole seconds and at most 30 days ahead, `nbf` honoured, `iss`/`aud` when
 * configured, a few seconds of clock tolerance. Returns the user id and when to stop trusting it.
 */
export function jwtVerifier(opts: JwtOptions) {
  // imported once: given raw bytes, jose would import the key again on every verification
  const key = crypto.subtle.importKey("raw", new TextEncoder().encode(opts.secret), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
  const options = {
    algorithms: ["HS256"],
    requiredClaims: ["exp", "sub"],
    clockTolerance: CLOCK_TOLERANCE_S,
    ...(opts.issuer ? { issuer: opts.issuer } : {}),
    ...(opts.audience ? { audience: opts.audience } : {}),
  };
  return async (token: string): Promise<Claims | null> => {
    if (!isCanonicalJwt(token)) return null;
    try {
      const { payload } = await jwtVerify(token, await key, options);
      const { sub, exp } = payload;
      if (typeof sub !== "string" || !USER_ID.test(sub)) return null;
      // jose takes any number: an exp in milliseconds or 1e308 would make a token that never expires
      if (!Number.isSafeInteger(exp) || exp! > Date.now() / 1000 + MAX_TOKEN_TTL_S + CLOCK_TOLERANCE_S) return null;
      return { sub, expMs: (exp! + CLOCK_TOLERANCE_S) * 1000 };
    } catch {
      return null;
    }
  };
}

const BEARER = /^Bearer ([^\s]+)$/i;

function bearer(header: string | null | undefined): string | null {
  if (!header) return null;
  const m = BEARER.exec(header.trim());
  return m ? m[1]! : null;
}

/** Constant-time check that a header carries `Bearer <secret>`. */
export function bearerIs(header: string | null | undefined, secret: Buffer): boolean {
  const given = Buffer.from(bearer(header) ?? "");
  return given.length === secret.length && given.length > 0 && timingSafeEqual(given, secret);
}

export type Auth = ReturnType<typeof createAuth>;

export type AuthOptions = JwtOptions & { adminToken: string; cacheSize?: number };

export function createAuth(opts: AuthOptions) {
  const adminBuf = Buffer.from(opts.adminToken);
  const verify = jwtVerifier(opts);
  const capacity = opts.cacheSize ?? 100_000;
  // A user sends the same token for enter, every poll and issue: verify it once and remember it until
  // it expires. Only tokens that verified get in (junk and forgeries never do). Two generations of at
  // most half the capacity each: a new token goes into the young one; when it is full it becomes the
  // old one and the previous old one is dropped whole. A token used while old moves back to the young
  // one, so no flood of other requests can push out a user who comes back at least once while half the
  // capacity of new tokens arrive — and every step is O(1) (an
  // eviction that walks a Map's deleted slots costs microseconds per request once the cache is full).
  const half = Math.max(1, Math.floor(capacity / 2));
  let young = new Map<string, Claims>();
  let old = new Map<string, Claims>();
  const remember = (token: string, claims: Claims) => {
    if (young.size >= half || young.size + old.size >= capacity) {
      old = young;
      young = new Map();
    }
    young.set(token, claims);
  };
  const cached = (token: string): string | null => {
    let hit = young.get(token);
    if (!hit) {
      hit = old.get(token);
      if (!hit) return null;
      // moved, not copied: the total stays within the capacity
      old.delete(token);
      young.set(token, hit);
    }
    if (hit.expMs <= Date.now()) {
      young.delete(token);
      return null;
    }
    return hit.sub;
  };
  const userOrNull = (header: string | null | undefined): string | null => {
    if (!header) return null;
    // the usual spelling is looked up as it is; only what is cached was ever verified
    const fast = header.startsWith("Bearer ") ? cached(header.slice(7)) : null;
    if (fast !== null) return fast;
    const token = bearer(header);
    return token ? cached(token) : null;
  };

  /** Throws a 401 unless the header carries the admin token. */
  const admin = (header: string | null | undefined): void => {
    if (!bearerIs(header, adminBuf)) throw new ApiError(401, "unauthorized", "admin token required");
  };

  return {
    /**
     * Verifies the request's bearer token (once per token) so that `user()` can answer from memory.
     * Runs as a hook before every handler (`authentication` below); async only on a cache miss.
     */
    async authenticate(header: string | null | undefined): Promise<void> {
      if (userOrNull(header) !== null) return;
      const token = bearer(header);
      if (!token) return;
      const claims = await verify(token);
      if (claims) remember(token, claims);
    },
    userOrNull,
    /** The user id behind `Authorization: Bearer <jwt>` (verified by `authenticate`), or a 401. */
    user(header: string | null | undefined): string {
      const sub = userOrNull(header);
      if (!sub) throw new ApiError(401, "unauthorized", bearer(header) ? "invalid or expired token" : "missing bearer token");
      return sub;
    },
    admin,
    /** `admin` as a transform hook: it runs on the matched route, before params, query or body are validated. */
    adminHook: ({ request }: { request: Request }) => admin(request.headers.get("authorization")),
    /** How many verified tokens are held (tests check the bound). */
    cacheSize: () => young.size + old.size,
    isCached: (token: string) => young.has(token) || old.has(token),
  };
}

/** Puts `auth.authenticate` in front of every route registered after it. */
export const authentication = (auth: Auth) =>
  new Elysia({ name: "authentication" }).onTransform({ as: "global" }, async ({ request }) => auth.authenticate(request.headers.get("authorization")));

/**
 * Wrap every admin route in this guard: the admin token is checked on the matched route (whatever
 * the Host header or URL form said), before its params, query or body are looked at.
 */
export const adminGuard = (auth: Auth) => ({ transform: auth.adminHook });

/**
 * Fails the start if any /admin/ route was mounted outside the admin guard: authorization belongs to
 * the matched route, so a route without the guard would be open to anyone.
 */
export function assertAdminGuarded(routes: { method: string; path: string; hooks: { transform?: unknown } }[], auth: Auth) {
  for (const r of routes) {
    if (!r.path.startsWith("/admin/")) continue;
    const transforms = [r.hooks.transform ?? []].flat() as unknown[];
    if (!transforms.some((h) => h === auth.adminHook || (h as { fn?: unknown })?.fn === auth.adminHook)) throw new Error(`${r.method} ${r.path} is not behind the admin guard`);
  }
}

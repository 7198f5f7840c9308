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

/**
 * Returns the user id of a valid token, or null. Only HS256 is accepted (never `none`, never an
 * algorithm named by the token itself), the signature is compared in constant time, `exp` is required.
 */
export function verifyJwt(secret: string, token: string, nowMs = Date.now()): string | null {
  return verifyJwtClaims(secret, token, nowMs)?.sub ?? null;
}

/** verifyJwt, also returning when the token expires (ms). */
function verifyJwtClaims(secret: string, token: string, nowMs = Date.now()): { sub: string; expMs: number } | null {
  if (token.length > 4096) return null;
  const parts = token.split(".");
  if (parts.length !== 3) return null;
  const [head, body, sig] = parts as [string, string, string];
  const expected = createHmac("sha256", secret).update(`${head}.${body}`).digest();
  const given = Buffer.from(sig, "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null;
  try {
    const h = JSON.parse(Buffer.from(head, "base64url").toString("utf8"));
    if (h?.alg !== "HS256") return null;
    const p = JSON.parse(Buffer.from(body, "base64url").toString("utf8"));
    if (typeof p?.sub !== "string" || !USER_ID.test(p.sub)) return null;
    if (typeof p.exp !== "number" || !Number.isFinite(p.exp) || p.exp * 1000 <= nowMs) return null;
    return { sub: p.sub, expMs: p.exp * 1000 };
  } catch {
    return null;
  }
}

function bearer(header: string | null | undefined): string | null {
  if (!header) return null;
  const m = /^Bearer ([^\s]+)$/i.exec(header.trim());
  return m ? m[1]! : null;
}

export type Auth = ReturnType<typeof createAuth>;

export function createAuth(jwtSecret: string, adminToken: string) {
  const adminBuf = Buffer.from(adminToken);
  // A user sends the same token for enter, every poll and issue: remember verified tokens (until they
  // expire) so the HMAC runs once per token, not once per request. Bounded: cleared when full.
  const verified = new Map<string, { sub: string; expMs: number }>();
  const userOrNull = (header: string | null | undefined): string | null => {
    const token = bearer(header);
    if (!token) return null;
    const hit = verified.get(token);
    if (hit) {
      if (hit.expMs > Date.now()) return hit.sub;
      verified.delete(token);
      return null;
    }
    const claims = verifyJwtClaims(jwtSecret, token);
    if (!claims) return null;
    if (verified.size >= 100_000) verified.clear();
    verified.set(token, claims);
    return claims.sub;
  };
  return {
    userOrNull,
    /** The user id behind `Authorization: Bearer <jwt>`, or a 401. */
    user(header: string | null | undefined): string {
      const sub = userOrNull(header);
      if (!sub) throw new ApiError(401, "unauthorized", bearer(header) ? "invalid or expired token" : "missing bearer token");
      return sub;
    },
    /** Throws a 401 unless the header carries the admin token. */
    admin(header: string | null | undefined): void {
      const token = bearer(header);
      const given = Buffer.from(token ?? "");
      if (!token || given.length !== adminBuf.length || !timingSafeEqual(given, adminBuf))
        throw new ApiError(401, "unauthorized", "admin token required");
    },
  };
}

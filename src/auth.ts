import { Elysia } from "elysia";
import { UnsecuredJWT } from "jose";
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
  for (const p of parts) if (!PART.test(p) || !canonicalTail(p)) return false;
  return true;
}

const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/**
 * Whether unpadded base64url (alphabet already checked) decodes and re-encodes to itself: its length
 * is not 1 mod 4 (a lone character carries no whole byte) and the spare low bits of its last
 * character are zero (4 of them after 2 characters of a group, 2 after 3). The same answer as a
 * decode and re-encode, without either (on every never-seen token).
 */
function canonicalTail(p: string): boolean {
  const rest = p.length % 4;
  if (rest === 0) return true;
  if (rest === 1) return false;
  return B64URL.indexOf(p[p.length - 1]!) % (rest === 2 ? 16 : 4) === 0;
}

export type JwtOptions = { secret: string; issuer?: string; audience?: string };
type Claims = { sub: string; expMs: number };

const NONE_HEADER = Buffer.from(JSON.stringify({ alg: "none" })).toString("base64url");

/**
 * The signature check of every HS256 token this server takes (user tokens, waiting tickets), before
 * jose reads its claims: one canonical spelling, a header that is a JSON object with `alg` HS256 and
 * no `crit` (as jose's `jwtVerify` checks it: jose recognises no `crit` a JWT may carry), and the HMAC
 * compared in constant time. Synchronous: node:crypto's HMAC, where jose's WebCrypto verification
 * cost ~11 µs of CPU and an async hop per never-seen token. Returns the header, or null.
 */
export function hs256Header(token: string, key: Buffer): Record<string, unknown> | null {
  if (!isCanonicalJwt(token)) return null;
  const dot = token.indexOf(".");
  const last = token.lastIndexOf(".");
  const h = acceptedHeader(token.slice(0, dot));
  if (!h) return null;
  const given = Buffer.from(token.slice(last + 1), "base64url");
  const expected = createHmac("sha256", key).update(token.slice(0, last)).digest();
  return given.length === expected.length && timingSafeEqual(given, expected) ? h : null;
}

// Nearly every token carries the same header segment: its verdict is kept (a few shapes at most,
// so headers made up to fill it cost a clear, not memory).
const HEADERS_KEPT = 16;
const headerVerdicts = new Map<string, Record<string, unknown> | null>();

/** The header as JSON, if it is an object with `alg` HS256 and no `crit`; else null. */
function acceptedHeader(segment: string): Record<string, unknown> | null {
  const known = headerVerdicts.get(segment);
  if (known !== undefined) return known;
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(segment, "base64url").toString("utf8"));
  } catch {
    header = null;
  }
  const h = typeof header === "object" && header !== null && !Array.isArray(header) ? (header as Record<string, unknown>) : null;
  const verdict = h && h.alg === "HS256" && h.crit === undefined ? Object.freeze(h) : null;
  if (headerVerdicts.size >= HEADERS_KEPT) headerVerdicts.clear();
  headerVerdicts.set(segment, verdict);
  return verdict;
}

/**
 * The payload of a token whose signature `hs256Header` accepted, behind an `alg: none` header:
 * jose's `UnsecuredJWT.decode` runs the same claim checks on it as `jwtVerify` would on the signed token.
 */
export const unsignedCopy = (token: string) => `${NONE_HEADER}.${token.slice(token.indexOf(".") + 1, token.lastIndexOf("."))}.`;

/**
 * Verifies a user token: HS256 only (never `none`, never an algorithm the token names), `exp`
 * required, in whole seconds and at most 30 days ahead, `nbf` honoured, `iss`/`aud` when configured,
 * a few seconds of clock tolerance. Returns the user id and when to stop trusting it. Synchronous:
 * the signature is `hs256Header`'s; only a token whose signature holds goes on to jose, which
 * validates its claims.
 */
export function jwtVerifier(opts: JwtOptions) {
  const secret = Buffer.from(opts.secret);
  const options = {
    requiredClaims: ["exp", "sub"],
    clockTolerance: CLOCK_TOLERANCE_S,
    ...(opts.issuer ? { issuer: opts.issuer } : {}),
    ...(opts.audience ? { audience: opts.audience } : {}),
  };
  return (token: string): Claims | null => {
    if (!hs256Header(token, secret)) return null;
    try {
      const { payload } = UnsecuredJWT.decode(unsignedCopy(token), options);
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

/** Constant-time comparison of a presented secret with the real one. */
export function sameSecret(given: string | null | undefined, secret: Buffer): boolean {
  const g = Buffer.from(given ?? "");
  return g.length === secret.length && g.length > 0 && timingSafeEqual(g, secret);
}

/** Constant-time check that a header carries `Bearer <secret>`. */
export function bearerIs(header: string | null | undefined, secret: Buffer): boolean {
  const given = Buffer.from(bearer(header) ?? "");
  return given.length === secret.length && given.length > 0 && timingSafeEqual(given, secret);
}

/**
 * The guard of a service-to-service route (/internal/*): `Authorization: Bearer <INTERNAL_TOKEN>`,
 * never the admin token or an API key; hidden from the API docs. The router never forwards /internal.
 */
export function internalGuard(internalToken: string) {
  const token = Buffer.from(internalToken);
  return {
    transform: ({ request }: { request: Request }) => {
      if (!bearerIs(request.headers.get("authorization"), token)) throw new ApiError(401, "unauthorized", "the internal token is required");
    },
    detail: { hide: true },
  };
}

export type Auth = ReturnType<typeof createAuth>;

/**
 * What an API key may do (contract, "API keys"). ADMIN_TOKEN is the root key: every scope.
 * - events:read   list and read events, their winners, dead letters, history, webhook deliveries' state
 * - events:write  create, patch, pause/resume/close/cancel, restore, release-unaccounted, grants, dead-letter retry
 * - coupons:read  look a coupon up by its code
 * - coupons:redeem redeem and unredeem
 * - coupons:void  void a coupon
 * - webhooks      webhook deliveries and redelivery
 * - audit:read    the audit trail
 * - keys          create, list and revoke API keys (only with scopes the caller holds itself)
 */
export const SCOPES = ["events:read", "events:write", "coupons:read", "coupons:redeem", "coupons:void", "webhooks", "audit:read", "keys"] as const;
export type Scope = (typeof SCOPES)[number];
/**
 * The pseudo-scope of a split router's `/admin/*` wildcard: any valid credential passes the router
 * (lockout, rate limits and authentication happen there, where the client is), and the owner of the
 * route, which authenticates the same credential again, checks the route's real scope.
 */
export const FORWARDED = "forwarded" as const;
type DeclaredScope = Scope | typeof FORWARDED;

/** Where a route's scope is declared: in its `detail`, so the admin guard and the API docs read the same thing. */
export const SCOPE_KEY = "x-required-scope";

/**
 * Declares the scope an /admin/ route needs, next to its definition: spread it into the route's
 * `detail` (`detail: { ...needsScope("coupons:void"), operationId, summary }`). The admin guard
 * enforces it (a valid key without it: 403 forbidden), the API docs show it, and a process with an
 * /admin/ route that declares none does not start (assertAdminGuarded).
 */
export const needsScope = (scope: DeclaredScope) => ({ [SCOPE_KEY]: scope, security: [{ adminToken: [] }, { apiKey: [] }] as Record<string, string[]>[] });

/** Who is calling an admin route: `root` (ADMIN_TOKEN) or a named API key. */
export type Principal = { actor: string; keyId: number | null; scopes: ReadonlySet<Scope> };
const ROOT: Principal = Object.freeze({ actor: "root", keyId: null, scopes: new Set<Scope>(SCOPES) });

/** The API keys this process knows (modules/keys): a lookup from memory, no I/O per request. */
export type KeyLookup = { lookup(token: string): Principal | null; used(keyId: number): void };
/** Failed admin authentications per client address (modules/keys/lockout.ts). */
export type LockoutCheck = { lockedFor(ip: string): Promise<number>; failed(ip: string): Promise<number> };

export type AdminGateOptions = {
  keys?: KeyLookup;
  lockout?: LockoutCheck;
  /** the client of this request (its lockout and per-address limit): see src/ratelimit.ts */
  clientOf?: (request: Request, server: ServerLike) => Client;
  /** per-key and per-address buckets: seconds to wait, or 0 */
  limit?: (actor: string, client: Client) => number;
};
/**
 * Who sent a request: its address (from the socket, or TRUST_PROXY's X-Forwarded-For entry, or for
 * a request a router of this deployment forwarded, the address that router saw), whether it was
 * taken from a header, and whether a router in front has already applied the lockout and limits.
 */
export type Client = { ip: string; forwarded: boolean; upstreamChecked: boolean };
export type ServerLike = { requestIP(r: Request): { address: string } | null } | null | undefined;
type GateContext = { request: Request; route: string; server: ServerLike; set: { headers: Record<string, string | number> } };

export type AuthOptions = JwtOptions & { adminToken: string; cacheSize?: number } & AdminGateOptions;

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

  /** Root for the admin token, the key's principal for a valid API key, else null (constant time for the token). */
  const principalOf = (header: string | null | undefined): Principal | null => {
    if (bearerIs(header, adminBuf)) return ROOT;
    const token = bearer(header);
    return token && opts.keys ? opts.keys.lookup(token) : null;
  };

  // the scope of each /admin/ route, "METHOD path" -> scope, read from the routes' declarations at start (assertAdminGuarded)
  const routeScopes = new Map<string, DeclaredScope>();
  const principals = new WeakMap<Request, Principal>();
  const tooMany = (set: GateContext["set"], seconds: number, message: string) => {
    const retryAfter = Math.max(1, Math.ceil(seconds));
    set.headers["retry-after"] = String(retryAfter);
    return new ApiError(429, "rate_limited", message, { retryAfter });
  };

  /**
   * The admin guard, on the matched route before its params, query or body are looked at: an
   * address locked out for failed authentications gets 429 whatever it sends; then the credential
   * (401 unless root or a live key, counted as a failure), the per-key and per-address limits (429),
   * and the route's declared scope (403). A route whose scope was never declared is root's only.
   */
  const adminHook = async ({ request, route, server, set }: GateContext): Promise<void> => {
    const client = opts.clientOf?.(request, server) ?? { ip: "unknown", forwarded: false, upstreamChecked: false };
    const { ip, upstreamChecked } = client;
    // a router in front has checked the address already (the owner sees only what it let through)
    const locked = upstreamChecked || !opts.lockout ? 0 : await opts.lockout.lockedFor(ip);
    if (locked > 0) throw tooMany(set, locked / 1000, "too many failed admin authentications from this address");
    const credential = request.headers.get("authorization");
    const who = principalOf(credential);
    if (!who) {
      // A guess (any credential that is not one) is counted before its 401 goes out: of a burst of
      // parallel guesses only the allowed number get an answer. A request with no credential guesses nothing.
      const nowLocked = upstreamChecked || !opts.lockout || !credential ? 0 : await opts.lockout.failed(ip);
      if (nowLocked > 0) throw tooMany(set, nowLocked / 1000, "too many failed admin authentications from this address");
      throw new ApiError(401, "unauthorized", "an admin token or API key is required");
    }
    const wait = upstreamChecked ? 0 : (opts.limit?.(who.actor, client) ?? 0);
    if (wait > 0) throw tooMany(set, wait, "too many admin requests from this key or address; slow down");
    const method = request.method === "HEAD" ? "GET" : request.method;
    const scope = routeScopes.get(`${method} ${route}`) ?? routeScopes.get(`ALL ${route}`);
    if (scope !== FORWARDED && !(scope && who.scopes.has(scope)) && who !== ROOT)
      throw new ApiError(403, "forbidden", scope ? `this key lacks the scope ${scope}` : "this route is for the admin token only");
    if (who.keyId !== null) opts.keys?.used(who.keyId);
    principals.set(request, who);
  };

  return {
    /**
     * Verifies the request's bearer token (once per token) so that `user()` can answer from memory.
     * Runs as a hook before every handler (`authentication` below), or in a handler that answers
     * public facts first (the enter route); synchronous.
     */
    authenticate(header: string | null | undefined): void {
      if (userOrNull(header) !== null) return;
      const token = bearer(header);
      if (!token) return;
      const claims = verify(token);
      if (claims) remember(token, claims);
    },
    userOrNull,
    /** The user id behind `Authorization: Bearer <jwt>` (verified by `authenticate`), or a 401. */
    user(header: string | null | undefined): string {
      const sub = userOrNull(header);
      if (!sub) throw new ApiError(401, "unauthorized", bearer(header) ? "invalid or expired token" : "missing bearer token");
      return sub;
    },
    principalOf,
    /** Who made this admin request (set by the admin guard), or null outside admin routes. */
    principal: (request: Request): Principal | null => principals.get(request) ?? null,
    /** The admin guard as a transform hook: it runs on the matched route, before params, query or body are validated. */
    adminHook,
    routeScopes,
    /** How many verified tokens are held (tests check the bound). */
    cacheSize: () => young.size + old.size,
    isCached: (token: string) => young.has(token) || old.has(token),
  };
}

/**
 * Routes that verify the user's token themselves, or need none: the public event, and enter, which
 * answers the public facts (no such event, not open, sold out, a full line) before it verifies the
 * token (contract, "Hardening"): most of a flash crowd's requests are such refusals.
 */
export const SELF_AUTHENTICATED = new Set(["/api/events/:id", "/api/events/:id/enter"]);

/** Puts `auth.authenticate` in front of every route registered after it (but those in SELF_AUTHENTICATED). */
export const authentication = (auth: Pick<Auth, "authenticate">) =>
  new Elysia({ name: "authentication" }).onTransform({ as: "global" }, ({ request, route }) => {
    if (!SELF_AUTHENTICATED.has(route)) auth.authenticate(request.headers.get("authorization"));
  });

/**
 * Wrap every admin route in this guard: the credential, lockout, limits and the route's declared
 * scope are checked on the matched route (whatever the Host header or URL form said), before its
 * params, query or body are looked at.
 */
export const adminGuard = (auth: Auth) => ({ transform: auth.adminHook });

type RouteLike = { method: string; path: string; hooks: { transform?: unknown; detail?: unknown } };

/**
 * Fails the start if any /admin/ route was mounted outside the admin guard (it would be open to
 * anyone) or declares no scope (needsScope); records each route's scope for the guard.
 */
export function assertAdminGuarded(routes: RouteLike[], auth: Auth) {
  for (const r of routes) {
    if (!r.path.startsWith("/admin/")) continue;
    const transforms = [r.hooks.transform ?? []].flat() as unknown[];
    if (!transforms.some((h) => h === auth.adminHook || (h as { fn?: unknown })?.fn === auth.adminHook)) throw new Error(`${r.method} ${r.path} is not behind the admin guard`);
    const scope = (r.hooks.detail as Record<string, unknown> | undefined)?.[SCOPE_KEY];
    if (scope !== FORWARDED && !(SCOPES as readonly unknown[]).includes(scope)) throw new Error(`${r.method} ${r.path} declares no scope (detail: { ...needsScope("…") })`);
    auth.routeScopes.set(`${r.method} ${r.path}`, scope as DeclaredScope);
  }
}

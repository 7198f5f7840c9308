import { withHeaders } from "@elysiajs/openapi";
import { Type } from "@sinclair/typebox";
import { Elysia, t } from "elysia";
import { sameSecret, type Auth, type Client, type ServerLike } from "./auth";
import { errorBody } from "./http";

type Bucket = { tokens: number; at: number };

/** Token buckets in memory: per process, no Redis round trip on the hot path. */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private sweepAt = 0;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
  ) {}

  /** Takes one token; returns 0 if allowed, else the seconds until one is available. */
  take(key: string, now = performance.now()): number {
    let b = this.buckets.get(key);
    if (!b) this.buckets.set(key, (b = { tokens: this.burst, at: now }));
    b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) / 1000) * this.perSecond);
    b.at = now;
    if (now > this.sweepAt) this.sweep(now);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return (1 - b.tokens) / this.perSecond;
  }

  // full buckets carry no information: forget them so the map stays the size of the active crowd
  private sweep(now: number) {
    this.sweepAt = now + 10_000;
    const full = (this.burst / this.perSecond) * 1000;
    for (const [k, b] of this.buckets) if (now - b.at > full) this.buckets.delete(k);
  }
}

/** Seconds a limited client waits before its next token: whole, rounded up, at least 1 (HTTP's Retry-After has no finer unit). */
export const retryAfterSeconds = (wait: number) => Math.max(1, Math.ceil(wait));

/** The 429 of the limited routes, with its Retry-After header (for their `response` and the API docs). */
export const RateLimited = withHeaders(
  t.Object(
    {
      error: t.Literal("rate_limited"),
      message: t.String(),
      retryAfter: Type.Integer({ minimum: 1, description: "seconds to wait before the next request (the same as Retry-After)" }),
    },
    { $id: "RateLimited", description: "`rate_limited`: too many requests from this user, key or address, or (admin routes) too many failed authentications from this address; retry after `retryAfter` seconds" },
  ),
  { "Retry-After": Type.Integer({ minimum: 1, description: "whole seconds, the same as the body's retryAfter" }) },
);

/**
 * Every user route is limited (per user and per address), by its pattern: whoever serves it, in one
 * process or through the router (whose forwarding wildcard `/api/*` is a user route too). Admin
 * routes have their own limits in the admin guard (adminLimiter, the lockout).
 */
export const isLimited = (route: string) => route.startsWith("/api/");
const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/;

export type RateLimitConfig = { userPerSec: number; userBurst: number; ipPerSec: number; ipBurst: number; limitLoopback: boolean; trustProxyHops: number; adminPerSec: number; adminBurst: number };

/**
 * The client's address. Behind `hops` trusted proxies it is the X-Forwarded-For entry that many
 * places from the right: the one the outermost trusted proxy appended. Everything left of it was
 * written by the client. A header with fewer entries did not come through the proxies: the socket's
 * peer is used then.
 */
export function clientIp(request: Request, peer: string | undefined, hops: number): { ip: string; forwarded: boolean } {
  if (hops > 0) {
    const entries = request.headers.get("x-forwarded-for")?.split(",");
    const ip = entries && entries.length >= hops ? entries[entries.length - hops]!.trim() : "";
    if (ip) return { ip: ip.slice(0, 64), forwarded: true };
  }
  return { ip: peer || "unknown", forwarded: false };
}

/**
 * A request a router of this deployment forwarded carries INTERNAL_TOKEN in this header and, in the
 * next, the client address the router found (its own TRUST_PROXY applied). Without the token both
 * are ignored: only a router can speak for a client.
 */
export const INTERNAL_HEADER = "x-internal-token";
export const CLIENT_HEADER = "x-client-ip";

/** Who sent a request (see Client): the forwarded client of a router of this deployment, else clientIp. */
export function clientResolver(hops: number, internalToken: string | undefined) {
  const internal = internalToken ? Buffer.from(internalToken) : null;
  return (request: Request, server: ServerLike): Client => {
    if (internal && sameSecret(request.headers.get(INTERNAL_HEADER), internal))
      return { ip: request.headers.get(CLIENT_HEADER)?.slice(0, 64) || "unknown", forwarded: true, upstreamChecked: true };
    return { ...clientIp(request, server?.requestIP(request)?.address, hops), upstreamChecked: false };
  };
}

/** The admin guard's limits: per API key (root included) and per client address (loopback exempt as on the user routes). */
export function adminLimiter(cfg: RateLimitConfig) {
  const keys = cfg.adminPerSec > 0 ? new TokenBuckets(cfg.adminPerSec, cfg.adminBurst) : null;
  const ips = cfg.ipPerSec > 0 ? new TokenBuckets(cfg.ipPerSec, cfg.ipBurst) : null;
  return (actor: string, c: Client): number => {
    const wait = ips && (c.forwarded || cfg.limitLoopback || !LOOPBACK.test(c.ip)) ? ips.take(c.ip) : 0;
    return wait || (keys ? keys.take(actor) : 0);
  };
}

/**
 * Per-user and per-IP limits on every user route, so one client cannot starve the rest: over the
 * limit is `429 {"error":"rate_limited","retryAfter":<s>}` with the same whole seconds in Retry-After. Loopback
 * clients are exempt from the per-IP limit unless RATE_LIMIT_LOOPBACK=on (load tests run there); an
 * address taken from X-Forwarded-For never is. The limit belongs to the matched route, so no Host
 * header or URL form can route a request around it.
 */
/** Answers a request with the 429 of the limited routes (Retry-After header and body). */
export function limited(set: { status?: number | string; headers: Record<string, string | number> }, wait: number) {
  const retryAfter = retryAfterSeconds(wait);
  set.status = 429;
  set.headers["retry-after"] = String(retryAfter);
  set.headers["content-type"] = "application/json";
  return errorBody("rate_limited", "too many requests; slow down", { retryAfter });
}

/** The per-user buckets (null: off), shared by the limiter below and the routes that know their user only in the handler. */
export const userBuckets = (cfg: RateLimitConfig) => (cfg.userPerSec > 0 ? new TokenBuckets(cfg.userPerSec, cfg.userBurst) : null);

/**
 * Per client address and per user on the limited routes, before the handler. A route that verifies
 * its token in the handler (SELF_AUTHENTICATED: enter answers public facts first) takes its user's
 * token from the same `users` buckets there, once it knows who it is.
 */
export const rateLimit = (cfg: RateLimitConfig, auth: Pick<Auth, "userOrNull">, users = userBuckets(cfg), deferred: ReadonlySet<string> = new Set()) => {
  const ips = cfg.ipPerSec > 0 ? new TokenBuckets(cfg.ipPerSec, cfg.ipBurst) : null;
  return new Elysia({ name: "rate-limit" }).onBeforeHandle({ as: "global" }, ({ request, route, server, set }) => {
    if (!isLimited(route)) return;
    let wait = 0;
    if (ips) {
      const { ip, forwarded } = clientIp(request, server?.requestIP(request)?.address, cfg.trustProxyHops);
      if (forwarded || cfg.limitLoopback || !LOOPBACK.test(ip)) wait = ips.take(ip);
    }
    if (!wait && users && !deferred.has(route)) {
      // invalid tokens are rejected by the route itself; only real users have a bucket
      const sub = auth.userOrNull(request.headers.get("authorization"));
      if (sub) wait = users.take(sub);
    }
    if (wait) return limited(set, wait);
  });
};

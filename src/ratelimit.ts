import { Elysia } from "elysia";
import type { Auth } from "./auth";
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

const LIMITED = /^\/api\/events\/[^/]+\/(enter|queue|issue)\/?$/;
const LOOPBACK = /^(127\.|::1$|::ffff:127\.)/;

export type RateLimitConfig = { userPerSec: number; userBurst: number; ipPerSec: number; ipBurst: number; limitLoopback: boolean; trustProxy: boolean };

/**
 * Per-user and per-IP limits on enter, poll and issue, so one client cannot starve the rest: over the
 * limit is `429 {"error":"rate_limited","retryAfter":<s>}` with a Retry-After header. Loopback
 * clients are exempt from the per-IP limit unless RATE_LIMIT_LOOPBACK=on (load tests run there).
 */
export const rateLimit = (cfg: RateLimitConfig, auth: Auth) => {
  const users = cfg.userPerSec > 0 ? new TokenBuckets(cfg.userPerSec, cfg.userBurst) : null;
  const ips = cfg.ipPerSec > 0 ? new TokenBuckets(cfg.ipPerSec, cfg.ipBurst) : null;
  return new Elysia({ name: "rate-limit" }).onBeforeHandle({ as: "global" }, ({ request, path, server, set }) => {
    if (!LIMITED.test(path)) return;
    let wait = 0;
    if (ips) {
      const fwd = cfg.trustProxy ? request.headers.get("x-forwarded-for")?.split(",")[0]?.trim() : undefined;
      const ip = fwd || server?.requestIP(request)?.address || "unknown";
      if (cfg.limitLoopback || !LOOPBACK.test(ip)) wait = ips.take(ip);
    }
    if (!wait && users) {
      // invalid tokens are rejected by the route itself; only real users have a bucket
      const sub = auth.userOrNull(request.headers.get("authorization"));
      if (sub) wait = users.take(sub);
    }
    if (!wait) return;
    const retryAfter = Math.max(0.001, Math.round(wait * 1000) / 1000);
    set.status = 429;
    set.headers["retry-after"] = String(Math.ceil(retryAfter));
    set.headers["content-type"] = "application/json";
    return errorBody("rate_limited", "too many requests; slow down", { retryAfter });
  });
};

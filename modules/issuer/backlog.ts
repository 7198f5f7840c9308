// The coupon role's bound on promises not yet in MySQL (issue #19, finding 1; ISSUE_BACKLOG_MAX_AGE_MS).
import { ApiError } from "../../src/http";
import { eventKeys, type RedisClient } from "../../src/redis";

// how long one look at an event's backlog is reused (issue requests never each cost a read)
const LOOK_MS = 500;

/**
 * Decides what the coupon role does while promises wait for MySQL (an outage, a stalled issuer): it
 * keeps selling until the oldest unpersisted promise of the event is `maxAgeMs` old, then refuses
 * issue with `503 unavailable` and `Retry-After` until the issuers catch up. Every promise rests on
 * Redis alone until an issuer reads it and on Redis and that issuer's memory until MySQL has it, so
 * the bound caps how much of an event can hang on them when things go wrong for long. The oldest
 * promise is the first entry of the event's stream (acknowledged entries are trimmed below every
 * pending one) or the oldest an issuer announces holding (after Redis lost it). 0 turns it off.
 */
export class BacklogBound {
  private readonly looks = new Map<number, { at: number; oldest: number }>();

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly maxAgeMs: number,
  ) {}

  check = async (eventId: number): Promise<void> => {
    if (!this.maxAgeMs) return;
    const now = Date.now();
    let look = this.looks.get(eventId);
    if (!look || now - look.at >= LOOK_MS) {
      look = { at: now, oldest: await this.oldest(eventId, now) };
      if (this.looks.size > 10_000) this.looks.clear();
      this.looks.set(eventId, look);
    }
    const age = now - look.oldest;
    if (age > this.maxAgeMs)
      throw new ApiError(503, "unavailable", `coupons issued ${Math.round(age / 1000)} s ago are not stored yet (the database is slow or down); nothing was issued, try again shortly`, undefined, { "retry-after": "5" });
  };

  private async oldest(eventId: number, now: number): Promise<number> {
    const k = eventKeys(this.prefix, eventId);
    const [first, held] = await Promise.all([this.redis.xrange(k.stream, "-", "+", "COUNT", 1), this.redis.hvals(k.backlog)]);
    let oldest = first[0] ? Number(first[0][0].split("-")[0]) : now;
    for (const v of held) {
      const [at, until] = v.split(":").map(Number);
      if (until! > now && at! < oldest) oldest = at!;
    }
    return oldest;
  }
}

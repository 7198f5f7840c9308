import { ApiError } from "../../src/http";
import { eventKeys, runScript, type RedisClient } from "../../src/redis";
import type { ReconcileGate } from "../coupon/service";
import { takeUnit } from "../coupon/take";
import { refusal } from "../events/model";
import { liveAgain, type EventService } from "../events/service";

/**
 * Coupons given outside the line (grant-5.lua): stock and one-per-user decided in Redis with the
 * issue's rule, the issuance appended to the event's stream and persisted by the issuer like any
 * other (and announced by coupon.issued). Runs on the strict issue connection, after the event's
 * Redis state is trusted (the reconciler's gate), like an issue.
 */
export class Grants {
  private readonly script;

  private readonly redis: RedisClient;

  constructor(
    issueRedis: RedisClient,
    private readonly events: EventService,
    private readonly prefix: string,
    private readonly gate: ReconcileGate,
  ) {
    this.script = runScript(issueRedis, "grant");
    this.redis = issueRedis;
  }

  async grant(eventId: number, userId: string): Promise<{ code: string }> {
    const { reply: r, code } = await takeUnit(
      { redis: this.redis, prefix: this.prefix, events: this.events, gate: this.gate, action: "granted" },
      eventId,
      userId,
      (c) => this.run(eventId, userId, c),
    );
    if (r[0] === "issued") {
      // a grant may go to an event that ended and left the live set: its issuers must see the new entry
      await liveAgain(this.redis, this.prefix, eventId);
      return { code };
    }
    if (r[0] === "already_issued") throw new ApiError(409, "already_issued", "this user already has this event's coupon");
    throw refusal(r[0] as "event_not_found" | "not_open" | "sold_out");
  }

  private async run(eventId: number, userId: string, code: string) {
    const k = eventKeys(this.prefix, eventId);
    try {
      return (await this.script(k.meta, k.issued, k.running, k.stream, k.holders, userId, Date.now(), eventId, code)) as [string, string?];
    } catch (e) {
      const msg = String((e as Error)?.message);
      if (/enableOfflineQueue|isn't writeable/.test(msg)) throw new ApiError(503, "unavailable", "Redis is unavailable; nothing was granted, try again shortly");
      // written, but the connection dropped before the reply: the script may have run
      if (/Connection is closed|max retries per request|ECONNRESET|EPIPE|ETIMEDOUT/i.test(msg))
        throw new ApiError(504, "outcome_unknown", "the connection to Redis dropped during the grant; the winners list (or a retry with the same Idempotency-Key after it fails with already_issued) tells whether it went through");
      throw e;
    }
  }
}

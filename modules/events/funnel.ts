// The funnel of an event: how many joined, were admitted, were issued, and where the others went.
// Counted by the server in one Redis hash per event (eventKeys().funnel): the waiting room's Lua adds
// to it where each step happens (enter, admission, a lapsed slot, a waiter dropped for silence), the
// leave route when a user leaves, and every router the requests it turned away (counted in memory
// and added once per flush, so a flood of refusals costs no Redis write per request).
import { eventKeys, type RedisClient } from "../../src/redis";

export const TURNED_AWAY = ["sold_out", "line_full", "not_open", "rate_limited", "bot_check_failed"] as const;
export type TurnedAwayReason = (typeof TURNED_AWAY)[number];
const STEPS = ["joined", "admitted", "slotsLapsed", "droppedSilent", "left"] as const;

export type Funnel = {
  joined: number;
  admitted: number;
  issued: number;
  slotsLapsed: number;
  droppedSilent: number;
  left: number;
  turnedAway: Record<TurnedAwayReason, number>;
};

/** The event's funnel; `issued` is the number of users holding its coupon (the issued hash). */
export async function readFunnel(redis: RedisClient, prefix: string, id: number): Promise<Funnel> {
  const k = eventKeys(prefix, id);
  const [h, issued] = await Promise.all([redis.hgetall(k.funnel), redis.hlen(k.issued)]);
  const n = (f: string) => Math.max(0, Number(h[f]) || 0);
  const out = { issued } as Funnel;
  for (const s of STEPS) out[s] = n(s);
  out.turnedAway = Object.fromEntries(TURNED_AWAY.map((r) => [r, n(r)])) as Funnel["turnedAway"];
  return out;
}

/** Refusals one router counted since its last flush, added to each event's funnel hash at the flush. */
export class TurnedAwayTally {
  private counts = new Map<number, Map<TurnedAwayReason, number>>();

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  /**
   * Counts a refusal of an enter if its reason is one of the funnel's (others are not turn-aways);
   * bot_check_failed is counted by the bot gate itself (modules/botgate), into the same hash.
   */
  add(id: number, reason: string, n = 1) {
    if (reason === "bot_check_failed" || !(TURNED_AWAY as readonly string[]).includes(reason)) return;
    let m = this.counts.get(id);
    if (!m) this.counts.set(id, (m = new Map()));
    m.set(reason as TurnedAwayReason, (m.get(reason as TurnedAwayReason) ?? 0) + n);
  }

  async flush() {
    const counts = this.counts;
    if (!counts.size) return;
    this.counts = new Map();
    await Promise.all(
      [...counts].map(async ([id, m]) => {
        const key = eventKeys(this.prefix, id).funnel;
        const tx = this.redis.multi();
        for (const [reason, n] of m) tx.hincrby(key, reason, n);
        const res = await tx.exec().catch(() => null);
        // kept for the next flush rather than lost
        if (!res || res.some(([err]) => err)) for (const [reason, n] of m) this.add(id, reason, n);
      }),
    );
  }
}

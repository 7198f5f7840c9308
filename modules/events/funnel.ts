// The funnel of an event: how many joined, were admitted, were issued, and where the others went.
// Counted by the server in one Redis hash per event (eventKeys().funnel), from what the waiting
// room's scripts answer where each step happens (admission, a lapsed slot, a waiter dropped for
// silence, a leave, a refusal), tallied in memory and added once per flush (FunnelTally); joined
// comes from the line's arrival counter, issued from the issued hash.
import { eventKeys, type RedisClient } from "../../src/redis";

export const TURNED_AWAY = ["sold_out", "line_full", "not_open", "rate_limited", "bot_check_failed"] as const;
export type TurnedAwayReason = (typeof TURNED_AWAY)[number];
const STEPS = ["admitted", "slotsLapsed", "droppedSilent", "left"] as const;

export type Funnel = {
  joined: number;
  admitted: number;
  issued: number;
  slotsLapsed: number;
  droppedSilent: number;
  left: number;
  turnedAway: Record<TurnedAwayReason, number>;
};

/**
 * The event's funnel; `issued` is the number of users holding its coupon (the issued hash), or
 * `issuedFallback` when that hash cannot be read (a damaged event: its stats still answer, with the
 * reconcile error that says why).
 */
export async function readFunnel(redis: RedisClient, prefix: string, id: number, issuedFallback?: number): Promise<Funnel> {
  const k = eventKeys(prefix, id);
  const issuedCount = redis.hlen(k.issued).catch((e) => {
    if (issuedFallback === undefined) throw e;
    return issuedFallback;
  });
  const [h, issued, seq, preEnd] = await Promise.all([redis.hgetall(k.funnel), issuedCount, redis.get(k.waitSeq), redis.hget(k.meta, "preEnd")]);
  const n = (f: string) => Math.max(0, Number(h[f]) || 0);
  const out = { issued } as Funnel;
  for (const s of STEPS) out[s] = n(s);
  // every place in the line took an arrival sequence, the pre-queue's twice (the counter jumps by
  // preEnd at the start, includes/prequeue.lua); those admitted at once took none
  out.joined = Math.max(0, Number(seq) - Math.max(0, Number(preEnd) || 0)) + n("direct");
  out.turnedAway = Object.fromEntries(TURNED_AWAY.map((r) => [r, n(r)])) as Funnel["turnedAway"];
  return out;
}

type Field = (typeof STEPS)[number] | TurnedAwayReason | "direct";

/**
 * The funnel's counts one process made since its last flush, added to each event's funnel hash (and
 * the holders of slots who were told they hold one, to the event's `seen` set) once per flush: a
 * crowd costs no Redis write per request. Fed where each step is decided: admissions and the
 * scheduler's lapsed slots and dropped waiters (modules/queue), refills (modules/coupon), leaves, and
 * the routers' refusals and admitted replies.
 */
export class FunnelTally {
  private counts = new Map<number, Map<Field, number>>();
  private seenNow = new Map<number, Set<string>>();
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  add(id: number, field: Field, n = 1) {
    if (n <= 0) return;
    let m = this.counts.get(id);
    if (!m) this.counts.set(id, (m = new Map()));
    m.set(field, (m.get(field) ?? 0) + n);
  }

  /**
   * A refusal of an enter, if its reason is one of the funnel's (others are not turn-aways);
   * bot_check_failed is counted by the bot gate itself (modules/botgate), into the same hash.
   */
  turnedAway(id: number, reason: string) {
    if (reason !== "bot_check_failed" && (TURNED_AWAY as readonly string[]).includes(reason)) this.add(id, reason as TurnedAwayReason);
  }

  /** The user was told they hold a running slot: not a ghost (stats.ts, countGhostSlots). */
  seen(id: number, user: string) {
    let s = this.seenNow.get(id);
    if (!s) this.seenNow.set(id, (s = new Set()));
    s.add(user);
  }

  start(everyMs: number) {
    this.timer ??= setInterval(() => void this.flush(), everyMs);
  }

  async stop() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }

  async flush() {
    const counts = this.counts;
    const seen = this.seenNow;
    if (!counts.size && !seen.size) return;
    this.counts = new Map();
    this.seenNow = new Map();
    const now = Date.now();
    await Promise.all(
      [...new Set([...counts.keys(), ...seen.keys()])].map(async (id) => {
        const k = eventKeys(this.prefix, id);
        const m = counts.get(id);
        const users = seen.get(id);
        const tx = this.redis.multi();
        for (const [field, n] of m ?? []) tx.hincrby(k.funnel, field, n);
        if (users?.size) tx.zadd(k.seen, ...[...users].flatMap((u) => [now, u]));
        const res = await tx.exec().catch(() => null);
        if (res && !res.some(([err]) => err)) return;
        // kept for the next flush rather than lost
        for (const [field, n] of m ?? []) this.add(id, field, n);
        for (const u of users ?? []) this.seen(id, u);
      }),
    );
  }
}

import type { RowDataPacket } from "mysql2";
import type { Mysql } from "../../src/db";
import { eventKeys, runScript, type RedisClient } from "../../src/redis";

export type MyCoupon = { eventId: number; eventName: string; code: string; issuedAt: string | null; redeemedAt: string | null; validUntil: string | null; persisted: boolean };

// a person's coupons over years of events; the newest this many are listed
export const MY_COUPONS_MAX = 500;

// an unpersisted promise is normally stored within milliseconds; the index forgets a quiet user after this
const PROMISES_TTL_MS = 30 * 24 * 3600_000;

/** The per-user index of promises (hash: event id → code), one key per user (its own hash tag: any Cluster slot). */
export const promisesKey = (prefix: string, userId: string) => `${prefix}:mine:{${userId}}`;

const recorders = new WeakMap<RedisClient, ReturnType<typeof runScript>>();

/**
 * Records a promise (a 201 issue, a grant, an on-turn issue) in the user's index, right after the
 * script that made it and before the reply: GET /api/me/coupons finds the coupons not yet stored
 * in MySQL here, at a cost that does not grow with the number of events. A failed write only delays
 * the coupon's listing until its row is stored: the promise itself is already safe in the stream.
 */
export async function recordPromise(redis: RedisClient, prefix: string, userId: string, eventId: number, code: string): Promise<void> {
  let record = recorders.get(redis);
  if (!record) recorders.set(redis, (record = runScript(redis, "recordPromise")));
  try {
    await record(promisesKey(prefix, userId), eventId, code, PROMISES_TTL_MS);
  } catch (e) {
    console.error(`my coupons: promise of event ${eventId} not indexed (${(e as Error)?.message}); listed once persisted`);
  }
}

const STORED = "SELECT i.event_id, e.name, i.code, i.issued_at, i.redeemed_at, e.coupon_valid_until FROM coupon_issues i JOIN coupon_events e ON e.id = i.event_id";

const storedCoupon = (r: RowDataPacket): MyCoupon => ({
  eventId: Number(r.event_id),
  eventName: r.name,
  code: r.code,
  issuedAt: (r.issued_at as Date).toISOString(),
  redeemedAt: r.redeemed_at ? (r.redeemed_at as Date).toISOString() : null,
  validUntil: r.coupon_valid_until ? (r.coupon_valid_until as Date).toISOString() : null,
  persisted: true,
});

/**
 * A user's coupons, newest first: the persisted rows (by user id, indexed) with their events, and
 * ahead of them the coupons promised (201) whose rows the issuer has not written yet, from the
 * user's index of promises (never a scan of events). Those have no issue time yet (null): it is in
 * the stream entry. Entries found persisted leave the index, so it holds only what is in flight.
 */
export class MyCoupons {
  constructor(
    private readonly redis: RedisClient,
    private readonly mysql: Mysql,
    private readonly prefix: string,
  ) {}

  async list(userId: string): Promise<{ coupons: MyCoupon[] }> {
    const key = promisesKey(this.prefix, userId);
    const [[rows], index] = await Promise.all([
      this.mysql.pool.query<RowDataPacket[]>(`${STORED} WHERE i.user_id = ? ORDER BY i.issued_at DESC, i.id DESC LIMIT ?`, [userId, MY_COUPONS_MAX]),
      this.redis.hgetall(key),
    ]);
    const persisted: MyCoupon[] = rows.map(storedCoupon);
    const have = new Set(persisted.map((c) => c.eventId));
    const indexed = Object.entries(index).map(([id, code]) => ({ id: Number(id), code }));
    let hits = indexed.filter((h) => !have.has(h.id));
    if (hits.length) {
      // stored since the first read (the issuer wrote it in between: listed with the stored ones), or older
      // than the newest MY_COUPONS_MAX (cut again below)
      const [since] = await this.mysql.pool.query<RowDataPacket[]>(`${STORED} WHERE i.user_id = ? AND i.event_id IN (?)`, [userId, hits.map((h) => h.id)]);
      const stored = new Set(since.map((r) => Number(r.event_id)));
      hits = hits.filter((h) => !stored.has(h.id));
      persisted.push(...since.map(storedCoupon));
      persisted.sort((a, b) => b.issuedAt!.localeCompare(a.issuedAt!));
    }
    const done = indexed.filter((h) => !hits.includes(h)).map((h) => String(h.id));
    if (done.length) await this.redis.hdel(key, ...done);
    const metas = await Promise.all(hits.map((h) => this.redis.hmget(eventKeys(this.prefix, h.id).meta, "name", "couponValidUntil")));
    const promised: MyCoupon[] = hits.map(({ id, code }, i) => ({
      eventId: id,
      eventName: metas[i]![0] ?? "",
      code,
      issuedAt: null,
      redeemedAt: null,
      validUntil: Number(metas[i]![1]) > 0 ? new Date(Number(metas[i]![1])).toISOString() : null,
      persisted: false,
    }));
    promised.sort((a, b) => b.eventId - a.eventId);
    return { coupons: [...promised, ...persisted].slice(0, MY_COUPONS_MAX) };
  }
}

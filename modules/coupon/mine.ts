import type { RowDataPacket } from "mysql2";
import type { Mysql } from "../../src/db";
import { eventKeys, type RedisClient } from "../../src/redis";

export type MyCoupon = { eventId: number; eventName: string; code: string; issuedAt: string | null; redeemedAt: string | null; validUntil: string | null; persisted: boolean };

// a person's coupons over years of events; the newest this many are listed
export const MY_COUPONS_MAX = 500;

/**
 * A user's coupons, newest first: the persisted rows (by user id, indexed) with their events, and
 * ahead of them the coupons promised (201) whose rows the issuer has not written yet, read from the
 * issued hashes of the events Redis holds. Those have no issue time yet (null): it is in the stream
 * entry, which is not indexed by user.
 */
export class MyCoupons {
  constructor(
    private readonly redis: RedisClient,
    private readonly mysql: Mysql,
    private readonly prefix: string,
    private readonly eventIds: () => Promise<number[]>,
  ) {}

  async list(userId: string): Promise<{ coupons: MyCoupon[] }> {
    const [[rows], ids] = await Promise.all([
      this.mysql.pool.query<RowDataPacket[]>(
        "SELECT i.event_id, e.name, i.code, i.issued_at, i.redeemed_at, e.coupon_valid_until FROM coupon_issues i JOIN coupon_events e ON e.id = i.event_id WHERE i.user_id = ? ORDER BY i.issued_at DESC, i.id DESC LIMIT ?",
        [userId, MY_COUPONS_MAX],
      ),
      this.eventIds(),
    ]);
    const persisted: MyCoupon[] = rows.map((r) => ({
      eventId: Number(r.event_id),
      eventName: r.name,
      code: r.code,
      issuedAt: (r.issued_at as Date).toISOString(),
      redeemedAt: r.redeemed_at ? (r.redeemed_at as Date).toISOString() : null,
      validUntil: r.coupon_valid_until ? (r.coupon_valid_until as Date).toISOString() : null,
      persisted: true,
    }));
    const have = new Set(persisted.map((c) => c.eventId));
    // one auto-pipelined round trip for all events, however many
    const candidates = ids.filter((id) => !have.has(id));
    const codes = await Promise.all(candidates.map((id) => this.redis.hget(eventKeys(this.prefix, id).issued, userId)));
    let hits = candidates.flatMap((id, i) => (codes[i] ? [{ id, code: codes[i]! }] : []));
    if (hits.length) {
      // rows older than the newest MY_COUPONS_MAX are persisted too, just not listed above
      const [older] = await this.mysql.pool.query<RowDataPacket[]>("SELECT event_id FROM coupon_issues WHERE user_id = ? AND event_id IN (?)", [userId, hits.map((h) => h.id)]);
      const stored = new Set(older.map((r) => Number(r.event_id)));
      hits = hits.filter((h) => !stored.has(h.id));
    }
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

import type { ResultSetHeader, RowDataPacket } from "mysql2";
import { inTransaction, type Mysql } from "../../src/db";
import { ApiError } from "../../src/http";
import { normalizeCode } from "../coupon/code";
import { enqueue } from "../webhooks/outbox";
import type { CouponRecord } from "./model";

const UNSTORABLE = new Set(["ER_TRUNCATED_WRONG_VALUE_FOR_FIELD", "ER_DATA_TOO_LONG", "ER_INVALID_CHARACTER_STRING"]);

// reads of the row after a redeem's UPDATE lost its connection: 200 + 400 + … ms apart (about 3 s in all)
const READ_BACK_TRIES = 5;

const unknown = () => new ApiError(404, "not_found", "no coupon has this code");
const voided = (c: CouponRecord) => new ApiError(410, "voided", `this coupon was voided at ${c.voidedAt}`, { voidedAt: c.voidedAt });
const pending = (eventId: number) =>
  new ApiError(409, "pending", "this code was promised and is being persisted (normally within a second): retry after Retry-After seconds", { eventId }, { "retry-after": "1" });

/** The event of a code promised but not yet persisted, or null (./promised.ts). */
export type PromisedEvent = (code: string) => Promise<number | null>;

/**
 * The shop's side of a coupon: look it up by code, redeem it on an order, undo that (the order was
 * cancelled), void it — in MySQL (the record), each change with its webhook delivery in the same
 * transaction. A code promised but not persisted yet answers 409 pending (never 404: that means no
 * such code), so a shop can retry "not yet" and give up on "never".
 */
export class Redemption {
  constructor(
    private readonly mysql: Mysql,
    private readonly promised: PromisedEvent = async () => null,
  ) {}

  /** Runs `fn` in one transaction (a change and its webhook delivery commit together). */
  private async find(code: string): Promise<CouponRecord | null> {
    const [rows] = await this.mysql.pool.query<RowDataPacket[]>(
      "SELECT i.id, i.code, i.event_id, i.user_id, i.issued_at, i.redeemed_at, i.order_id, i.voided_at, i.void_reason, e.coupon_valid_until FROM coupon_issues i JOIN coupon_events e ON e.id = i.event_id WHERE i.code = ?",
      [code],
    );
    const r = rows[0];
    if (!r) return null;
    return {
      code: r.code,
      eventId: Number(r.event_id),
      userId: r.user_id,
      issuedAt: (r.issued_at as Date).toISOString(),
      redeemedAt: r.redeemed_at ? (r.redeemed_at as Date).toISOString() : null,
      orderId: r.order_id ?? null,
      validUntil: r.coupon_valid_until ? (r.coupon_valid_until as Date).toISOString() : null,
      voidedAt: r.voided_at ? (r.voided_at as Date).toISOString() : null,
      voidReason: r.void_reason ?? null,
    };
  }

  /**
   * The coupon by its code. Not in MySQL: a promise still on its way there is 409 pending; the row
   * is read once more after the promise was looked for, since the issuer may have stored it (and
   * trimmed the stream) in between.
   */
  async lookup(rawCode: string): Promise<CouponRecord> {
    const code = normalizeCode(rawCode);
    if (!code) throw unknown();
    const found = await this.find(code);
    if (found) return found;
    const eventId = await this.promised(code);
    const now = await this.find(code);
    if (now) return now;
    if (eventId !== null) throw pending(eventId);
    throw unknown();
  }

  /**
   * Redeems the coupon on `orderId`, once: the UPDATE only matches a row not yet redeemed, so of any
   * number of concurrent requests exactly one changes it, and every other one reads back who did.
   * The same order again gets the same 200 (a shop may retry safely); another order gets
   * 409 already_redeemed. Past the event's couponValidUntil, an unredeemed coupon is 410 expired.
   * The reply never says "failed" for a redeem that took effect: the request whose UPDATE changed
   * the row answers from what it wrote (no read that could fail after the commit), and one that
   * lost its connection during the UPDATE reads the row again to learn the outcome, or answers
   * 504 outcome_unknown when MySQL stays out of reach.
   */
  async redeem(rawCode: string, orderId: string): Promise<CouponRecord> {
    const found = await this.lookup(rawCode);
    if (found.voidedAt && found.orderId !== orderId) throw voided(found);
    if (found.redeemedAt === null) {
      if (found.validUntil && Date.now() >= Date.parse(found.validUntil)) throw new ApiError(410, "expired", `this coupon was valid until ${found.validUntil}`);
      const at = new Date();
      let changed: boolean;
      try {
        changed = await inTransaction(this.mysql.pool, async (conn) => {
          const [res] = await conn.query<ResultSetHeader>("UPDATE coupon_issues SET redeemed_at = ?, order_id = ? WHERE code = ? AND redeemed_at IS NULL AND voided_at IS NULL", [at, orderId, found.code]);
          if (res.affectedRows === 1) await enqueue(conn, found.eventId, "coupon.redeemed", { eventId: found.eventId, userId: found.userId, code: found.code, orderId }, at);
          return res.affectedRows === 1;
        });
      } catch (e) {
        // a database whose character set cannot hold the order id (not utf8mb4) refuses it: bad input, not a 500
        if (UNSTORABLE.has((e as { code?: string })?.code ?? "")) throw new ApiError(400, "bad_request", "orderId holds characters the database cannot store");
        // the UPDATE may or may not have run: the row says which
        return this.outcome(found.code, orderId, e);
      }
      if (changed) return { ...found, redeemedAt: at.toISOString(), orderId };
    }
    return this.settled(found.code, orderId, await this.readBack(found.code));
  }

  /** The outcome of a redeem whose UPDATE lost its connection: read the row until MySQL answers. */
  private async outcome(code: string, orderId: string, cause: unknown): Promise<CouponRecord> {
    const now = await this.readBack(code).catch(() => null);
    if (!now) throw new ApiError(504, "outcome_unknown", "the connection to the database dropped during the redeem; look the code up (GET /admin/coupons/:code) or send the same redeem again");
    // not redeemed by anyone: the UPDATE never ran, nothing happened; the shop may simply retry
    if (now.redeemedAt === null) throw cause;
    return this.settled(code, orderId, now);
  }

  private settled(code: string, orderId: string, now: CouponRecord): CouponRecord {
    if (now.voidedAt && now.orderId !== orderId) throw voided(now);
    // compared here, byte for byte: the column's collation may call "A-1" and "a-1" the same order
    if (now.orderId !== orderId) throw new ApiError(409, "already_redeemed", `this coupon was already redeemed at ${now.redeemedAt}`, { redeemedAt: now.redeemedAt });
    return now;
  }

  /**
   * Undoes the redemption on `orderId` (the order was cancelled): the coupon is usable again. Only
   * the order that redeemed it may: otherwise 409 not_redeemed_by_order (also for a retry once it
   * is undone, as nothing is redeemed on that order any more).
   */
  async unredeem(rawCode: string, orderId: string): Promise<CouponRecord> {
    const found = await this.lookup(rawCode);
    const notByOrder = () => new ApiError(409, "not_redeemed_by_order", found.redeemedAt ? "this coupon was redeemed on another order" : "this coupon is not redeemed");
    // compared here, byte for byte (the column's collation may not)
    if (found.orderId !== orderId || found.redeemedAt === null) throw notByOrder();
    const changed = await inTransaction(this.mysql.pool, async (conn) => {
      // the very redemption read above: a concurrent unredeem and redeem on another order cannot be undone by it
      const [res] = await conn.query<ResultSetHeader>("UPDATE coupon_issues SET redeemed_at = NULL, order_id = NULL WHERE code = ? AND redeemed_at = ? AND order_id = ?", [
        found.code,
        new Date(found.redeemedAt!),
        orderId,
      ]);
      if (res.affectedRows === 1) await enqueue(conn, found.eventId, "coupon.unredeemed", { eventId: found.eventId, userId: found.userId, code: found.code, orderId });
      return res.affectedRows === 1;
    });
    if (!changed) throw notByOrder();
    return { ...found, redeemedAt: null, orderId: null };
  }

  /**
   * Voids the coupon: it can no longer be redeemed (410 voided); its stock is not given back. Voiding
   * again answers the same 200 with the first void's time and reason.
   */
  async void(rawCode: string, reason: string): Promise<CouponRecord> {
    const found = await this.lookup(rawCode);
    if (found.voidedAt) return found;
    const at = new Date();
    const changed = await inTransaction(this.mysql.pool, async (conn) => {
      const [res] = await conn.query<ResultSetHeader>("UPDATE coupon_issues SET voided_at = ?, void_reason = ? WHERE code = ? AND voided_at IS NULL", [at, reason, found.code]);
      if (res.affectedRows !== 1) return null;
      // the row as voided (locked by this transaction): a redeem may have landed since the lookup
      const [[row]] = await conn.query<RowDataPacket[]>("SELECT redeemed_at, order_id FROM coupon_issues WHERE code = ?", [found.code]);
      const orderId = (row?.order_id as string | null) ?? null;
      await enqueue(conn, found.eventId, "coupon.voided", { eventId: found.eventId, userId: found.userId, code: found.code, reason, ...(orderId ? { orderId } : {}) }, at);
      return { ...found, redeemedAt: row?.redeemed_at ? (row.redeemed_at as Date).toISOString() : null, orderId, voidedAt: at.toISOString(), voidReason: reason };
    }).catch((e) => {
      if (UNSTORABLE.has((e as { code?: string })?.code ?? "")) throw new ApiError(400, "bad_request", "reason holds characters the database cannot store");
      throw e;
    });
    // a concurrent void won: answer with its record
    return changed ?? this.readBack(found.code);
  }

  /** The row as it is now, read again on a failing connection for up to about three seconds. */
  private async readBack(code: string): Promise<CouponRecord> {
    for (let attempt = 0; ; attempt++) {
      try {
        const now = await this.find(code);
        if (now) return now;
        throw new Error(`coupon ${code} vanished`);
      } catch (e) {
        if (attempt >= READ_BACK_TRIES - 1) throw e;
        await Bun.sleep(200 * (attempt + 1));
      }
    }
  }
}

import type { ResultSetHeader, RowDataPacket } from "mysql2";
import type { Mysql } from "../../src/db";
import { ApiError } from "../../src/http";
import { normalizeCode } from "../coupon/code";
import type { CouponRecord } from "./model";

const UNSTORABLE = new Set(["ER_TRUNCATED_WRONG_VALUE_FOR_FIELD", "ER_DATA_TOO_LONG", "ER_INVALID_CHARACTER_STRING"]);

// reads of the row after a redeem's UPDATE lost its connection: 200 + 400 + … ms apart (about 3 s in all)
const READ_BACK_TRIES = 5;

const unknown = () => new ApiError(404, "not_found", "no coupon has this code (a coupon just issued becomes redeemable once persisted, normally within a second)");

/**
 * The shop's side of a coupon: look it up by code and redeem it on an order, in MySQL (the record).
 * A code is found only once its row is persisted: until then it is a 404, which the shop may retry.
 */
export class Redemption {
  constructor(private readonly mysql: Mysql) {}

  private async find(code: string): Promise<CouponRecord | null> {
    const [rows] = await this.mysql.pool.query<RowDataPacket[]>(
      "SELECT i.id, i.code, i.event_id, i.user_id, i.issued_at, i.redeemed_at, i.order_id, e.coupon_valid_until FROM coupon_issues i JOIN coupon_events e ON e.id = i.event_id WHERE i.code = ?",
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
    };
  }

  async lookup(rawCode: string): Promise<CouponRecord> {
    const code = normalizeCode(rawCode);
    const found = code ? await this.find(code) : null;
    if (!found) throw unknown();
    return found;
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
    if (found.redeemedAt === null) {
      if (found.validUntil && Date.now() >= Date.parse(found.validUntil)) throw new ApiError(410, "expired", `this coupon was valid until ${found.validUntil}`);
      const at = new Date();
      let changed: boolean;
      try {
        const [res] = await this.mysql.pool.query<ResultSetHeader>("UPDATE coupon_issues SET redeemed_at = ?, order_id = ? WHERE code = ? AND redeemed_at IS NULL", [at, orderId, found.code]);
        changed = res.affectedRows === 1;
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
    // compared here, byte for byte: the column's collation may call "A-1" and "a-1" the same order
    if (now.orderId !== orderId) throw new ApiError(409, "already_redeemed", `this coupon was already redeemed at ${now.redeemedAt}`, { redeemedAt: now.redeemedAt });
    return now;
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

import type { ResultSetHeader, RowDataPacket } from "mysql2";
import type { Mysql } from "../../src/db";
import { ApiError } from "../../src/http";
import { normalizeCode } from "../coupon/code";
import type { CouponRecord } from "./model";

const UNSTORABLE = new Set(["ER_TRUNCATED_WRONG_VALUE_FOR_FIELD", "ER_DATA_TOO_LONG", "ER_INVALID_CHARACTER_STRING"]);

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
   */
  async redeem(rawCode: string, orderId: string): Promise<CouponRecord> {
    const found = await this.lookup(rawCode);
    if (found.redeemedAt === null) {
      if (found.validUntil && Date.now() >= Date.parse(found.validUntil)) throw new ApiError(410, "expired", `this coupon was valid until ${found.validUntil}`);
      await this.mysql.pool
        .query<ResultSetHeader>("UPDATE coupon_issues SET redeemed_at = ?, order_id = ? WHERE code = ? AND redeemed_at IS NULL", [new Date(), orderId, found.code])
        .catch((e) => {
          // a database whose character set cannot hold the order id (not utf8mb4) refuses it: bad input, not a 500
          if (UNSTORABLE.has((e as { code?: string })?.code ?? "")) throw new ApiError(400, "bad_request", "orderId holds characters the database cannot store");
          throw e;
        });
    }
    // read back whoever won (this request or a concurrent one)
    const now = (await this.find(found.code))!;
    // compared here, byte for byte: the column's collation may call "A-1" and "a-1" the same order
    if (now.orderId !== orderId) throw new ApiError(409, "already_redeemed", `this coupon was already redeemed at ${now.redeemedAt}`, { redeemedAt: now.redeemedAt });
    return now;
  }
}

import { t } from "elysia";
import { Int } from "../events/model";

export const Issued = t.Object(
  {
    status: t.Literal("issued"),
    eventId: Int({ minimum: 1 }),
    userId: t.String(),
    code: t.String({ description: "the coupon code: unique, unguessable, the user's to redeem" }),
  },
  { $id: "Issued", description: "issued: a promise that the MySQL row will exist" },
);
export const CouponState = t.Object(
  {
    issued: t.Boolean({ description: "the coupon was promised (201)" }),
    persisted: t.Boolean({ description: "its row is in MySQL" }),
    code: t.Union([t.String(), t.Null()]),
    redeemedAt: t.Union([t.String(), t.Null()]),
  },
  { $id: "Coupon", description: "the user's coupon for this event, if any" },
);

const NullableString = t.Union([t.String(), t.Null()]);
export const MyCouponsReply = t.Object({
  coupons: t.Array(
    t.Object({
      eventId: Int({ minimum: 1 }),
      eventName: t.String(),
      code: t.String(),
      issuedAt: t.Union([t.String(), t.Null()], { description: "null for a coupon promised a moment ago whose row is not written yet" }),
      redeemedAt: NullableString,
      validUntil: t.Union([t.String(), t.Null()], { description: "the event's couponValidUntil (null = no end)" }),
      persisted: t.Boolean({ description: "its row is in MySQL (only then can the shop redeem it)" }),
    }, { $id: "MyCoupon" }),
  ),
}, { $id: "MyCoupons", description: "the user's coupons, newest first" });

export type IssueResult =
  | { status: "issued"; code: string }
  | { status: "event_not_found" | "not_open" | "already_issued" | "sold_out" | "not_admitted" };

export type CouponState = { issued: boolean; persisted: boolean; code: string | null; redeemedAt: string | null };

/** The business API the router forwards to; in process or over HTTP. */
export interface CouponApi {
  issue(eventId: number, userId: string): Promise<IssueResult>;
  coupon(eventId: number, userId: string): Promise<CouponState>;
}

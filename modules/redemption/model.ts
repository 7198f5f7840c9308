import { t } from "elysia";
import { Int } from "../events/model";

export const CodeParams = t.Object({ code: t.String({ maxLength: 64, description: "the coupon code; case, dashes and spaces do not matter" }) });

// an order id is the shop's own reference: any text a person could read back, no control characters
export const RedeemBody = t.Object(
  { orderId: t.String({ minLength: 1, maxLength: 128, pattern: "^[^\\u0000-\\u001f\\u007f]+$", description: "the shop's order the coupon is used on (1–128 characters)" }) },
  { $id: "Redeem", additionalProperties: false },
);

export const UnredeemBody = t.Object(
  { orderId: t.String({ minLength: 1, maxLength: 128, pattern: "^[^\\u0000-\\u001f\\u007f]+$", description: "the cancelled order the coupon was redeemed on" }) },
  { $id: "Unredeem", additionalProperties: false },
);

// a reason is read by people (support, the audit trail, the shop's webhook): plain text, no control characters
export const Reason = t.String({ minLength: 1, maxLength: 200, pattern: "^[^\\u0000-\\u001f\\u007f]+$", description: "why (1–200 characters), kept with the coupon and sent in the webhook" });

export const VoidBody = t.Object({ reason: Reason }, { $id: "Void", additionalProperties: false });

export const CouponRecord = t.Object({
  code: t.String(),
  eventId: Int({ minimum: 1 }),
  userId: t.String(),
  issuedAt: t.String(),
  redeemedAt: t.Union([t.String(), t.Null()]),
  orderId: t.Union([t.String(), t.Null()]),
  validUntil: t.Union([t.String(), t.Null()], { description: "the event's couponValidUntil: redeemable until then (null = no end)" }),
  voidedAt: t.Union([t.String(), t.Null()], { description: "when it was voided (it can no longer be redeemed); null = not void" }),
  voidReason: t.Union([t.String(), t.Null()]),
}, { $id: "CouponRecord", description: "a coupon by its code: whose, from which event, whether and on which order it was redeemed" });

export type CouponRecord = {
  code: string;
  eventId: number;
  userId: string;
  issuedAt: string;
  redeemedAt: string | null;
  orderId: string | null;
  validUntil: string | null;
  voidedAt: string | null;
  voidReason: string | null;
};

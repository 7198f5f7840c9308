import { Elysia } from "elysia";
import { adminGuard, type Auth } from "../../src/auth";
import { ErrorReply } from "../events/model";
import { CodeParams, CouponRecord, RedeemBody } from "./model";
import type { Redemption } from "./service";

const doc = { tags: ["shop"], security: [{ bearer: [] }] };

/** For the shop's backend (admin token): look a coupon up by its code, and redeem it on an order. */
export const redemptionModule = (redemption: Redemption, auth: Auth) =>
  new Elysia({ name: "redemption" }).guard(adminGuard(auth), (admin) =>
    admin
      .get("/admin/coupons/:code", ({ params }) => redemption.lookup(params.code), {
        params: CodeParams,
        response: { 200: CouponRecord, 401: ErrorReply, 404: ErrorReply },
        detail: { ...doc, summary: "A coupon by its code: whose, from which event, whether and on which order it was redeemed" },
      })
      .post("/admin/coupons/:code/redeem", ({ params, body }) => redemption.redeem(params.code, body.orderId), {
        params: CodeParams,
        body: RedeemBody,
        response: { 200: CouponRecord, 400: ErrorReply, 401: ErrorReply, 404: ErrorReply, 409: ErrorReply, 410: ErrorReply },
        detail: {
          ...doc,
          summary: "Redeem a coupon on an order: idempotent per orderId; another order → 409 already_redeemed; past couponValidUntil → 410 expired; unknown → 404",
        },
      }),
  );

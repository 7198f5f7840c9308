import { Elysia } from "elysia";
import { adminGuard, type Auth } from "../../src/auth";
import { SECURITY } from "../../src/docs";
import { Err } from "../events/model";
import { CodeParams, CouponRecord, RedeemBody } from "./model";
import type { Redemption } from "./service";

const doc = { tags: ["shop"], security: SECURITY.admin };

/** For the shop's backend (admin token): look a coupon up by its code, and redeem it on an order. */
export const redemptionModule = (redemption: Redemption, auth: Auth) =>
  new Elysia({ name: "redemption" }).guard(adminGuard(auth), (admin) =>
    admin
      .get("/admin/coupons/:code", ({ params }) => redemption.lookup(params.code), {
        params: CodeParams,
        response: { 200: CouponRecord, 401: Err("unauthorized"), 404: Err("not_found"), 503: Err("unavailable", "upstream_unavailable") },
        detail: { ...doc, operationId: "getCoupon", summary: "A coupon by its code: whose, from which event, whether and on which order it was redeemed" },
      })
      .post("/admin/coupons/:code/redeem", ({ params, body }) => redemption.redeem(params.code, body.orderId), {
        params: CodeParams,
        body: RedeemBody,
        response: {
          200: CouponRecord,
          400: Err("bad_request", "invalid_json"),
          401: Err("unauthorized"),
          404: Err("not_found"),
          409: Err("already_redeemed"),
          410: Err("expired"),
          411: Err("length_required"),
          413: Err("payload_too_large"),
          503: Err("unavailable", "upstream_unavailable"),
        },
        detail: {
          ...doc,
          operationId: "redeemCoupon",
          summary: "Redeem a coupon on an order: idempotent per orderId; another order → 409 already_redeemed; past couponValidUntil → 410 expired; unknown → 404",
        },
      }),
  );

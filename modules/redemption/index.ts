import { Elysia } from "elysia";
import { adminGuard, needsScope } from "../../src/auth";
import { route } from "../../src/docs";
import type { Kernel } from "../../src/kernel";
import { Err } from "../events/model";
import { CodeParams, CouponRecord, RedeemBody } from "./model";
import { Redemption } from "./service";

const doc = { tags: ["shop"] };

/** The routes, schemas and docs (a split router documents them as it forwards them). */
export const redemptionRoutes = {
  lookup: route("GET", "/admin/coupons/:code", {
    params: CodeParams,
    response: { 200: CouponRecord, 401: Err("unauthorized"), 404: Err("not_found"), 503: Err("unavailable", "upstream_unavailable") },
    detail: { ...doc, ...needsScope("coupons:read"), operationId: "getCoupon", summary: "A coupon by its code: whose, from which event, whether and on which order it was redeemed" },
  }),
  redeem: route("POST", "/admin/coupons/:code/redeem", {
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
      504: Err("outcome_unknown"),
    },
    detail: {
      ...doc,
      ...needsScope("coupons:redeem"),
      operationId: "redeemCoupon",
      summary: "Redeem a coupon on an order: idempotent per orderId; another order → 409 already_redeemed; past couponValidUntil → 410 expired; unknown → 404",
    },
  }),
};
const R = redemptionRoutes;

/** For the shop's backend (admin token): look a coupon up by its code, and redeem it on an order. */
export function redemptionModule(k: Kernel) {
  const redemption = new Redemption(k.mysql!);
  return new Elysia({ name: "redemption" }).guard(adminGuard(k.auth), (admin) =>
    admin
      .get(R.lookup.path, ({ params }) => redemption.lookup(params.code), R.lookup.hook)
      .post(R.redeem.path, ({ params, body }) => redemption.redeem(params.code, body.orderId), R.redeem.hook),
  );
}

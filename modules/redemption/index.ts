import { Elysia, type TSchema } from "elysia";
import { adminGuard, needsScope, type Scope } from "../../src/auth";
import { route } from "../../src/docs";
import type { Kernel } from "../../src/kernel";
import { Err } from "../events/model";
import { CodeParams, CouponRecord, RedeemBody, UnredeemBody, VoidBody } from "./model";
import { promisedFinder } from "./promised";
import { Redemption } from "./service";

const unavailable = Err("unavailable", "upstream_unavailable");
const bodyErrors = { 400: Err("bad_request", "invalid_json"), 411: Err("length_required"), 413: Err("payload_too_large") };
// a promised code not yet persisted: 409 pending with Retry-After (never 404)
// (merged into the generated 409 by modules/ops/docs.ts, which keeps its description)
const retryAfter = { 409: { headers: { "Retry-After": { description: "`pending`: seconds to wait before retrying (1)", schema: { type: "integer", minimum: 1 } } } } } as unknown as Record<number, { description: string }>;

/**
 * A route on one coupon, by its code, for the shop's backend holding `scope`: it answers the coupon's
 * record, or 401, 404, 409 `pending`, 503, and `errors` (which may name more codes for 409).
 */
const couponRoute = <M extends string, P extends string, B extends { body?: TSchema }, E extends Record<number, TSchema>>(
  method: M,
  path: P,
  scope: Scope,
  body: B,
  errors: E,
  detail: { operationId: string; summary: string },
) =>
  route(method, path, {
    params: CodeParams,
    ...body,
    response: { 200: CouponRecord, 401: Err("unauthorized"), 404: Err("not_found"), 409: Err("pending"), 503: unavailable, ...errors },
    detail: { tags: ["shop"], ...needsScope(scope), ...detail, responses: retryAfter },
  });

/** The routes, schemas and docs (a split router documents them as it forwards them). */
export const redemptionRoutes = {
  lookup: couponRoute("GET", "/admin/coupons/:code", "coupons:read", {}, {}, {
    operationId: "getCoupon",
    summary: "A coupon by its code: whose, from which event, whether and on which order it was redeemed, whether void; promised but not persisted yet → 409 pending",
  }),
  redeem: couponRoute("POST", "/admin/coupons/:code/redeem", "coupons:redeem", { body: RedeemBody }, { ...bodyErrors, 409: Err("already_redeemed", "pending"), 410: Err("expired", "voided"), 504: Err("outcome_unknown") }, {
    operationId: "redeemCoupon",
    summary: "Redeem a coupon on an order: idempotent per orderId; another order → 409 already_redeemed; not persisted yet → 409 pending (retry); past couponValidUntil → 410 expired; void → 410 voided; unknown → 404",
  }),
  unredeem: couponRoute("POST", "/admin/coupons/:code/unredeem", "coupons:redeem", { body: UnredeemBody }, { ...bodyErrors, 409: Err("not_redeemed_by_order", "pending") }, {
    operationId: "unredeemCoupon",
    summary: "The order was cancelled: undo its redemption, the coupon is usable again; not redeemed on that orderId → 409 not_redeemed_by_order",
  }),
  void: couponRoute("POST", "/admin/coupons/:code/void", "coupons:void", { body: VoidBody }, bodyErrors, {
    operationId: "voidCoupon",
    summary: "Void a coupon: it can no longer be redeemed (410 voided); the stock is not given back; voiding again → the same 200",
  }),
};
const R = redemptionRoutes;

/** For the shop's backend (admin token or a key): look a coupon up by its code, redeem it, undo that, void it. */
export function redemptionModule(k: Kernel) {
  const promised = promisedFinder(k.redis, k.config.keyPrefix);
  const redemption = new Redemption(k.mysql!, async (code) => promised(await k.listEvents(), code));
  return new Elysia({ name: "redemption" }).guard(adminGuard(k.auth), (admin) =>
    admin
      .get(R.lookup.path, ({ params }) => redemption.lookup(params.code), R.lookup.hook)
      .post(R.redeem.path, ({ params, body }) => redemption.redeem(params.code, body.orderId), R.redeem.hook)
      .post(R.unredeem.path, async ({ params, body, request }) => {
        const before = await redemption.unredeem(params.code, body.orderId);
        await k.audit(request, { action: "unredeem", eventId: before.eventId, target: before.code, before: { orderId: body.orderId }, after: { redeemedAt: null, orderId: null } });
        return before;
      }, R.unredeem.hook)
      .post(R.void.path, async ({ params, body, request }) => {
        const after = await redemption.void(params.code, body.reason);
        // voiding again changes nothing: recorded once, by the request that voided it
        if (after.voidReason === body.reason) await k.audit(request, { action: "void", eventId: after.eventId, target: after.code, before: { voidedAt: null }, after: { voidedAt: after.voidedAt, reason: body.reason } });
        return after;
      }, R.void.hook),
  );
}

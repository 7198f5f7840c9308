import { Elysia } from "elysia";
import { route, SECURITY } from "../../src/docs";
import type { Kernel } from "../../src/kernel";
import { Snapshot, EVENT_RETENTION_MS } from "../../src/metrics";
import { couponEventSource } from "../../src/metrics-sources";
import { RateLimited } from "../../src/ratelimit";
import { eventId } from "../events";
import { Err, EventIdParams, refusal } from "../events/model";
import { couponInternalModule } from "./internal";
import { MyCoupons } from "./mine";
import { CouponState, Issued, MyCouponsReply } from "./model";
import { DbLockCouponService, RedisCouponService } from "./service";

const doc = { tags: ["user"], security: SECURITY.user };

/** The routes, schemas and docs (a split router documents them as it forwards them). */
export const couponRoutes = {
  issue: route("POST", "/api/events/:id/issue", {
    params: EventIdParams,
    response: {
      201: Issued,
      401: Err("unauthorized"),
      403: Err("not_admitted", "wrong_event"),
      404: Err("event_not_found"),
      409: Err("already_issued", "not_open"),
      410: Err("sold_out"),
      429: RateLimited,
      503: Err("unavailable", "upstream_unavailable"),
      504: Err("outcome_unknown"),
    },
    detail: {
      ...doc,
      security: SECURITY.userOrTicket,
      operationId: "issueCoupon",
      summary: "Issue the coupon (user token or waiting ticket): admission, stock and one-per-user decided atomically; 201 is a promise the row will exist. On an on_turn event the platform issues at the user's turn: 409 already_issued for a holder, else 403 not_admitted",
    },
  }),
  coupon: route("GET", "/api/events/:id/coupon", {
    params: EventIdParams,
    response: { 200: CouponState, 401: Err("unauthorized"), 404: Err("event_not_found"), 429: RateLimited, 503: Err("unavailable", "upstream_unavailable") },
    detail: { ...doc, operationId: "getMyCoupon", summary: "Your coupon for this event: whether it was issued, whether its row is persisted, its code and whether it was redeemed" },
  }),
  mine: route("GET", "/api/me/coupons", {
    response: { 200: MyCouponsReply, 401: Err("unauthorized"), 429: RateLimited, 503: Err("unavailable", "upstream_unavailable") },
    detail: { ...doc, operationId: "listMyCoupons", summary: "Your coupons, newest first: code, event, when issued, whether redeemed, until when valid" },
  }),
};
const R = couponRoutes;

/**
 * The business API: issue a coupon, and ask whether one was issued and persisted. Counts every issue
 * outcome, and exports the events' stock and persistence gauges (the coupon role owns both).
 */
export function couponModule(k: Kernel) {
  const { config, redis, mysql, events, metrics, auth, caller } = k;
  const coupons =
    config.issueStrategy === "db-lock"
      ? new DbLockCouponService(redis, mysql!, events!, config.keyPrefix)
      : new RedisCouponService(redis, k.issueRedis!, mysql!, events!, config.keyPrefix, config.queue, k.reconciler!.gate);
  if (coupons instanceof RedisCouponService)
    coupons.onRefill = (eventId, n) => {
      metrics.admitted(eventId, n, "refill");
      k.funnel.add(eventId, "admitted", n);
    };
  const mine = new MyCoupons(redis, mysql!, config.keyPrefix);
  metrics.sources.coupon = new Snapshot(couponEventSource(redis, mysql!, events!, config.keyPrefix, EVENT_RETENTION_MS));
  k.exportLease("coupon");

  return new Elysia({ name: "coupon" })
    .post(R.issue.path, async ({ params, request, set }) => {
      const id = eventId(params.id);
      // the user's token or their waiting ticket for this event
      const { user } = await caller(request.headers.get("authorization"), id);
      const r = await coupons.issue(id, user);
      metrics.issueOutcome(id, r.status);
      if (r.status !== "issued") {
        throw refusal(r.status);
      }
      set.status = 201;
      return { status: "issued" as const, eventId: id, userId: user, code: r.code };
    }, R.issue.hook)
    .get(R.coupon.path, async ({ params, request }) => {
      const user = auth.user(request.headers.get("authorization"));
      return coupons.coupon(eventId(params.id), user);
    }, R.coupon.hook)
    .get(R.mine.path, ({ request }) => mine.list(auth.user(request.headers.get("authorization"))), R.mine.hook)
    // a split router's question whether an on_turn coupon is persisted (it has no MySQL)
    .use(config.internalToken ? couponInternalModule(mysql!, config.internalToken) : new Elysia());
}

import { Elysia } from "elysia";
import type { Auth } from "../../src/auth";
import { SECURITY } from "../../src/docs";
import { RateLimited } from "../../src/ratelimit";
import type { CallerResolver } from "../queue/ticket";
import { eventId } from "../events";
import { Err, EventIdParams, refusal } from "../events/model";
import type { MyCoupons } from "./mine";
import { CouponState, Issued, MyCouponsReply, type CouponApi } from "./model";

const doc = { tags: ["user"], security: SECURITY.user };

/** The business API: issue a coupon, and ask whether one was issued and persisted. */
export const couponModule = (coupons: CouponApi, mine: MyCoupons, auth: Auth, caller: CallerResolver) =>
  new Elysia({ name: "coupon" })
    .post(
      "/api/events/:id/issue",
      async ({ params, request, set }) => {
        const id = eventId(params.id);
        // the user's token or their waiting ticket for this event
        const { user } = await caller(request.headers.get("authorization"), id);
        const r = await coupons.issue(id, user);
        if (r.status !== "issued") {
          throw refusal(r.status);
        }
        set.status = 201;
        return { status: "issued" as const, eventId: id, userId: user, code: r.code };
      },
      {
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
          summary: "Issue the coupon (user token or waiting ticket): admission, stock and one-per-user decided atomically; 201 is a promise the row will exist",
        },
      },
    )
    .get(
      "/api/events/:id/coupon",
      async ({ params, request }) => {
        const user = auth.user(request.headers.get("authorization"));
        return coupons.coupon(eventId(params.id), user);
      },
      {
        params: EventIdParams,
        response: { 200: CouponState, 401: Err("unauthorized"), 404: Err("event_not_found"), 503: Err("unavailable", "upstream_unavailable") },
        detail: { ...doc, operationId: "getMyCoupon", summary: "Your coupon for this event: whether it was issued, whether its row is persisted, its code and whether it was redeemed" },
      },
    )
    .get("/api/me/coupons", ({ request }) => mine.list(auth.user(request.headers.get("authorization"))), {
      response: { 200: MyCouponsReply, 401: Err("unauthorized"), 503: Err("unavailable", "upstream_unavailable") },
      detail: { ...doc, operationId: "listMyCoupons", summary: "Your coupons, newest first: code, event, when issued, whether redeemed, until when valid" },
    });

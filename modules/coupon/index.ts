import { Elysia } from "elysia";
import type { Auth } from "../../src/auth";
import { ApiError } from "../../src/http";
import { eventId } from "../events";
import { ErrorReply, EventIdParams } from "../events/model";
import { CouponState, Issued, type CouponApi } from "./model";

const errors = {
  event_not_found: [404, "no such event"],
  not_open: [409, "the event is not open"],
  already_issued: [409, "you already have this event's coupon"],
  sold_out: [410, "no coupons left"],
  not_admitted: [403, "you hold no running slot for this event; enter (and wait) first"],
} as const;

const doc = { tags: ["user"], security: [{ bearer: [] }] };

/** The business API: issue a coupon, and ask whether one was issued and persisted. */
export const couponModule = (coupons: CouponApi, auth: Auth) =>
  new Elysia({ name: "coupon" })
    .post(
      "/api/events/:id/issue",
      async ({ params, request, set }) => {
        const user = auth.user(request.headers.get("authorization"));
        const id = eventId(params.id);
        const r = await coupons.issue(id, user);
        if (r.status !== "issued") {
          const [status, message] = errors[r.status];
          throw new ApiError(status, r.status, message);
        }
        set.status = 201;
        return { status: "issued" as const, eventId: id, userId: user };
      },
      {
        params: EventIdParams,
        response: { 201: Issued, 401: ErrorReply, 403: ErrorReply, 404: ErrorReply, 409: ErrorReply, 410: ErrorReply },
        detail: { ...doc, summary: "Issue the coupon: admission, stock and one-per-user decided atomically; 201 is a promise the row will exist" },
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
        response: { 200: CouponState, 401: ErrorReply, 404: ErrorReply },
        detail: { ...doc, summary: "Whether you were issued this event's coupon, and whether its row is persisted" },
      },
    );

import { Elysia, t } from "elysia";
import { internalGuard, USER_ID } from "../../src/auth";
import type { Mysql } from "../../src/db";
import { eventId } from "../events";
import { EventIdParams } from "../events/model";
import { isPersisted } from "./service";

const Body = t.Object({ userId: t.String({ pattern: USER_ID.source }) }, { additionalProperties: false });

/**
 * Whether a user's coupon row is in MySQL, for a split router: it has no MySQL, and its on_turn
 * `issued` replies (enter, poll) carry `persisted`. Service-to-service only (INTERNAL_TOKEN).
 */
export const couponInternalModule = (mysql: Mysql, internalToken: string) =>
  new Elysia({ name: "coupon-internal" }).guard(internalGuard(internalToken), (app) =>
    app.post("/internal/events/:id/persisted", async ({ params, body }) => ({ persisted: await isPersisted(mysql, eventId(params.id), body.userId) }), { params: EventIdParams, body: Body }),
  );

/**
 * The router's side: asks the coupon process. An answer it cannot get (that process down or slow)
 * is `false`, "not known to be persisted yet", as the reply's field promises no more; the page then
 * asks GET …/coupon, which the coupon process answers.
 */
export function remotePersisted(baseUrl: string, internalToken: string, timeoutMs: number) {
  return async (eventId: number, userId: string): Promise<boolean> => {
    try {
      const res = await fetch(`${baseUrl}/internal/events/${eventId}/persisted`, {
        method: "POST",
        headers: { authorization: `Bearer ${internalToken}`, "content-type": "application/json" },
        body: JSON.stringify({ userId }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      return res.ok && ((await res.json()) as { persisted?: unknown }).persisted === true;
    } catch {
      return false;
    }
  };
}

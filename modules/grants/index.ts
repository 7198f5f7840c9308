import { Elysia } from "elysia";
import { adminGuard, needsScope } from "../../src/auth";
import { route } from "../../src/docs";
import { ApiError } from "../../src/http";
import { Idempotency, idempotencyKey } from "../../src/idempotency";
import type { Kernel } from "../../src/kernel";
import { eventId } from "../events";
import { Err, EventIdParams } from "../events/model";
import { GrantBody, Granted, IdempotencyHeaders } from "./model";
import { Grants } from "./service";

/** The routes, schemas and docs (a split router documents them as it forwards them). */
export const grantRoutes = {
  grant: route("POST", "/admin/events/:id/grants", {
    params: EventIdParams,
    headers: IdempotencyHeaders,
    body: GrantBody,
    response: {
      201: Granted,
      400: Err("bad_request", "invalid_json"),
      401: Err("unauthorized"),
      404: Err("event_not_found"),
      409: Err("already_issued", "not_open", "request_in_progress"),
      410: Err("sold_out"),
      411: Err("length_required"),
      413: Err("payload_too_large"),
      422: Err("idempotency_key_reused"),
      503: Err("unavailable", "upstream_unavailable"),
      504: Err("outcome_unknown"),
    },
    detail: {
      tags: ["shop"],
      ...needsScope("events:write"),
      operationId: "grantCoupon",
      summary: "Give a user a coupon outside the line (make-good, support): counted against the stock with the issue's atomic check (409 already_issued, 410 sold_out); any status but cancelled; Idempotency-Key honoured",
    },
  }),
};

/** Grants (the coupon role: they run the coupon rule on its strict Redis connection). */
export function grantsModule(k: Kernel) {
  const idempotency = new Idempotency(k.redis, k.config.keyPrefix);
  const grants = k.issueRedis ? new Grants(k.issueRedis, k.events!, k.config.keyPrefix, k.reconciler!.gate) : null;
  const R = grantRoutes;
  return new Elysia({ name: "grants" }).guard(adminGuard(k.auth), (admin) =>
    admin.post(R.grant.path, async ({ params, body, request, set }) => {
      const id = eventId(params.id);
      if (!grants) throw new ApiError(503, "unavailable", "grants need ISSUE_STRATEGY=redis");
      const actor = k.auth.principal(request)!;
      const reply = await idempotency.run(idempotencyKey(request), `grant:${id}`, `${actor.actor}:${actor.keyId ?? 0}`, body, async () => {
        const { code } = await grants.grant(id, body.userId);
        await k.audit(request, { action: "grant", eventId: id, target: code, before: null, after: { userId: body.userId, code, reason: body.reason } });
        return { status: 201, body: { status: "issued" as const, eventId: id, userId: body.userId, code, reason: body.reason } };
      });
      if (reply.replayed) set.headers["idempotent-replayed"] = "true";
      set.status = reply.status;
      return reply.body;
    }, R.grant.hook),
  );
}

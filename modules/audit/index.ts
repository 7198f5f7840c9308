import { Elysia } from "elysia";
import { adminGuard, needsScope } from "../../src/auth";
import { route } from "../../src/docs";
import type { Kernel } from "../../src/kernel";
import { Err, queryInt } from "../events/model";
import { AuditPage, AuditQuery } from "./model";

/**
 * The audit trail of admin writes (contract: "Operator" → Audit).
 *
 * Recording an entry, from any module's admin route, once its write has taken effect:
 *
 *     await k.audit(request, { action: "void", eventId, target: code, before: { voidedAt: null }, after: { voidedAt, reason } });
 *
 * The actor (the API key's name, `root` for ADMIN_TOKEN) comes from the admin guard's check of that
 * request; `changed(fields, before, after)` (./service) picks the touched fields out of two views.
 * A failing insert never fails the write it records: it is retried in the background.
 */
export const auditRoutes = {
  list: route("GET", "/admin/audit", {
    query: AuditQuery,
    response: { 200: AuditPage, 400: Err("bad_request"), 401: Err("unauthorized"), 503: Err("unavailable", "upstream_unavailable") },
    detail: {
      ...needsScope("audit:read"),
      tags: ["admin"],
      operationId: "listAudit",
      summary: "The audit trail: who (key name, `root` for ADMIN_TOKEN) did which admin write when, with the fields before and after; newest first, optionally of one event",
    },
  }),
};

export { changed, type AuditAction, type AuditEntry } from "./service";

/** The audit trail's route (the coupon role, which has MySQL, serves it). */
export function auditModule(k: Kernel) {
  const trail = k.auditTrail!;
  k.lifecycle.stop(() => trail.flush());
  const R = auditRoutes;
  return new Elysia({ name: "audit" }).guard(adminGuard(k.auth), (admin) =>
    admin.get(
      R.list.path,
      ({ query }) =>
        trail.list({
          eventId: query.eventId === undefined ? undefined : Number(query.eventId),
          after: query.after === undefined ? undefined : Number(query.after),
          limit: queryInt(query.limit, 50, 500, "limit"),
        }),
      R.list.hook,
    ),
  );
}

import { Elysia } from "elysia";
import { adminGuard, needsScope } from "../../src/auth";
import { route } from "../../src/docs";
import { ApiError } from "../../src/http";
import type { Kernel } from "../../src/kernel";
import { eventId } from "../events";
import { Err, EventIdParams, eventStatus, queryInt } from "../events/model";
import { notFound } from "../events/service";
import { DeliveriesQuery, DeliveryDetail, DeliveryPage, DeliveryParams } from "./model";
import { getDelivery, listDeliveries, redeliver } from "./outbox";
import { WebhookDispatcher } from "./service";
import { StatusWatcher } from "./status";

const doc = { tags: ["shop"] };
const unavailable = Err("unavailable", "upstream_unavailable");
const noDelivery = () => new ApiError(404, "not_found", "no webhook delivery has this id");

/** A delivery id as given: `123` or its webhook-id `msg_123`; anything else names none. */
function deliveryId(raw: string): number {
  const m = /^(?:msg_)?([1-9][0-9]{0,15})$/.exec(raw);
  if (!m) throw noDelivery();
  return Number(m[1]);
}

/** The routes, schemas and docs (a split router documents them as it forwards them). */
export const webhookRoutes = {
  list: route("GET", "/admin/events/:id/webhooks", {
    params: EventIdParams,
    query: DeliveriesQuery,
    response: { 200: DeliveryPage, 400: Err("bad_request"), 401: Err("unauthorized"), 404: Err("event_not_found"), 503: unavailable },
    detail: { ...doc, ...needsScope("webhooks"), operationId: "listWebhookDeliveries", summary: "The event's webhook deliveries, oldest first: type, status, attempts, the last error, when next tried; page with `after` = the previous `next`" },
  }),
  get: route("GET", "/admin/webhooks/:id", {
    params: DeliveryParams,
    response: { 200: DeliveryDetail, 401: Err("unauthorized"), 404: Err("not_found"), 503: unavailable },
    detail: { ...doc, ...needsScope("webhooks"), operationId: "getWebhookDelivery", summary: "One webhook delivery with the body it sends" },
  }),
  redeliver: route("POST", "/admin/webhooks/:id/redeliver", {
    params: DeliveryParams,
    response: { 202: DeliveryDetail, 401: Err("unauthorized"), 404: Err("not_found"), 503: unavailable },
    detail: {
      ...doc,
      ...needsScope("webhooks"),
      operationId: "redeliverWebhook",
      summary: "Send a delivery again now (delivered or not, whatever its backoff says), with the same webhook-id; 202: the issuer's dispatcher sends it within WEBHOOK_POLL_MS",
    },
  }),
};
const R = webhookRoutes;

/** The delivery log and redeliver, for the shop's backend and the admin page (the coupon role, which has MySQL). */
export function webhookAdminModule(k: Kernel) {
  const mysql = k.mysql!;
  const exists = async (id: number) => {
    const [[row]] = (await mysql.pool.query("SELECT 1 AS one FROM coupon_events WHERE id = ?", [id])) as [unknown[], unknown];
    if (!row) throw notFound();
  };
  return new Elysia({ name: "webhook-admin" }).guard(adminGuard(k.auth), (admin) =>
    admin
      .get(R.list.path, async ({ params, query }) => {
        const id = eventId(params.id);
        await exists(id);
        return listDeliveries(mysql.pool, id, query.after === undefined ? 0 : Number(query.after), queryInt(query.limit, 50, 500, "limit"));
      }, R.list.hook)
      .get(R.get.path, async ({ params }) => {
        const found = await getDelivery(mysql.pool, deliveryId(params.id));
        if (!found) throw noDelivery();
        return found;
      }, R.get.hook)
      .post(R.redeliver.path, async ({ params, request, set }) => {
        const id = deliveryId(params.id);
        const before = await getDelivery(mysql.pool, id);
        if (!before) throw noDelivery();
        const after = await redeliver(mysql.pool, id);
        if (!after) throw noDelivery();
        // in one process (ROLE=all) the dispatcher looks at once; elsewhere within WEBHOOK_POLL_MS
        k.parts.webhooks?.poke();
        await k.audit(request, { action: "redeliver", eventId: before.eventId, target: before.webhookId, before: { status: before.status, nextAttemptAt: before.nextAttemptAt }, after: { nextAttemptAt: after.nextAttemptAt } });
        set.status = 202;
        return after;
      }, R.redeliver.hook),
  );
}

/**
 * Webhook deliveries and the status watcher, run beside the issuer (never inside its loop) by the
 * processes that persist. Signing needs WEBHOOK_SECRET: without it such a process refuses to start
 * while any event has a webhookUrl (rather than leave deliveries unsent).
 */
export async function webhooksModule(k: Kernel) {
  const { config, metrics } = k;
  const mysql = k.mysql!;
  if (!config.webhookSecret) {
    const [rows] = (await mysql.pool.query("SELECT id FROM coupon_events WHERE webhook_url IS NOT NULL ORDER BY id LIMIT 5")) as [{ id: number }[], unknown];
    if (rows.length) throw new Error(`WEBHOOK_SECRET required when any event has a webhookUrl (events ${rows.map((r) => r.id).join(", ")}${rows.length === 5 ? ", …" : ""})`);
    return new Elysia({ name: "webhooks" });
  }
  const webhooks = (k.parts.webhooks = new WebhookDispatcher(mysql, config.webhookSecret, config.webhooks));
  const events = k.events!;
  const watcher = new StatusWatcher(mysql, async (id) => {
    const meta = await events.readMeta(id);
    return meta && eventStatus(meta);
  }, config.webhooks.pollMs);
  webhooks.onTick = () => watcher.tick();
  webhooks.onAttempt = (outcome) => (outcome === "delivered" ? metrics.webhookDelivered() : metrics.webhookFailed());
  webhooks.onPending = (n, oldest) => metrics.webhookOutboxPending(n, oldest);
  k.lifecycle.start(() => webhooks.start());
  k.lifecycle.stop(() => webhooks.stop());
  return new Elysia({ name: "webhooks" });
}

import { Elysia } from "elysia";
import type { Kernel } from "../../src/kernel";
import { WebhookDispatcher } from "./service";

/**
 * Webhook deliveries, run beside the issuer (never inside its loop) by the processes that persist.
 * Signing needs WEBHOOK_SECRET: without it such a process refuses to start while any event has a
 * webhookUrl (rather than leave deliveries unsent).
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
  webhooks.onAttempt = (outcome) => (outcome === "delivered" ? metrics.webhookDelivered() : metrics.webhookFailed());
  webhooks.onPending = (n) => metrics.webhookOutboxPending(n);
  k.lifecycle.start(() => webhooks.start());
  k.lifecycle.stop(() => webhooks.stop());
  return new Elysia({ name: "webhooks" });
}

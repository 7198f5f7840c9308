import { t } from "elysia";
import { documentedAs } from "../../src/docs";
import { Int, Limit } from "../events/model";

export const DeliveryParams = t.Object({
  // checked as text (the handler answers 404 for anything that names no delivery): its webhook-id `msg_<id>` is accepted too
  id: documentedAs(t.String({ maxLength: 40 }), { type: "integer", minimum: 1, description: "the delivery's id (its webhook-id, `msg_<id>`, is accepted too)" }),
});

export const DeliveriesQuery = t.Object(
  {
    after: t.Optional(documentedAs(t.String({ pattern: "^(0|[1-9][0-9]{0,17})$" }), { type: "integer", minimum: 0, description: "the `next` of the page before" })),
    limit: t.Optional(Limit(500, 50)),
  },
  { additionalProperties: false },
);

const Iso = t.String({ description: "ISO-8601, UTC" });
const NullableIso = t.Union([Iso, t.Null()]);

export const Delivery = t.Object(
  {
    id: Int({ minimum: 1 }),
    webhookId: t.String({ description: "the `webhook-id` header of every attempt: `msg_<id>`" }),
    eventId: Int({ minimum: 1 }),
    type: t.String({ description: "coupon.issued, coupon.redeemed, coupon.unredeemed, coupon.voided or event.status_changed" }),
    status: t.Union([t.Literal("pending"), t.Literal("retrying"), t.Literal("delivered")], {
      description: "pending: not attempted yet; retrying: attempted and failed, tried again at nextAttemptAt; delivered: the receiver answered 2xx",
    }),
    attempts: Int({ minimum: 0 }),
    lastError: t.Union([t.String(), t.Null()], { description: "why the last attempt failed (HTTP status, timeout, refused target)" }),
    nextAttemptAt: NullableIso,
    deliveredAt: NullableIso,
    createdAt: Iso,
  },
  { $id: "WebhookDelivery", description: "one webhook message to the event's webhookUrl and how its delivery goes" },
);

export const DeliveryPage = t.Object(
  {
    deliveries: t.Array(Delivery),
    next: t.Union([Int({ minimum: 1 }), t.Null()], { description: "pass as `after` for the next page; null on the last one" }),
  },
  { $id: "WebhookDeliveryPage", description: "an event's webhook deliveries, oldest first" },
);

export const DeliveryDetail = t.Composite([Delivery, t.Object({ payload: t.Unknown({ description: "the body sent, exactly (one of the Webhook* schemas)" }) })], {
  $id: "WebhookDeliveryDetail",
  description: "a delivery with the body it sends",
});

// The payloads the receiver gets: named schemas, so a shop's generated client has their types.
const envelope = <T extends string>(type: T, data: ReturnType<typeof t.Object>, $id: string, description: string) =>
  t.Object(
    {
      type: t.Literal(type),
      timestamp: t.String({ description: "when it happened (ISO-8601, UTC); the webhook-timestamp header is the attempt's time" }),
      data,
    },
    { $id, description },
  );

const CouponChange = (what: string) =>
  t.Object({
    eventId: Int({ minimum: 1 }),
    userId: t.String(),
    code: t.String(),
    orderId: t.Optional(t.String({ description: `the order ${what}` })),
    reason: t.Optional(t.String({ description: "the reason given (void)" })),
  });

export const WEBHOOK_PAYLOADS = {
  "coupon.issued": envelope(
    "coupon.issued",
    t.Object({ eventId: Int({ minimum: 1 }), issues: t.Array(t.Object({ userId: t.String(), code: t.String(), issuedAt: t.String() })) }),
    "WebhookCouponIssued",
    "coupons persisted in MySQL (one message per persisted batch; grants included)",
  ),
  "coupon.redeemed": envelope("coupon.redeemed", CouponChange("it was redeemed on"), "WebhookCouponRedeemed", "a coupon redeemed on an order"),
  "coupon.unredeemed": envelope("coupon.unredeemed", CouponChange("that was cancelled"), "WebhookCouponUnredeemed", "a redemption undone (the order was cancelled): the coupon is usable again"),
  "coupon.voided": envelope("coupon.voided", CouponChange("it had been redeemed on, if any"), "WebhookCouponVoided", "a coupon voided: it can no longer be redeemed (its stock is not given back)"),
  "event.status_changed": envelope(
    "event.status_changed",
    t.Object({ eventId: Int({ minimum: 1 }), status: t.String(), previous: t.String() }),
    "WebhookEventStatusChanged",
    "the event's status changed (scheduled, open, paused, sold_out, closed, cancelled)",
  ),
};

const HEADERS = [
  ["webhook-id", "unique per message, the same on every attempt (`msg_<id>`): deduplicate on it"],
  ["webhook-timestamp", "Unix seconds of this attempt; refuse one too old (replays)"],
  ["webhook-signature", "`v1,<base64 HMAC-SHA256 of \"<webhook-id>.<webhook-timestamp>.<raw body>\">` keyed with WEBHOOK_SECRET"],
] as const;

/**
 * The webhooks as operations a receiver implements (OpenAPI 3.1 `webhooks`; in this 3.0 document
 * `x-webhooks`, which documentation tools read the same way). Schemas are resolved by modules/ops/docs.ts.
 */
export const webhookOperations = () =>
  Object.fromEntries(
    Object.entries(WEBHOOK_PAYLOADS).map(([type, schema]) => [
      type,
      {
        post: {
          operationId: `webhook_${type.replace(".", "_")}`,
          tags: ["shop"],
          summary: `${type}: ${schema.description}`,
          description: "Sent to the event's webhookUrl by the Standard Webhooks scheme (verify with the `standardwebhooks` package). At least once: deduplicate on webhook-id. Answer 2xx within WEBHOOK_TIMEOUT_MS; anything else is retried with backoff.",
          parameters: HEADERS.map(([name, description]) => ({ name, in: "header", required: true, description, schema: { type: "string" } })),
          requestBody: { required: true, content: { "application/json": { schema } } },
          responses: { "2XX": { description: "accepted" } },
        },
      },
    ]),
  );

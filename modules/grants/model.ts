import { t } from "elysia";
import { Int } from "../events/model";
import { Reason } from "../redemption/model";

export const GrantBody = t.Object(
  {
    userId: t.String({ minLength: 1, maxLength: 64, pattern: "^[A-Za-z0-9_-]+$", description: "the user (their JWT's `sub`) who gets the coupon" }),
    reason: Reason,
  },
  { $id: "Grant", additionalProperties: false },
);

export const Granted = t.Object(
  {
    status: t.Literal("issued"),
    eventId: Int({ minimum: 1 }),
    userId: t.String(),
    code: t.String({ description: "the coupon code: unique, unguessable, the user's to redeem" }),
    reason: t.String(),
  },
  { $id: "Granted", description: "granted: counted against the stock like an issue; a promise that the MySQL row will exist (coupon routes answer 409 pending until it does)" },
);

export const IdempotencyHeaders = t.Object({
  "idempotency-key": t.Optional(
    t.String({ maxLength: 64, description: "the same key and body within 24 h get the same reply and create nothing twice; the same key with another body: 422 idempotency_key_reused" }),
  ),
});

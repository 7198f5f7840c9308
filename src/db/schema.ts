import { bigint, boolean, datetime, index, int, mediumtext, mysqlTable, uniqueIndex, varchar } from "drizzle-orm/mysql-core";

export const couponEvents = mysqlTable("coupon_events", {
  id: int("id").autoincrement().primaryKey(),
  name: varchar("name", { length: 200 }).notNull(),
  stock: int("stock").notNull(),
  // Rows in coupon_issues for this event, moved only in the same transaction that inserts them and
  // only while it stays <= stock: MySQL's own last line against over-issue, whatever Redis says.
  persisted: int("persisted").notNull().default(0),
  trafficRpm: int("traffic_rpm").notNull(),
  runningCapacity: int("running_capacity").notNull(),
  admitPerSecond: int("admit_per_second").notNull(),
  maxWaiting: int("max_waiting").notNull().default(0),
  queueOpensAt: datetime("queue_opens_at", { fsp: 3 }),
  startsAt: datetime("starts_at", { fsp: 3 }).notNull(),
  endsAt: datetime("ends_at", { fsp: 3 }),
  couponValidUntil: datetime("coupon_valid_until", { fsp: 3 }),
  webhookUrl: varchar("webhook_url", { length: 2048 }),
  // the operator's word to the people waiting ("" = none), shown on the event page and in the waiting room
  message: varchar("message", { length: 280 }).notNull().default(""),
  // the shop's brand on the pages, as the JSON the API takes ({shopName, logoUrl, accentColor, returnUrl}); null = none
  brand: varchar("brand", { length: 5000 }),
  // The bot gate's difficulty (proof of work of about 2^n hashes before POST /enter); null = off.
  botPow: int("bot_pow"),
  paused: boolean("paused").notNull().default(false),
  // "manual": an admitted user presses issue; "on_turn": the scheduler issues when the user's turn comes
  claim: varchar("claim", { length: 10 }).notNull().default("manual"),
  // null: the QUEUE_SLOT_TTL_MS / QUEUE_WAITER_TIMEOUT_MS defaults
  slotSeconds: int("slot_seconds"),
  graceSeconds: int("grace_seconds"),
  closed: boolean("closed").notNull().default(false),
  cancelled: boolean("cancelled").notNull().default(false),
  // Bumped by every reconciliation of the event's Redis state: issuances stamped with an older
  // epoch were made before it and are checked against the rebuilt state before they are stored.
  redisEpoch: int("redis_epoch").notNull().default(0),
  // The pre-queue draw (kept so anyone can recompute the order after the start).
  drawSeed: varchar("draw_seed", { length: 64 }),
  drawnAt: datetime("drawn_at", { fsp: 3 }),
  // The status last announced by an event.status_changed webhook (modules/webhooks/status.ts): moved
  // only together with the delivery that announces the change, so each change is announced once.
  webhookStatus: varchar("webhook_status", { length: 16 }),
  createdAt: datetime("created_at", { fsp: 3 }).notNull(),
});

export const couponIssues = mysqlTable(
  "coupon_issues",
  {
    id: bigint("id", { mode: "number", unsigned: true }).autoincrement().primaryKey(),
    eventId: int("event_id").notNull(),
    // ascii_bin (migration 0001): ids are case-sensitive, like everywhere else in the system
    userId: varchar("user_id", { length: 64 }).notNull(),
    // made before the issue script runs, so the 201, the stream entry and this row carry the same code
    code: varchar("code", { length: 32 }).notNull(),
    issuedAt: datetime("issued_at", { fsp: 3 }).notNull(),
    redeemedAt: datetime("redeemed_at", { fsp: 3 }),
    orderId: varchar("order_id", { length: 128 }),
    // a void coupon can no longer be redeemed (its stock is not given back)
    voidedAt: datetime("voided_at", { fsp: 3 }),
    voidReason: varchar("void_reason", { length: 200 }),
    // The Redis stream entry that produced the row (null for the db-lock strategy): lets an operator
    // trace any row back to the accepted request.
    streamId: varchar("stream_id", { length: 40 }),
  },
  (t) => [
    uniqueIndex("uq_event_user").on(t.eventId, t.userId),
    uniqueIndex("uq_code").on(t.code),
    index("ix_event_issued").on(t.eventId, t.issuedAt),
    index("ix_user").on(t.userId),
  ],
);

/**
 * Webhook deliveries (modules/webhooks): one row per message to an event's webhookUrl — a persisted
 * batch of issues, a redeem, unredeem or void, a status change — written in the same transaction as
 * what it announces (so a delivery exists exactly when its cause does) and delivered later, with
 * retries, by the issuer role. `msg_<id>` is the `webhook-id` the receiver sees.
 */
export const webhookOutbox = mysqlTable(
  "webhook_outbox",
  {
    id: bigint("id", { mode: "number", unsigned: true }).autoincrement().primaryKey(),
    eventId: int("event_id").notNull(),
    // the Standard Webhooks event type: coupon.issued, coupon.redeemed, coupon.unredeemed, coupon.voided, event.status_changed
    type: varchar("type", { length: 32 }).notNull().default("coupon.issued"),
    body: mediumtext("body").notNull(),
    attempts: int("attempts").notNull().default(0),
    nextAttemptAt: datetime("next_attempt_at", { fsp: 3 }).notNull(),
    deliveredAt: datetime("delivered_at", { fsp: 3 }),
    lastError: varchar("last_error", { length: 500 }),
    createdAt: datetime("created_at", { fsp: 3 }).notNull(),
  },
  (t) => [index("ix_due").on(t.deliveredAt, t.nextAttemptAt), index("ix_event").on(t.eventId)],
);

/**
 * The audit trail (modules/audit): one row per admin write, who (the key's name, `root` for
 * ADMIN_TOKEN), when, what, on which event or thing, and the fields before and after (JSON).
 */
export const adminAudit = mysqlTable(
  "admin_audit",
  {
    id: bigint("id", { mode: "number", unsigned: true }).autoincrement().primaryKey(),
    at: datetime("at", { fsp: 3 }).notNull(),
    actor: varchar("actor", { length: 64 }).notNull(),
    // the API key behind `actor` (null for root): names may be reused after a key is revoked
    keyId: int("key_id"),
    action: varchar("action", { length: 32 }).notNull(),
    eventId: int("event_id"),
    // what the action was about when it is not (only) an event: a coupon code, a key id, a delivery id
    target: varchar("target", { length: 128 }),
    before: mediumtext("before"),
    after: mediumtext("after"),
  },
  (t) => [index("ix_audit_event").on(t.eventId, t.id)],
);

/**
 * API keys (modules/keys): only an HMAC-SHA256 of each key is stored. `activeName` is the name
 * while the key is live (NULL once revoked), so live keys have unique names and revoked ones
 * keep theirs for the audit trail.
 */
export const apiKeys = mysqlTable(
  "api_keys",
  {
    id: int("id").autoincrement().primaryKey(),
    name: varchar("name", { length: 64 }).notNull(),
    activeName: varchar("active_name", { length: 64 }),
    scopes: varchar("scopes", { length: 255 }).notNull(),
    hash: varchar("hash", { length: 64 }).notNull(),
    createdAt: datetime("created_at", { fsp: 3 }).notNull(),
    createdBy: varchar("created_by", { length: 64 }).notNull(),
    lastUsedAt: datetime("last_used_at", { fsp: 3 }),
    revokedAt: datetime("revoked_at", { fsp: 3 }),
  },
  (t) => [uniqueIndex("uq_key_hash").on(t.hash), uniqueIndex("uq_key_active_name").on(t.activeName)],
);

import type { ResultSetHeader, RowDataPacket } from "mysql2";
import type { Pool, PoolConnection } from "mysql2/promise";
import { inTransaction } from "../../src/db";

/**
 * The webhook outbox: what is owed to each event's webhookUrl. A row is written in the same
 * transaction as what it announces (a persisted batch, a redeem, a void, a status change), only
 * when the event has a webhookUrl at that moment, and holds the exact body that will be signed and sent.
 */

export const WEBHOOK_TYPES = ["coupon.issued", "coupon.redeemed", "coupon.unredeemed", "coupon.voided", "event.status_changed"] as const;
export type WebhookType = (typeof WEBHOOK_TYPES)[number];

export type IssuedData = { eventId: number; issues: { userId: string; code: string; issuedAt: string }[] };
export type CouponChangeData = { eventId: number; userId: string; code: string; orderId?: string; reason?: string };
export type StatusChangedData = { eventId: number; status: string; previous: string | null };
type DataOf<T extends WebhookType> = T extends "coupon.issued" ? IssuedData : T extends "event.status_changed" ? StatusChangedData : CouponChangeData;

type Queryable = Pick<Pool, "query"> | Pick<PoolConnection, "query">;

/** The `webhook-id` of a delivery: the same on every attempt, so a receiver can tell a retry. */
export const webhookId = (id: number) => `msg_${id}`;

/** The Standard Webhooks body: `{type, timestamp, data}` (timestamp: when it happened). */
export const webhookBody = <T extends WebhookType>(type: T, data: DataOf<T>, at = new Date()) => JSON.stringify({ type, timestamp: at.toISOString(), data });

/**
 * Queues one delivery if the event has a webhookUrl, in the caller's transaction (one statement:
 * the check and the insert cannot be separated). Returns whether one was queued.
 */
export async function enqueue<T extends WebhookType>(db: Queryable, eventId: number, type: T, data: DataOf<T>, at = new Date()): Promise<boolean> {
  const [r] = (await db.query(
    "INSERT INTO webhook_outbox (event_id, type, body, next_attempt_at, created_at) SELECT id, ?, ?, ?, ? FROM coupon_events WHERE id = ? AND webhook_url IS NOT NULL",
    [type, webhookBody(type, data, at), at, at, eventId],
  )) as [ResultSetHeader, unknown];
  return r.affectedRows > 0;
}

export type DeliveryStatus = "pending" | "retrying" | "delivered";
export type Delivery = {
  id: number;
  webhookId: string;
  eventId: number;
  type: string;
  status: DeliveryStatus;
  attempts: number;
  lastError: string | null;
  nextAttemptAt: string | null;
  deliveredAt: string | null;
  createdAt: string;
};

const iso = (d: unknown) => (d instanceof Date ? d.toISOString() : null);

function view(r: RowDataPacket): Delivery {
  const delivered = r.delivered_at instanceof Date;
  const attempts = Number(r.attempts);
  return {
    id: Number(r.id),
    webhookId: webhookId(Number(r.id)),
    eventId: Number(r.event_id),
    type: String(r.type),
    status: delivered ? "delivered" : attempts > 0 ? "retrying" : "pending",
    attempts,
    lastError: r.last_error ?? null,
    nextAttemptAt: delivered ? null : iso(r.next_attempt_at),
    deliveredAt: iso(r.delivered_at),
    createdAt: iso(r.created_at)!,
  };
}

const COLUMNS = "id, event_id, type, attempts, last_error, next_attempt_at, delivered_at, created_at";

/** One page of an event's deliveries, oldest first, after the delivery id `after`. */
export async function listDeliveries(db: Queryable, eventId: number, after: number, limit: number): Promise<{ deliveries: Delivery[]; next: number | null }> {
  const [rows] = (await db.query(`SELECT ${COLUMNS} FROM webhook_outbox WHERE event_id = ? AND id > ? ORDER BY id LIMIT ?`, [eventId, after, limit + 1])) as [RowDataPacket[], unknown];
  const page = rows.slice(0, limit).map(view);
  return { deliveries: page, next: rows.length > limit ? page[page.length - 1]!.id : null };
}

/** One delivery with the body it sends (null: no such delivery). */
export async function getDelivery(db: Queryable, id: number): Promise<(Delivery & { payload: unknown }) | null> {
  const [[row]] = (await db.query(`SELECT ${COLUMNS}, body FROM webhook_outbox WHERE id = ?`, [id])) as [RowDataPacket[], unknown];
  return row ? { ...view(row), payload: JSON.parse(String(row.body)) } : null;
}

/**
 * Schedules a delivery for now, delivered or not (a receiver that lost it, or one fixed after
 * failures): the next dispatcher turn sends it, with the same webhook-id. Null: no such delivery.
 */
export async function redeliver(pool: Pool, id: number): Promise<Delivery | null> {
  // the row stays locked until the commit: a dispatcher claiming it meanwhile waits, so the reply
  // is the schedule written here, not the dispatcher's lease on it
  return inTransaction(pool, async (conn) => {
    const [r] = (await conn.query("UPDATE webhook_outbox SET delivered_at = NULL, next_attempt_at = ? WHERE id = ?", [new Date(), id])) as [ResultSetHeader, unknown];
    return r.affectedRows ? (await getDelivery(conn, id))! : null;
  });
}

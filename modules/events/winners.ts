import type { RowDataPacket } from "mysql2";
import type { Mysql } from "../../src/db";
import { ApiError } from "../../src/http";
import { notFound } from "./service";

/** A position in an event's winners, in the order of issuance: (issued at, row id). */
type Cursor = { issuedAt: number; id: number };

export type Winner = { userId: string; code: string; issuedAt: string; redeemedAt: string | null; orderId: string | null };

// keyset pages: each is one range read on ix_event_issued (event_id, issued_at[, id]), however deep
const PAGE_SQL =
  "SELECT id, user_id, code, issued_at, redeemed_at, order_id FROM coupon_issues WHERE event_id = ? AND (issued_at > ? OR (issued_at = ? AND id > ?)) ORDER BY issued_at, id LIMIT ?";
const CSV_CHUNK = 2000;

/** The opaque `next` cursor: base64url of "<issued at ms>.<row id>". */
export function encodeCursor(c: Cursor): string {
  return Buffer.from(`${c.issuedAt}.${c.id}`).toString("base64url");
}

export function decodeCursor(raw: string): Cursor {
  const bad = () => new ApiError(400, "bad_request", "after must be a cursor returned as `next` by this route");
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(raw)) throw bad();
  const m = /^(\d{1,15})\.(\d{1,19})$/.exec(Buffer.from(raw, "base64url").toString("latin1"));
  if (!m) throw bad();
  const c = { issuedAt: Number(m[1]), id: Number(m[2]) };
  if (!Number.isSafeInteger(c.id)) throw bad();
  return c;
}

const START: Cursor = { issuedAt: 0, id: 0 };

/**
 * An event's winners (its rows in coupon_issues) in the order they were issued: JSON pages behind a
 * cursor, or every row as CSV, streamed in keyset-paged chunks so that a million rows never sit in
 * memory at once. Rows a reconciliation adopts or a dead-letter replay stores late carry their
 * original issue time and may land behind a cursor already handed out: for a complete list, export
 * once the event's `pending` is 0.
 */
export class Winners {
  constructor(private readonly mysql: Mysql) {}

  private async ensureEvent(eventId: number) {
    const [rows] = await this.mysql.pool.query<RowDataPacket[]>("SELECT id FROM coupon_events WHERE id = ?", [eventId]);
    if (!rows.length) throw notFound();
  }

  private async rows(eventId: number, after: Cursor, limit: number) {
    const at = new Date(after.issuedAt);
    const [rows] = await this.mysql.pool.query<RowDataPacket[]>(PAGE_SQL, [eventId, at, at, after.id, limit]);
    return rows;
  }

  async page(eventId: number, after: string | undefined, limit: number): Promise<{ issues: Winner[]; next: string | null }> {
    const cursor = after === undefined ? START : decodeCursor(after);
    await this.ensureEvent(eventId);
    const rows = await this.rows(eventId, cursor, limit + 1);
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      issues: page.map(winner),
      next: rows.length > limit && last ? encodeCursor({ issuedAt: (last.issued_at as Date).getTime(), id: Number(last.id) }) : null,
    };
  }

  /** Every row as CSV with a header line; each chunk is read only when the client has taken the previous one. */
  async csv(eventId: number): Promise<ReadableStream<Uint8Array>> {
    await this.ensureEvent(eventId);
    const enc = new TextEncoder();
    let cursor = START;
    return new ReadableStream<Uint8Array>(
      {
        start: (controller) => controller.enqueue(enc.encode("userId,code,issuedAt,redeemedAt,orderId\r\n")),
        pull: async (controller) => {
          const rows = await this.rows(eventId, cursor, CSV_CHUNK);
          if (rows.length) {
            controller.enqueue(enc.encode(rows.map((r) => csvLine(winner(r))).join("")));
            const last = rows[rows.length - 1]!;
            cursor = { issuedAt: (last.issued_at as Date).getTime(), id: Number(last.id) };
          }
          if (rows.length < CSV_CHUNK) controller.close();
        },
      },
      // one chunk ahead at most: the next read waits until the client has taken the one before
      { highWaterMark: 1 },
    );
  }
}

function winner(r: RowDataPacket): Winner {
  return {
    userId: r.user_id,
    code: r.code,
    issuedAt: (r.issued_at as Date).toISOString(),
    redeemedAt: r.redeemed_at ? (r.redeemed_at as Date).toISOString() : null,
    orderId: r.order_id ?? null,
  };
}

/**
 * One RFC 4180 field. The order id comes from the shop's callers: one that starts like a formula
 * (= + - @, tab, CR) gets a leading apostrophe, so a spreadsheet shows it as text instead of running
 * it. User ids ([A-Za-z0-9_-]), codes and dates cannot form a formula that does anything, and are
 * kept exactly as they are so an import matches the API.
 */
export function csvField(value: string | null, untrusted = false): string {
  if (value === null) return "";
  let v = value;
  if (untrusted && /^[=+\-@\t\r]/.test(v)) v = `'${v}`;
  return /[",\r\n]/.test(v) || v !== value ? `"${v.replace(/"/g, '""')}"` : v;
}

function csvLine(w: Winner): string {
  return `${csvField(w.userId)},${csvField(w.code)},${csvField(w.issuedAt)},${csvField(w.redeemedAt)},${csvField(w.orderId, true)}\r\n`;
}

import type { ResultSetHeader, RowDataPacket } from "mysql2";
import { inTransaction, type Mysql } from "../../src/db";
import { enqueue } from "./outbox";

/** An event's status as every reader sees it now (from its Redis state), or null when it cannot be read. */
export type StatusOf = (eventId: number) => Promise<string | null>;

// a closed event is still watched this long after its end (an endsAt moved later reopens it)
const CLOSED_WATCH_MS = 86_400_000;
const WATCHED_MAX = 1000;

/**
 * Sends event.status_changed. A status changes by an operator's control, by the clock (startsAt,
 * endsAt) and by stock (sold out, reopened by a raise): rather than hook every cause, the status
 * of each event with a webhookUrl is looked at every `everyMs` and compared with the last one
 * announced (coupon_events.webhook_status). The announcement and the delivery are written in one
 * transaction guarded by the old value, so with several watchers each change is announced once.
 * The first status seen for an event (a new event, a webhookUrl just set) is recorded, not announced.
 * A change undone within one look (a pause resumed at once) may go unannounced.
 */
export class StatusWatcher {
  private last = 0;
  // each watched event's webhookUrl as last seen by this process
  private readonly urls = new Map<number, string>();

  constructor(
    private readonly mysql: Mysql,
    private readonly statusOf: StatusOf,
    private readonly everyMs: number,
  ) {}

  async tick(): Promise<number> {
    if (Date.now() - this.last < this.everyMs) return 0;
    this.last = Date.now();
    const [rows] = await this.mysql.pool.query<RowDataPacket[]>(
      `SELECT id, webhook_status, webhook_url FROM coupon_events
        WHERE webhook_url IS NOT NULL AND NOT (webhook_status <=> 'cancelled')
          AND NOT (webhook_status <=> 'closed' AND (closed = 1 OR ends_at < ?))
        ORDER BY id DESC LIMIT ?`,
      [new Date(Date.now() - CLOSED_WATCH_MS), WATCHED_MAX],
    );
    await this.urlsChanged(rows);
    const now = await Promise.all(rows.map((r) => this.statusOf(Number(r.id)).catch(() => null)));
    let announced = 0;
    for (const [i, r] of rows.entries()) {
      const status = now[i];
      const previous = (r.webhook_status as string | null) ?? null;
      if (!status || status === previous) continue;
      if (previous === null) await this.mysql.pool.query("UPDATE coupon_events SET webhook_status = ? WHERE id = ? AND webhook_status IS NULL", [status, r.id]);
      else if (await this.announce(Number(r.id), status, previous)) announced++;
    }
    return announced;
  }

  /**
   * A webhookUrl changed (the shop moved or fixed its endpoint): what is still owed to the event is
   * due now, not after the backoff earned at the old address. Seen by every watcher; doing it twice is harmless.
   */
  private async urlsChanged(rows: RowDataPacket[]) {
    for (const r of rows) {
      const id = Number(r.id);
      const url = String(r.webhook_url);
      const before = this.urls.get(id);
      this.urls.set(id, url);
      if (before !== undefined && before !== url)
        await this.mysql.pool.query("UPDATE webhook_outbox SET next_attempt_at = ? WHERE event_id = ? AND delivered_at IS NULL AND next_attempt_at > ?", [new Date(), id, new Date()]);
    }
  }

  private announce(eventId: number, status: string, previous: string): Promise<boolean> {
    return inTransaction(this.mysql.pool, async (conn) => {
      const [r] = await conn.query<ResultSetHeader>("UPDATE coupon_events SET webhook_status = ? WHERE id = ? AND webhook_status = ?", [status, eventId, previous]);
      if (r.affectedRows === 1) await enqueue(conn, eventId, "event.status_changed", { eventId, status, previous });
      return r.affectedRows === 1;
    });
  }
}

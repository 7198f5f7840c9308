import type { ResultSetHeader, RowDataPacket } from "mysql2";
import type { Principal } from "../../src/auth";
import type { Mysql } from "../../src/db";

/** Every admin write the contract audits (CONTRACT.md, "Operator" → Audit), plus `restore` and `release_unaccounted`. */
export type AuditAction =
  | "create"
  | "patch"
  | "pause"
  | "resume"
  | "close"
  | "cancel"
  | "restore"
  | "release_unaccounted"
  | "grant"
  | "void"
  | "unredeem"
  | "redeliver"
  | "dead_letter_retry"
  | "key_create"
  | "key_revoke";

/**
 * One admin write: what, on which event (and/or other thing: a coupon code, a key id, a delivery
 * id), and the fields it changed, as they were before and are after (plain JSON values; `null`
 * where there was nothing before, as for a create, or nothing after, as for a revoke).
 */
export type AuditEntry = { action: AuditAction; eventId?: number | null; target?: string | number | null; before?: unknown; after?: unknown };

export type AuditRecord = { id: number; at: string; actor: string; action: string; eventId: number | null; target: string | null; before: unknown; after: unknown };

type Row = { at: Date; actor: string; keyId: number | null; action: string; eventId: number | null; target: string | null; before: string | null; after: string | null };

const json = (v: unknown): string | null => (v === undefined || v === null ? null : JSON.stringify(v));
// a failed write is tried again this often, for this long, before it is given up (and said so)
const RETRY_MS = 1000;
const GIVE_UP_MS = 5 * 60_000;

/**
 * The audit trail: one MySQL row per admin write. `record` is called by the handler once the write
 * has taken effect (so a write the operator was told failed is never recorded as done). The write
 * it records has happened by then, so a failing insert never turns its success into an error: the
 * row is kept in memory and tried again every second for five minutes (then logged as lost).
 */
export class AuditTrail {
  private readonly backlog: { row: Row; since: number }[] = [];
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly mysql: Mysql) {}

  /** Records `entry` as done by `who` (the admin guard's principal of the request). */
  async record(who: Principal, entry: AuditEntry): Promise<void> {
    const row: Row = {
      at: new Date(),
      actor: who.actor,
      keyId: who.keyId,
      action: entry.action,
      eventId: entry.eventId ?? null,
      target: entry.target === undefined || entry.target === null ? null : String(entry.target).slice(0, 128),
      before: json(entry.before),
      after: json(entry.after),
    };
    try {
      await this.insert(row);
    } catch (e) {
      console.error(`audit: ${row.action} by ${row.actor} not written yet (${(e as Error)?.message}); retrying`);
      this.backlog.push({ row, since: Date.now() });
      this.timer ??= setInterval(() => void this.retry(), RETRY_MS);
    }
  }

  private async insert(r: Row) {
    await this.mysql.pool.query<ResultSetHeader>(
      "INSERT INTO admin_audit (at, actor, key_id, action, event_id, target, `before`, `after`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      [r.at, r.actor, r.keyId, r.action, r.eventId, r.target, r.before, r.after],
    );
  }

  private async retry() {
    while (this.backlog.length) {
      const { row, since } = this.backlog[0]!;
      try {
        await this.insert(row);
      } catch {
        if (Date.now() - since < GIVE_UP_MS) return;
        console.error(`audit: LOST entry ${JSON.stringify({ ...row, at: row.at.toISOString() })}`);
      }
      this.backlog.shift();
    }
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Writes what is still owed (at shutdown), once. */
  async flush() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const { row } of this.backlog.splice(0)) await this.insert(row).catch(() => console.error(`audit: LOST entry ${JSON.stringify({ ...row, at: row.at.toISOString() })}`));
  }

  /** Entries newest first, optionally of one event, `limit` after the cursor (an entry id). */
  async list(opts: { eventId?: number; after?: number; limit: number }): Promise<{ entries: AuditRecord[]; next: string | null }> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (opts.eventId !== undefined) where.push("event_id = ?"), args.push(opts.eventId);
    if (opts.after !== undefined) where.push("id < ?"), args.push(opts.after);
    const [rows] = await this.mysql.pool.query<RowDataPacket[]>(
      `SELECT id, at, actor, action, event_id, target, \`before\`, \`after\` FROM admin_audit ${where.length ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY id DESC LIMIT ?`,
      [...args, opts.limit + 1],
    );
    const entries = rows.slice(0, opts.limit).map((r) => ({
      id: Number(r.id),
      at: (r.at as Date).toISOString(),
      actor: r.actor as string,
      action: r.action as string,
      eventId: r.event_id === null ? null : Number(r.event_id),
      target: (r.target as string | null) ?? null,
      before: r.before === null ? null : JSON.parse(r.before),
      after: r.after === null ? null : JSON.parse(r.after),
    }));
    return { entries, next: rows.length > opts.limit ? String(entries[entries.length - 1]!.id) : null };
  }
}

/**
 * The fields a change touched, as they were and as they are: `fields` picked from two views of the
 * same thing (an event before and after a PATCH, say). A field a view lacks is left out of it.
 */
export function changed(fields: Iterable<string>, before: Record<string, unknown> | null, after: Record<string, unknown> | null) {
  const pick = (v: Record<string, unknown> | null) => (v ? Object.fromEntries([...fields].filter((f) => f in v).map((f) => [f, v[f]])) : null);
  return { before: pick(before), after: pick(after) };
}

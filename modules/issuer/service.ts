import type { ResultSetHeader } from "mysql2";
import type { Mysql } from "../../src/db";
import { eventKeys, type RedisClient } from "../../src/redis";
import { USER_ID } from "../../src/auth";
import type { Config } from "../../src/config";

export const GROUP = "issuers";

type Entry = [id: string, fields: string[]];
type Issuance = { streamId: string; eventId: number; userId: string; issuedAt: Date };

/** A MySQL failure that says nothing about the entry itself: retry later, never dead-letter for it. */
export function isTransient(err: unknown): boolean {
  const e = err as { code?: string; fatal?: boolean; message?: string };
  return (
    !!e?.fatal ||
    /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|PROTOCOL_CONNECTION_LOST|ER_CON_COUNT_ERROR|ER_LOCK_DEADLOCK|ER_LOCK_WAIT_TIMEOUT|ER_SERVER_SHUTDOWN|ER_ACCESS_DENIED_ERROR|ER_BAD_DB_ERROR|ER_NO_SUCH_TABLE)$/.test(e?.code ?? "") ||
    /Pool is closed|Connection lost|connect ETIMEDOUT|Can't add new command/i.test(e?.message ?? "")
  );
}

function parse(eventId: number, [streamId, fields]: Entry): Issuance | null {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
  const t = Number(f.t);
  if (f.e !== String(eventId) || !f.u || !USER_ID.test(f.u) || !Number.isSafeInteger(t) || t <= 0) return null;
  return { streamId, eventId, userId: f.u, issuedAt: new Date(t) };
}

export type IssuerStats = { persisted: number; batches: number; lastBatchSize: number; deadLettered: number; reclaimed: number; lagMs: number };

/**
 * Persists issuances from every event's stream into MySQL through a consumer group. An entry is
 * acknowledged (and deleted from the stream) only after its row is committed; the insert is
 * idempotent on (event_id, user_id), so a redelivered entry never makes a second row. Entries a
 * dead consumer left pending are reclaimed after `claimIdleMs`; an entry that still fails for a
 * reason of its own after `maxDeliveries` goes to the event's dead-letter stream.
 */
export class IssuerService {
  private loop: Promise<void> | null = null;
  private stopping = false;
  private readonly groups = new Set<number>();
  private lastReclaim = 0;
  private backoffMs = 0;
  readonly stats: IssuerStats = { persisted: 0, batches: 0, lastBatchSize: 0, deadLettered: 0, reclaimed: 0, lagMs: 0 };
  onBatch: ((size: number, lagMs: number, durationMs: number) => void) | null = null;

  constructor(
    private readonly redis: RedisClient,
    private readonly mysql: Mysql,
    private readonly prefix: string,
    private readonly listEvents: () => Promise<number[]>,
    private readonly cfg: Config["issuer"],
  ) {}

  start() {
    this.stopping = false;
    this.loop ??= this.run().finally(() => (this.loop = null));
  }

  /** Finishes (persists and acks) the batch in hand, then stops. */
  async stop() {
    this.stopping = true;
    await this.loop;
  }

  private async run() {
    let idle = 0;
    while (!this.stopping) {
      try {
        let n = 0;
        if (Date.now() - this.lastReclaim >= Math.min(this.cfg.claimIdleMs / 2, 5000)) {
          this.lastReclaim = Date.now();
          n += await this.reclaimAll();
        }
        n += await this.drainOnce();
        this.backoffMs = 0;
        // poll streams tightly while busy, back off to 50 ms when idle
        idle = n > 0 ? 0 : Math.min(50, idle + 5);
        if (idle) await Bun.sleep(idle);
      } catch (err) {
        this.backoffMs = Math.min(5000, Math.max(100, this.backoffMs * 2));
        console.error(`issuer: ${(err as Error)?.message ?? err}; retrying in ${this.backoffMs} ms`);
        await Bun.sleep(this.backoffMs);
      }
    }
  }

  private async ensureGroup(eventId: number) {
    if (this.groups.has(eventId)) return;
    try {
      await this.redis.xgroup("CREATE", eventKeys(this.prefix, eventId).stream, GROUP, "0", "MKSTREAM");
    } catch (e) {
      if (!String((e as Error).message).includes("BUSYGROUP")) throw e;
    }
    this.groups.add(eventId);
  }

  /** Reads one batch of new entries per event and persists them. Returns how many were read. */
  async drainOnce(): Promise<number> {
    let total = 0;
    for (const eventId of await this.listEvents()) {
      await this.ensureGroup(eventId);
      const stream = eventKeys(this.prefix, eventId).stream;
      const res = (await this.redis.xreadgroup("GROUP", GROUP, this.cfg.consumerName, "COUNT", this.cfg.batchSize, "STREAMS", stream, ">")) as [string, Entry[]][] | null;
      const entries = res?.[0]?.[1] ?? [];
      if (entries.length) await this.persist(eventId, entries);
      total += entries.length;
    }
    return total;
  }

  /** Takes over entries other consumers left pending; dead-letters those that keep failing. */
  async reclaimAll(): Promise<number> {
    let total = 0;
    for (const eventId of await this.listEvents()) {
      await this.ensureGroup(eventId);
      total += await this.reclaim(eventId);
    }
    return total;
  }

  private async reclaim(eventId: number): Promise<number> {
    const k = eventKeys(this.prefix, eventId);
    const idle = this.cfg.claimIdleMs;
    const pending = (await this.redis.xpending(k.stream, GROUP, "IDLE", idle, "-", "+", this.cfg.batchSize)) as [string, string, number, number][];
    if (!pending.length) return 0;
    const worn = pending.filter((p) => p[3] >= this.cfg.maxDeliveries).map((p) => p[0]);
    const fresh = pending.filter((p) => p[3] < this.cfg.maxDeliveries).map((p) => p[0]);
    let n = 0;
    if (fresh.length) {
      const claimed = ((await this.redis.call("XCLAIM", k.stream, GROUP, this.cfg.consumerName, idle, ...fresh)) as (Entry | null)[]).filter((e): e is Entry => !!e?.[1]);
      this.stats.reclaimed += claimed.length;
      if (claimed.length) await this.persist(eventId, claimed);
      n += claimed.length;
    }
    if (worn.length) {
      const claimed = ((await this.redis.call("XCLAIM", k.stream, GROUP, this.cfg.consumerName, idle, ...worn)) as (Entry | null)[]).filter((e): e is Entry => !!e?.[1]);
      for (const entry of claimed) await this.lastChance(eventId, entry);
      n += claimed.length;
    }
    return n;
  }

  /** Inserts a batch in one statement, then acks and deletes exactly the entries now in MySQL. */
  private async persist(eventId: number, entries: Entry[]) {
    const started = Date.now();
    const rows = entries.map((e) => parse(eventId, e)).filter((r): r is Issuance => r !== null);
    // Unparseable entries stay pending: reclaim retries them, then dead-letters them.
    if (!rows.length) return;
    try {
      await this.insert(rows);
    } catch (err) {
      if (isTransient(err)) throw err;
      // one bad row must not hold back the others: fall back to one statement per row
      const ok: Issuance[] = [];
      for (const row of rows) {
        try {
          await this.insert([row]);
          ok.push(row);
        } catch (e) {
          if (isTransient(e)) throw e;
          console.error(`issuer: entry ${row.streamId} of event ${eventId} failed: ${(e as Error).message}`);
        }
      }
      await this.ack(eventId, ok.map((r) => r.streamId));
      return this.count(ok.length, rows, started);
    }
    await this.ack(eventId, rows.map((r) => r.streamId));
    this.count(rows.length, rows, started);
  }

  private count(n: number, rows: Issuance[], started: number) {
    if (!n) return;
    this.stats.persisted += n;
    this.stats.batches++;
    this.stats.lastBatchSize = n;
    this.stats.lagMs = Date.now() - Math.min(...rows.map((r) => r.issuedAt.getTime()));
    this.onBatch?.(n, this.stats.lagMs, Date.now() - started);
  }

  private async insert(rows: Issuance[]) {
    // Idempotent on (event_id, user_id): a redelivered entry updates nothing and adds no row.
    const values = rows.map(() => "(?, ?, ?, ?)").join(",");
    await this.mysql.pool.query<ResultSetHeader>(
      `INSERT INTO coupon_issues (event_id, user_id, issued_at, stream_id) VALUES ${values} ON DUPLICATE KEY UPDATE id = id`,
      rows.flatMap((r) => [r.eventId, r.userId, r.issuedAt, r.streamId]),
    );
  }

  private async ack(eventId: number, ids: string[]) {
    if (!ids.length) return;
    const k = eventKeys(this.prefix, eventId);
    await this.redis.multi().xack(k.stream, GROUP, ...ids).xdel(k.stream, ...ids).exec();
  }

  /** An entry that failed `maxDeliveries` times gets one more try; if it fails for its own reasons it is dead-lettered. */
  private async lastChance(eventId: number, entry: Entry) {
    const row = parse(eventId, entry);
    let reason = "unparseable entry";
    if (row) {
      try {
        await this.insert([row]);
        await this.ack(eventId, [row.streamId]);
        this.count(1, [row], Date.now());
        return;
      } catch (e) {
        if (isTransient(e)) throw e;
        reason = (e as Error).message.slice(0, 500);
      }
    }
    const k = eventKeys(this.prefix, eventId);
    await this.redis
      .multi()
      .xadd(k.dead, "*", ...entry[1], "source", entry[0], "reason", reason, "deadAt", String(Date.now()))
      .xack(k.stream, GROUP, entry[0])
      .xdel(k.stream, entry[0])
      .exec();
    this.stats.deadLettered++;
    console.error(`issuer: dead-lettered entry ${entry[0]} of event ${eventId}: ${reason}`);
  }
}

import type { ResultSetHeader, RowDataPacket } from "mysql2";
import type { PoolConnection } from "mysql2/promise";
import { inTransaction, type Mysql } from "../../src/db";
import { eventKeys, runScript, type RedisClient } from "../../src/redis";
import { USER_ID } from "../../src/auth";
import type { Config } from "../../src/config";
import { OutageLog } from "../../src/outage";
import { newCode, normalizeCode } from "../coupon/code";
import { entryFields, Held } from "./held";
import { Retirement } from "./retire";

export { entryFields, HOLD_TTL_MS } from "./held";
import { enqueue } from "../webhooks/outbox";

export const GROUP = "issuers";
// how often ended, drained events are taken out of the live set (retire.ts)
const RETIRE_EVERY_MS = 5000;

export type Entry = [id: string, fields: string[]];
// coded: the entry carried its code (every entry since codes exist; an older one gets one when stored)
type Issuance = { streamId: string; eventId: number; userId: string; code: string; issuedAt: Date; epoch: number; coded: boolean };

/** Why an entry was dead-lettered: `over_stock` when MySQL's own stock bound refused it. */
export const OVER_STOCK = "over_stock";
/** …`duplicate_user` when MySQL already holds another coupon (another code) for its user: a unit promised twice. */
export const DUPLICATE_USER = "duplicate_user";

// MySQL errors about the row's own data: retrying the same entry can never succeed.
const ENTRY_FAULTS = new Set([
  "ER_DATA_TOO_LONG",
  "ER_TRUNCATED_WRONG_VALUE",
  "ER_TRUNCATED_WRONG_VALUE_FOR_FIELD",
  "ER_WARN_DATA_OUT_OF_RANGE",
  "ER_DATETIME_FUNCTION_OVERFLOW",
  "ER_BAD_NULL_ERROR",
  "ER_INVALID_CHARACTER_STRING",
  "ER_WRONG_VALUE",
  // an entry naming an event MySQL does not have (set by storeIn)
  "ER_NO_SUCH_EVENT",
]);

/**
 * True only for a MySQL failure caused by the entry itself. Anything else — the server down or
 * unreachable, a closed pool, a read-only failover, a lock timeout, an error we do not know — says
 * nothing about the entry, so it is retried and never dead-lettered: a promised coupon is only
 * given up on for a reason of its own.
 */
export function isEntryFault(err: unknown): boolean {
  return ENTRY_FAULTS.has((err as { code?: string })?.code ?? "");
}

// DATETIME holds years up to 9999; a time past that is a malformed entry, not a MySQL problem.
export const MAX_ISSUED_AT = Date.UTC(10000, 0, 1) - 1;

export function parseEntry(eventId: number, [streamId, fields]: Entry): Issuance | null {
  const f = entryFields(fields);
  const t = Number(f.t);
  const epoch = Number(f.ep ?? 0);
  if (f.e !== String(eventId) || !f.u || !USER_ID.test(f.u) || !Number.isSafeInteger(t) || t <= 0 || t > MAX_ISSUED_AT) return null;
  if (!Number.isSafeInteger(epoch) || epoch < 0) return null;
  // entries from before codes existed get one now (their 201 showed none)
  if (f.c !== undefined && normalizeCode(f.c) !== f.c) return null;
  return { streamId, eventId, userId: f.u, code: f.c ?? newCode(), issuedAt: new Date(t), epoch, coded: f.c !== undefined };
}

export type IssuerStats = { persisted: number; batches: number; lastBatchSize: number; deadLettered: number; overStock: number; reclaimed: number; lagMs: number };

/**
 * Persists issuances from every event's stream into MySQL through a consumer group. An entry is
 * acknowledged (and trimmed from the stream) only after its row is committed; the insert is
 * idempotent on (event_id, user_id), so a redelivered entry never makes a second row. Entries a
 * dead consumer left pending are reclaimed after `claimIdleMs`; an entry that still fails for a
 * reason of its own on its `maxDeliveries`-th delivery goes to the event's dead-letter
 * stream. A MySQL outage never dead-letters anything, and never stops the reading: every entry
 * read is held in memory and announced in Redis until MySQL has it (held.ts), so a Redis that
 * restarts empty meanwhile cannot sell its unit again.
 */
export class IssuerService {
  private loop: Promise<void> | null = null;
  private stopping = false;
  private readonly groups = new Set<number>();
  private readonly quiet = new Map<number, { delay: number; next: number }>();
  private lastReclaim = 0;
  private lastRetire = 0;
  private backoffMs = 0;
  private readonly loopOutage = new OutageLog("issuer");
  // events failing on their own while the others work: one line when each starts and ends, not one per loop
  private readonly eventOutages = new Map<number, OutageLog>();
  // MySQL failing: held entries are tried again from then on (the reads go on meanwhile)
  private mysqlRetryAt = 0;
  private mysqlBackoffMs = 0;
  private readonly mysqlOutage = new OutageLog("issuer: MySQL");
  // the most entries held at once while MySQL was failing: the line saying it works again tells it
  private heldInOutage = 0;
  readonly held: Held;
  readonly stats: IssuerStats = { persisted: 0, batches: 0, lastBatchSize: 0, deadLettered: 0, overStock: 0, reclaimed: 0, lagMs: 0 };
  onBatch: ((size: number, lagMs: number) => void) | null = null;
  onDeadLetter: ((reason: string) => void) | null = null;

  private readonly ackScript;
  private readonly adoptScript;
  private readonly retirement: Retirement;

  constructor(
    private readonly redis: RedisClient,
    private readonly mysql: Mysql,
    private readonly prefix: string,
    private readonly listEvents: () => Promise<number[]>,
    private readonly cfg: Config["issuer"],
  ) {
    this.ackScript = runScript(redis, "ack");
    this.adoptScript = runScript(redis, "adopt");
    this.held = new Held(redis, prefix, cfg.consumerName);
    this.retirement = new Retirement(redis, prefix, GROUP);
  }

  start() {
    this.stopping = false;
    this.held.start();
    this.loop ??= this.run().finally(() => (this.loop = null));
  }

  /** Tries once more to persist (and ack) what it holds, then stops; what is left stays pending in the stream. */
  async stop() {
    this.stopping = true;
    await this.loop;
    this.mysqlRetryAt = 0;
    await this.flushAll().catch(() => {});
    this.held.stop();
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
        if (Date.now() - this.lastRetire >= RETIRE_EVERY_MS) {
          this.lastRetire = Date.now();
          // events this issuer still holds entries of are not ended for it, whatever Redis says
          const held = new Set(this.held.eventIds());
          await this.retirement.sweep((await this.listEvents()).filter((id) => !held.has(id)));
        }
        this.backoffMs = 0;
        this.loopOutage.ok();
        // A full batch means a backlog: read again at once. A partial one means entries trickle in:
        // linger so the next insert carries many rows, not one (a commit, an fsync, a round trip each).
        // Nothing at all: back off to 50 ms.
        idle = n > 0 ? 0 : Math.min(50, idle + 5);
        const pause = n >= this.cfg.batchSize ? 0 : n > 0 ? this.cfg.lingerMs : idle;
        if (pause) await Bun.sleep(pause);
      } catch (err) {
        this.backoffMs = Math.min(5000, Math.max(100, this.backoffMs * 2));
        this.loopOutage.failed(err);
        await Bun.sleep(this.backoffMs);
      }
    }
  }

  /** Runs `fn` on the event's stream, (re)creating the consumer group first if it is missing. */
  private async withGroup<T>(eventId: number, fn: (stream: string) => Promise<T>): Promise<T> {
    const stream = eventKeys(this.prefix, eventId).stream;
    if (!this.groups.has(eventId)) await this.createGroup(eventId);
    try {
      return await fn(stream);
    } catch (e) {
      // The stream (and its group) vanished: Redis restarted without its data, or the key was deleted.
      if (!String((e as Error)?.message).startsWith("NOGROUP")) throw e;
      this.groups.delete(eventId);
      await this.createGroup(eventId);
      return fn(stream);
    }
  }

  private async createGroup(eventId: number) {
    try {
      await this.redis.xgroup("CREATE", eventKeys(this.prefix, eventId).stream, GROUP, "0", "MKSTREAM");
    } catch (e) {
      if (!String((e as Error).message).includes("BUSYGROUP")) throw e;
    }
    this.groups.add(eventId);
  }

  /** Reads one batch of new entries per event and persists them. Returns how many were read. */
  drainOnce(): Promise<number> {
    const now = Date.now();
    return this.forEachEvent(async (eventId) => {
      // A quiet stream is read less and less often (up to once a second): a year of past events must
      // not cost a read each every loop, while a stream that has entries is read at full speed.
      const quiet = this.quiet.get(eventId);
      if (quiet && now < quiet.next) return 0;
      const res = (await this.withGroup(eventId, (stream) =>
        this.redis.xreadgroup("GROUP", GROUP, this.cfg.consumerName, "COUNT", this.cfg.batchSize, "STREAMS", stream, ">"),
      )) as [string, Entry[]][] | null;
      const entries = res?.[0]?.[1] ?? [];
      // a first delivery is also the last one allowed when maxDeliveries is 1
      if (entries.length) await this.held.add(eventId, entries, this.cfg.maxDeliveries <= 1 ? entries.map((e) => e[0]) : []);
      await this.flush(eventId);
      if (entries.length) this.quiet.delete(eventId);
      else {
        const delay = Math.min(1000, Math.max(50, (quiet?.delay ?? 25) * 2));
        this.quiet.set(eventId, { delay, next: Date.now() + delay });
      }
      return entries.length;
    });
  }

  /** Takes over entries that have been pending for `claimIdleMs` (a dead consumer's, or ones that failed). */
  reclaimAll(): Promise<number> {
    return this.forEachEvent((eventId) => this.withGroup(eventId, (stream) => this.reclaim(eventId, stream)));
  }

  /**
   * Runs `fn` for every event, concurrently. One event whose batch keeps failing (its entries wait in the stream
   * for the next reclaim) must not hold back the others, so a failure is thrown only when every
   * event failed — an outage — and the loop backs off.
   */
  private async forEachEvent(fn: (eventId: number) => Promise<number>): Promise<number> {
    // events Redis forgot (a wipe) while this issuer holds entries of theirs are still walked
    const ids = [...new Set([...(await this.listEvents()), ...this.held.eventIds()])];
    // all events at once: their reads share one auto-pipelined round trip to Redis
    const results = await Promise.allSettled(ids.map(fn));
    let total = 0;
    let succeeded = 0;
    const failures: [number, unknown][] = [];
    results.forEach((r, i) => {
      if (r.status === "fulfilled") {
        total += r.value;
        succeeded++;
        this.eventOutages.get(ids[i]!)?.ok();
        this.eventOutages.delete(ids[i]!);
      } else failures.push([ids[i]!, r.reason]);
    });
    if (failures.length && !succeeded) throw failures[0]![1];
    // an event no longer walked (retired) has nothing left to log
    const walked = new Set(ids);
    for (const id of this.eventOutages.keys()) if (!walked.has(id)) this.eventOutages.delete(id);
    for (const [eventId, e] of failures) {
      let log = this.eventOutages.get(eventId);
      if (!log) this.eventOutages.set(eventId, (log = new OutageLog(`issuer: event ${eventId}`)));
      log.failed(e, "its entries stay pending");
    }
    return total;
  }

  private async reclaim(eventId: number, stream: string): Promise<number> {
    const idle = this.cfg.claimIdleMs;
    const pending = (await this.redis.xpending(stream, GROUP, "IDLE", idle, "-", "+", this.cfg.batchSize)) as [string, string, number, number][];
    if (!pending.length) return 0;
    // XCLAIM counts one more delivery: for some entries it is the last one allowed
    const lastTry = new Set(pending.filter((p) => p[3] + 1 >= this.cfg.maxDeliveries).map((p) => p[0]));
    // min-idle makes the claim atomic: an entry another issuer claimed a moment ago is skipped
    const claimed = ((await this.redis.call("XCLAIM", stream, GROUP, this.cfg.consumerName, idle, ...pending.map((p) => p[0]))) as (Entry | null)[]).filter(
      (e): e is Entry => !!e?.[1],
    );
    this.stats.reclaimed += claimed.length;
    if (claimed.length) await this.held.add(eventId, claimed, [...lastTry].filter((id) => claimed.some((e) => e[0] === id)));
    await this.flush(eventId);
    return claimed.length;
  }

  private async flushAll() {
    for (const id of this.held.eventIds()) await this.flush(id);
  }

  /**
   * Persists what it holds of the event, a batch at a time. A MySQL failure keeps the entries held
   * (and announced) and is not thrown: the reads go on, and MySQL is tried again after a backoff.
   */
  private async flush(eventId: number) {
    while (Date.now() >= this.mysqlRetryAt) {
      const { entries, lastTry } = this.held.batch(eventId, this.cfg.batchSize);
      if (!entries.length) return;
      const holding = this.held.size;
      try {
        await this.persist(eventId, entries, lastTry);
        this.mysqlBackoffMs = 0;
        this.mysqlOutage.ok(() => `held up to ${Math.max(this.heldInOutage, holding)} entries meanwhile`);
        this.heldInOutage = 0;
      } catch (err) {
        this.heldInOutage = Math.max(this.heldInOutage, this.held.size);
        this.mysqlOutage.failed(err, `holding ${this.held.size} entries`);
        this.mysqlBackoffMs = Math.min(2000, Math.max(100, this.mysqlBackoffMs * 2));
        this.mysqlRetryAt = Date.now() + this.mysqlBackoffMs;
        return;
      }
      await this.held.release(eventId, entries.map((e) => e[0]));
    }
  }

  /**
   * Stores the entries in one transaction, then acks exactly those now in MySQL. An entry that is
   * malformed or that MySQL rejects for its own data stays pending to be retried, unless it is in
   * `lastTry`: then it is dead-lettered. Entries MySQL's stock bound refuses are dead-lettered as
   * `over_stock` at once, and a second entry (another code) for a stored user as `duplicate_user`. Any other failure is thrown, leaving all of them pending.
   */
  private async persist(eventId: number, entries: Entry[], lastTry: Set<string>) {
    const rows: Issuance[] = [];
    const faults: [Entry, string][] = [];
    for (const e of entries) {
      const row = parseEntry(eventId, e);
      if (row) rows.push(row);
      else faults.push([e, "malformed entry"]);
    }
    const byId = new Map(entries.map((e) => [e[0], e]));
    let stored: Issuance[] = [];
    let settled: string[] = [];
    let over: Issuance[] = [];
    let dupes: Issuance[] = [];
    if (rows.length) {
      try {
        ({ stored, settled, over, dupes } = await this.store(eventId, rows));
      } catch (err) {
        if (!isEntryFault(err)) throw err;
        // one bad row must not hold back the others: fall back to one transaction per row
        for (const row of rows) {
          try {
            const r = await this.store(eventId, [row]);
            stored.push(...r.stored);
            settled.push(...r.settled);
            over.push(...r.over);
            dupes.push(...r.dupes);
          } catch (e) {
            if (!isEntryFault(e)) throw e;
            faults.push([byId.get(row.streamId)!, String((e as Error).message).slice(0, 500)]);
          }
        }
      }
      await this.ack(eventId, settled);
      this.count(stored);
    }
    for (const row of over) await this.deadLetter(eventId, byId.get(row.streamId)!, OVER_STOCK);
    for (const row of dupes) await this.deadLetter(eventId, byId.get(row.streamId)!, DUPLICATE_USER);
    for (const [entry, reason] of faults) {
      if (lastTry.has(entry[0])) await this.deadLetter(eventId, entry, reason);
      else console.error(`issuer: entry ${entry[0]} of event ${eventId} failed (${reason}); will retry`);
    }
  }

  /**
   * One transaction holding the event's row lock: rows already stored (a redelivery) are settled as
   * they are; entries older than the event's last reconciliation are checked against the rebuilt
   * Redis state (adopt-2.lua); then at most `stock − persisted` new rows are inserted and counted in
   * the same transaction — MySQL never holds more rows than the stock, whatever Redis says — and a
   * webhook delivery for them is queued when the event has a webhookUrl. Returns what was stored,
   * which entries may be acked (stored or stored before), and which are over stock.
   */
  private store(eventId: number, rows: Issuance[]) {
    return inTransaction(this.mysql.pool, (conn) => this.storeIn(conn, eventId, rows));
  }

  private async storeIn(conn: PoolConnection, eventId: number, rows: Issuance[]) {
    const [[ev]] = await conn.query<RowDataPacket[]>("SELECT stock, persisted, redis_epoch, webhook_url FROM coupon_events WHERE id = ? FOR UPDATE", [eventId]);
    // an entry for an event MySQL does not know can never become a row
    if (!ev) throw Object.assign(new Error(`event ${eventId} does not exist`), { code: "ER_NO_SUCH_EVENT" });
    const [known] = await conn.query<RowDataPacket[]>(
      `SELECT user_id, code FROM coupon_issues WHERE event_id = ? AND user_id IN (${rows.map(() => "?").join(",")})`,
      [eventId, ...rows.map((r) => r.userId)],
    );
    const codes = new Map(known.map((r) => [r.user_id as string, r.code as string]));
    // the same promise again (a redelivery, a replay: the same code) is settled as it is; another code
    // for a stored user is a second promise Redis made (it lost the first): flagged, never dropped silently
    const settled: string[] = [];
    const dupes: Issuance[] = [];
    let fresh: Issuance[] = [];
    for (const r of rows) {
      const code = codes.get(r.userId);
      if (code === undefined) {
        codes.set(r.userId, r.code);
        fresh.push(r);
      } else if (code === r.code || !r.coded) settled.push(r.streamId);
      else dupes.push(r);
    }
    const over: Issuance[] = [];
    const stale = fresh.filter((r) => r.epoch < Number(ev.redis_epoch));
    if (stale.length) {
      const k = eventKeys(this.prefix, eventId);
      const flags = (await this.adoptScript(k.meta, k.issued, ...stale.flatMap((r) => [r.userId, r.code]))) as number[];
      const refused = new Set(stale.filter((_, i) => flags[i] === 2));
      over.push(...refused);
      fresh = fresh.filter((r) => !refused.has(r));
    }
    const room = Math.max(0, Number(ev.stock) - Number(ev.persisted));
    over.push(...fresh.slice(room));
    const stored = fresh.slice(0, room);
    if (stored.length) {
      await conn.query<ResultSetHeader>(
        `INSERT INTO coupon_issues (event_id, user_id, code, issued_at, stream_id) VALUES ${stored.map(() => "(?, ?, ?, ?, ?)").join(",")}`,
        stored.flatMap((r) => [r.eventId, r.userId, r.code, r.issuedAt, r.streamId]),
      );
      await conn.query("UPDATE coupon_events SET persisted = persisted + ? WHERE id = ?", [stored.length, eventId]);
      if (ev.webhook_url) {
        await enqueue(conn, eventId, "coupon.issued", { eventId, issues: stored.map((r) => ({ userId: r.userId, code: r.code, issuedAt: r.issuedAt.toISOString() })) });
      }
    }
    return { stored, settled: [...settled, ...stored.map((r) => r.streamId)], over, dupes };
  }

  private count(rows: Issuance[]) {
    if (!rows.length) return;
    this.stats.persisted += rows.length;
    this.stats.batches++;
    this.stats.lastBatchSize = rows.length;
    this.stats.lagMs = Date.now() - rows.reduce((min, r) => Math.min(min, r.issuedAt.getTime()), Infinity);
    this.onBatch?.(rows.length, this.stats.lagMs);
  }

  private async ack(eventId: number, ids: string[]) {
    if (!ids.length) return;
    const k = eventKeys(this.prefix, eventId);
    await this.ackScript(k.stream, GROUP, ...ids);
  }

  /** Moves an entry to the event's dead-letter stream (with why) and out of the issuance stream, atomically. */
  private async deadLetter(eventId: number, entry: Entry, reason: string) {
    const k = eventKeys(this.prefix, eventId);
    await this.redis
      .multi()
      .xadd(k.dead, "*", ...entry[1], "source", entry[0], "reason", reason, "deadAt", String(Date.now()))
      .xack(k.stream, GROUP, entry[0])
      .xdel(k.stream, entry[0])
      .exec();
    this.stats.deadLettered++;
    if (reason === OVER_STOCK) this.stats.overStock++;
    this.onDeadLetter?.(reason);
    console.error(`issuer: dead-lettered entry ${entry[0]} of event ${eventId}: ${reason}`);
  }
}

/** Issuances of an event accepted but not yet persisted (pending-1.lua). */
export async function pendingCount(redis: RedisClient, stream: string): Promise<number> {
  return Number(await runScript(redis, "pending")(stream, GROUP));
}

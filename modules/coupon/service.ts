import { and, eq, sql } from "drizzle-orm";
import type { Mysql } from "../../src/db";
import { couponEvents, couponIssues } from "../../src/db/schema";
import { ApiError } from "../../src/http";
import { eventKeys, runScript, type RedisClient } from "../../src/redis";
import { eventStatus } from "../events/model";
import { metaFromRow, notFound, type EventService } from "../events/service";
import { newCode } from "./code";
import { takeUnit } from "./take";
import type { CouponApi, CouponState, IssueResult } from "./model";

/** Waits until the event's Redis state may be trusted by this process (see modules/events/reconcile.ts). */
export type ReconcileGate = (eventId: number) => Promise<void>;

/**
 * The fast path: stock, one-per-user and admission decided together in one Lua script; the issuance
 * goes to the event's stream and the issuer persists it. Replies never wait for MySQL.
 */
export class RedisCouponService implements CouponApi {
  private readonly issueScript;
  /** Users the issue script moved from the line into the slot it freed; fed to the metrics. */
  onRefill: ((eventId: number, n: number) => void) | null = null;

  /**
   * `issueRedis` is a strict client (src/redis.ts): a command is sent only while connected and never
   * re-sent after a reconnect, so the script cannot run against a Redis that came back stale before
   * `gate` has had it reconciled.
   */
  constructor(
    private readonly redis: RedisClient,
    issueRedis: RedisClient,
    private readonly mysql: Mysql,
    private readonly events: EventService,
    private readonly prefix: string,
    private readonly queue: { slotTtlMs: number; waiterTimeoutMs: number },
    private readonly gate: ReconcileGate,
  ) {
    this.issueScript = runScript(issueRedis, "issue");
    this.rows = new RowCache((eventId, userId) => issueRow(this.mysql, eventId, userId));
  }
  private readonly rows: RowCache;

  async issue(eventId: number, userId: string): Promise<IssueResult> {
    const { reply, code } = await takeUnit(
      { redis: this.redis, prefix: this.prefix, events: this.events, gate: this.gate, action: "issued" },
      eventId,
      userId,
      (c) => this.run(eventId, userId, c),
    );
    return reply[0] === "issued" ? { status: "issued", code } : ({ status: reply[0] } as IssueResult);
  }

  private async run(eventId: number, userId: string, code: string) {
    const k = eventKeys(this.prefix, eventId);
    try {
      const r = (await this.issueScript(k.meta, k.issued, k.running, k.stream, k.waiting, k.waitLive, k.admitLog, k.holders, k.slots, k.lapsed, userId, Date.now(), eventId, this.queue.slotTtlMs, code, this.queue.waiterTimeoutMs)) as [string, string?, number?];
      if (r[2]) this.onRefill?.(eventId, r[2]);
      return r;
    } catch (e) {
      const msg = String((e as Error)?.message);
      // never written to Redis: nothing happened, the caller may simply retry
      if (/enableOfflineQueue|isn't writeable/.test(msg)) throw new ApiError(503, "unavailable", "Redis is unavailable; nothing was issued, try again shortly");
      // written, but the connection dropped before the reply: the script may have run (a strict
      // client fails what it had in flight with MaxRetriesPerRequestError rather than re-sending it)
      if (/Connection is closed|max retries per request|ECONNRESET|EPIPE|ETIMEDOUT/i.test(msg)) throw new ApiError(504, "outcome_unknown", "the connection to Redis dropped during the issue; GET /api/events/:id/coupon tells whether it went through");
      throw e;
    }
  }

  async coupon(eventId: number, userId: string): Promise<CouponState> {
    if (!(await this.events.ensureLoaded(eventId))) throw notFound();
    // Redis's issued hash holds every promise (and, after a reconciliation, every stored row): a user
    // it does not name has no coupon, and costs MySQL nothing
    const promised = await this.redis.hget(eventKeys(this.prefix, eventId).issued, userId);
    if (promised === null) return { issued: false, persisted: false, code: null, redeemedAt: null };
    const row = await this.rows.get(eventId, userId);
    return {
      issued: promised !== null || !!row,
      persisted: !!row,
      code: row?.code ?? (promised || null),
      redeemedAt: row?.redeemedAt?.toISOString() ?? null,
    };
  }
}

type IssueRow = Awaited<ReturnType<typeof issueRow>>;
// a winner's page polls its coupon; a stored row is read from MySQL at most this often per (event, user) and process
const ROW_CACHE_MS = 1000;
const ROW_CACHE_MAX = 100_000;

/** Stored coupon rows, each read at most once a second (concurrent reads share one query). */
class RowCache {
  private entries = new Map<string, { at: number; row: Promise<IssueRow> }>();
  constructor(private readonly load: (eventId: number, userId: string) => Promise<IssueRow>) {}
  get(eventId: number, userId: string): Promise<IssueRow> {
    const key = `${eventId}:${userId}`;
    const now = Date.now();
    const hit = this.entries.get(key);
    if (hit && now - hit.at < ROW_CACHE_MS) return hit.row;
    // bounded: past the cap everything cached is older than a second's worth of traffic anyway
    if (this.entries.size >= ROW_CACHE_MAX) this.entries = new Map();
    const row = this.load(eventId, userId);
    this.entries.set(key, { at: now, row });
    // a failed read is not remembered
    row.catch(() => this.entries.delete(key));
    return row;
  }
}

/** Whether the user's coupon row for the event is in MySQL (one indexed lookup). */
export async function isPersisted(mysql: Mysql, eventId: number, userId: string): Promise<boolean> {
  return !!(await issueRow(mysql, eventId, userId));
}

async function issueRow(mysql: Mysql, eventId: number, userId: string) {
  const [row] = await mysql.db
    .select({ code: couponIssues.code, redeemedAt: couponIssues.redeemedAt })
    .from(couponIssues)
    .where(and(eq(couponIssues.eventId, eventId), eq(couponIssues.userId, userId)))
    .limit(1);
  return row;
}

/**
 * The baseline this project replaces, implemented honestly: one MySQL transaction that locks the
 * event row (`SELECT … FOR UPDATE`), checks for a duplicate, inserts and counts the row against
 * stock. Every issuance of an event serialises on that row lock. The running slot still lives in
 * Redis, and the Redis view (remaining, issued users) is refreshed after commit so enter/poll stay truthful.
 */
export class DbLockCouponService implements CouponApi {
  private readonly recordScript;

  constructor(
    private readonly redis: RedisClient,
    private readonly mysql: Mysql,
    private readonly events: EventService,
    private readonly prefix: string,
  ) {
    this.recordScript = runScript(redis, "dbLockIssued");
  }

  async issue(eventId: number, userId: string): Promise<IssueResult> {
    const k = eventKeys(this.prefix, eventId);
    if (!(await this.events.ensureLoaded(eventId))) return { status: "event_not_found" };
    const slot = Number(await this.redis.zscore(k.running, userId));
    const admitted = slot > Date.now();
    const code = newCode();
    const result = await this.mysql.db.transaction(async (tx) => {
      const [ev] = await tx.select().from(couponEvents).where(eq(couponEvents.id, eventId)).for("update");
      if (!ev) return { status: "event_not_found" } as const;
      const s = eventStatus(metaFromRow(ev, ev.stock - ev.persisted));
      if (s === "scheduled" || s === "closed" || s === "cancelled") return { status: "not_open" } as const;
      const dup = await tx
        .select({ one: sql`1` })
        .from(couponIssues)
        .where(and(eq(couponIssues.eventId, eventId), eq(couponIssues.userId, userId)));
      if (dup.length) return { status: "already_issued" } as const;
      if (ev.persisted >= ev.stock) return { status: "sold_out" } as const;
      if (!admitted) return { status: "not_admitted" } as const;
      await tx.insert(couponIssues).values({ eventId, userId, code, issuedAt: new Date() });
      await tx.update(couponEvents).set({ persisted: sql`${couponEvents.persisted} + 1` }).where(eq(couponEvents.id, eventId));
      return { status: "issued", code } as const;
    });
    if (result.status === "issued") await this.recordScript(k.meta, k.issued, k.running, userId, code);
    else if (result.status === "already_issued" || result.status === "sold_out") await this.redis.zrem(k.running, userId);
    return result;
  }

  async coupon(eventId: number, userId: string): Promise<CouponState> {
    if (!(await this.events.ensureLoaded(eventId))) throw notFound();
    const row = await issueRow(this.mysql, eventId, userId);
    return { issued: !!row, persisted: !!row, code: row?.code ?? null, redeemedAt: row?.redeemedAt?.toISOString() ?? null };
  }
}

// What the operator reads of events: the list, one event's live stats, why its line stalls
// (EventService.list, .stats, .persistedCount).
import { and, desc, eq, gt, isNull, lt, lte, or, type SQL } from "drizzle-orm";
import { couponEvents } from "../../src/db/schema";
import { pendingCount } from "../issuer/service";
import { eventKeys, type RedisClient } from "../../src/redis";
import { deliveryCounts } from "../webhooks/service";
import { readFunnel } from "./funnel";
import type { EventStatus } from "./model";
import { metaFromRow, notFound, type EventService } from "./service";

/**
 * Why nobody is being admitted from a non-empty line, when the reason is one of the event's own
 * settings: paused, not started, every running slot held, or this second's admission budget spent.
 */
export type Stall = "paused" | "scheduled" | "capacity_full" | "admit_per_second" | null;

export function stallReason(s: { status: EventStatus; waiting: number; running: number; runningCapacity: number; admittedThisSecond: number; admittedLastSecond: number; admitPerSecond: number }): Stall {
  if (s.waiting === 0) return null;
  if (s.status === "paused") return "paused";
  if (s.status === "scheduled") return "scheduled";
  if (s.status !== "open") return null;
  if (s.running >= s.runningCapacity) return "capacity_full";
  if (Math.max(s.admittedThisSecond, s.admittedLastSecond) >= s.admitPerSecond) return "admit_per_second";
  return null;
}

/**
 * Events newest first, `limit` at a time after the cursor (an event id), optionally only those of
 * one status. The status is derived as everywhere else (eventStatus): MySQL narrows the candidates
 * by flags and times, and Redis's remaining stock tells sold out from open or paused.
 */
export async function list(this: EventService, opts: { status?: EventStatus; limit: number; after?: number }) {
  const now = new Date();
  const live = and(eq(couponEvents.cancelled, false), eq(couponEvents.closed, false), or(isNull(couponEvents.endsAt), gt(couponEvents.endsAt, now)));
  const where: (SQL | undefined)[] = [];
  if (opts.after !== undefined) where.push(lt(couponEvents.id, opts.after));
  switch (opts.status) {
    case "cancelled":
      where.push(eq(couponEvents.cancelled, true));
      break;
    case "closed":
      where.push(eq(couponEvents.cancelled, false), or(eq(couponEvents.closed, true), lte(couponEvents.endsAt, now)));
      break;
    case "scheduled":
      // not by startsAt: a cancel being settled holds a started event scheduled (Redis's hold, read below)
      where.push(live);
      break;
    case "open":
      where.push(live, lte(couponEvents.startsAt, now), eq(couponEvents.paused, false));
      break;
    case "paused":
      where.push(live, lte(couponEvents.startsAt, now), eq(couponEvents.paused, true));
      break;
    case "sold_out":
      where.push(live, lte(couponEvents.startsAt, now));
      break;
  }
  const found: (ReturnType<EventService["adminView"]> & { remaining: number })[] = [];
  const BATCH = Math.max(opts.limit + 1, 50);
  // one more than asked for, to know whether there is a next page
  for (let before = opts.after; found.length <= opts.limit; ) {
    const rows = await this.mysql.db
      .select()
      .from(couponEvents)
      .where(and(...where, before === undefined ? undefined : lt(couponEvents.id, before)))
      .orderBy(desc(couponEvents.id))
      .limit(BATCH);
    if (!rows.length) break;
    const live = await Promise.all(rows.map((r) => this.redis.hmget(this.keys(r.id).meta, "remaining", "hold")));
    rows.forEach((row, i) => {
      const [remaining, hold] = live[i]!;
      // an event Redis does not hold (ended long ago, or a wiped Redis): MySQL's rows are what was sold
      const m = { ...metaFromRow(row, remaining == null ? row.stock - row.persisted : Number(remaining)), hold: hold === "1" };
      const view = this.adminView(m, now.getTime());
      if (!opts.status || view.status === opts.status) found.push({ ...view, remaining: Math.max(0, m.remaining) });
    });
    if (rows.length < BATCH) break;
    before = rows[rows.length - 1]!.id;
  }
  const events = found.slice(0, opts.limit);
  return { events, next: found.length > opts.limit ? String(events[events.length - 1]!.id) : null };
}

/** Rows in MySQL for the event: the counter kept in the same transaction as the rows (one primary-key read). */
export async function persistedCount(this: EventService, id: number): Promise<number> {
  const [r] = await this.mysql.db.select({ n: couponEvents.persisted }).from(couponEvents).where(eq(couponEvents.id, id));
  return Number(r?.n ?? 0);
}

export async function stats(this: EventService, id: number) {
  const meta = await this.ensureLoaded(id);
  if (!meta) throw notFound();
  const k = this.keys(id);
  const now = Date.now();
  const sec = Math.floor(now / 1000);
  const [persisted, draw, hooks, funnel, ghostSlots, [waiting, running, pending, dead, requestRate, admitsNow, admitsBefore]] = await Promise.all([
    persistedCount.call(this, id),
    readDraw.call(this, id),
    deliveryCounts(this.mysql, id),
    readFunnel(this.redis, this.prefix, id, meta.stock - Math.max(0, meta.remaining)),
    countGhostSlots(this.redis, this.prefix, id, this.opts.ghost, now),
    Promise.all([
      this.redis.zcard(k.waiting),
      this.redis.zcount(k.running, `(${now}`, "+inf"),
      pendingCount(this.redis, k.stream),
      this.redis.xlen(k.dead),
      // the routers' shared per-second buckets, read without adding to them
      this.rateScript(k.rate, now, 0).then(Number),
      this.redis.hget(k.admitLog, String(sec)).then(Number),
      this.redis.hget(k.admitLog, String(sec - 1)).then(Number),
    ]),
  ]);
  const view = this.adminView(meta, now);
  const lost = await this.unaccounted(id, meta);
  const live = { status: view.status, waiting, running, runningCapacity: meta.runningCapacity, admittedThisSecond: admitsNow, admittedLastSecond: admitsBefore, admitPerSecond: meta.admitPerSecond };
  return {
    ...view,
    remaining: Math.max(0, meta.remaining),
    issued: meta.stock - Math.max(0, meta.remaining),
    persisted,
    pending,
    dead,
    waiting,
    running,
    paused: meta.paused,
    requestRate,
    admitRate: meta.admitRate,
    admittedThisSecond: admitsNow,
    admittedLastSecond: admitsBefore,
    stall: stallReason(live),
    control: meta.control ?? null,
    unaccounted: lost,
    webhooksDelivered: hooks.delivered,
    webhooksPending: hooks.pending,
    webhookFailedAttempts: hooks.failedAttempts,
    reconcileError: this.reconcileFailures.get(id) ?? null,
    ghostSlots,
    funnel,
    draw,
  };
}

/**
 * The pre-queue draw, once its seed is drawn (null before): seed and time from MySQL, the record
 * (docs/how-it-works.md: auditing the draw); how many places and how long from Redis, null while the places are
 * being written (or when Redis lost them).
 */
async function readDraw(this: EventService, id: number) {
  const [row] = await this.mysql.db.select({ seed: couponEvents.drawSeed, at: couponEvents.drawnAt }).from(couponEvents).where(eq(couponEvents.id, id));
  if (!row?.seed || !row.at) return null;
  const [size, ms] = await this.redis.hmget(this.keys(id).meta, "drawSize", "drawMs");
  return { seed: row.seed, drawnAt: row.at.toISOString(), size: size === null ? null : Number(size), durationMs: ms === null ? null : Number(ms) };
}

/**
 * Running slots whose holder was never told of them: handed out by the scheduler (or an issue's
 * refill) more than `afterMs` ago — a waiter polls at least every QUEUE_MAX_POLL_MS, so one who is
 * still there learns of the slot by then — and no router has answered them "admitted" since. They
 * stopped polling before their turn came, and the slot stays held until it lapses.
 */
export async function countGhostSlots(redis: RedisClient, prefix: string, id: number, ghost: { slotTtlMs: number; afterMs: number }, now = Date.now()): Promise<number> {
  const k = eventKeys(prefix, id);
  // a slot's score is its expiry: handed out at expiry − ttl (the event's own slotSeconds where set)
  const [flat, slotSeconds] = await Promise.all([redis.zrangebyscore(k.running, `(${now}`, "+inf", "WITHSCORES", "LIMIT", 0, 10_000), redis.hget(k.meta, "slotSeconds")]);
  if (!flat.length) return 0;
  const ttl = Number(slotSeconds) > 0 ? Number(slotSeconds) * 1000 : ghost.slotTtlMs;
  const users: string[] = [];
  const since: number[] = [];
  for (let i = 0; i < flat.length; i += 2) {
    const at = Number(flat[i + 1]) - ttl;
    if (at >= now - ghost.afterMs) continue;
    users.push(flat[i]!);
    since.push(at);
  }
  if (!users.length) return 0;
  const told = await redis.zmscore(k.seen, ...users);
  return told.filter((t, i) => t === null || Number(t) < since[i]!).length;
}

import { count, eq, max } from "drizzle-orm";
import type { Mysql } from "../../src/db";
import { couponEvents, couponIssues } from "../../src/db/schema";
import { ApiError } from "../../src/http";
import { eventKeys, globalKeys, runScript, type RedisClient } from "../../src/redis";
import { entryFields, pendingCount } from "../issuer/service";
import { eventStatus, parseDate, refusal, type EventMeta } from "./model";

export type CreateEventInput = {
  name: string;
  stock: number;
  trafficRpm: number;
  runningCapacity: number;
  admitPerSecond?: number;
  startsAt?: string;
  endsAt?: string | null;
};
export type PatchEventInput = Partial<{ trafficRpm: number; runningCapacity: number; admitPerSecond: number; endsAt: string | null }>;

const iso = (ms: number) => new Date(ms).toISOString();

function badInput(fn: () => void) {
  try {
    fn();
  } catch (e) {
    if (e instanceof RangeError) throw new ApiError(400, "bad_request", e.message);
    throw e;
  }
}

/** Ids of all events known to Redis (the scheduler and the issuer walk these). */
export async function eventIds(redis: RedisClient, prefix: string): Promise<number[]> {
  return (await redis.smembers(globalKeys(prefix).events)).map(Number).filter((n) => n > 0);
}

export const notFound = () => refusal("event_not_found");

/** How often the highest event id is re-read from MySQL at most, and how long an unknown id below it stays unknown. */
const MAX_ID_REFRESH_MS = 1000;
const UNKNOWN_ID_TTL_MS = 5000;
const UNKNOWN_IDS_KEPT = 10_000;

/**
 * Which event ids may exist, from memory, so an unknown id (anyone may ask for one, without a token)
 * never costs a MySQL query per request: ids above the highest known one are unknown (that bound is
 * re-read at most once a second, and raised by create), and an id below it that MySQL did not have is
 * remembered as unknown for a few seconds.
 */
class KnownIds {
  private maxId = 0;
  private readAt = -Infinity;
  private reading: Promise<void> | null = null;
  private readonly unknown = new Map<number, number>();

  constructor(private readonly readMax: () => Promise<number>) {}

  async mayExist(id: number): Promise<boolean> {
    if (id > this.maxId && performance.now() - this.readAt >= MAX_ID_REFRESH_MS) await this.refresh();
    if (id > this.maxId) return false;
    const until = this.unknown.get(id);
    if (until === undefined) return true;
    if (until > performance.now()) return false;
    this.unknown.delete(id);
    return true;
  }

  private refresh(): Promise<void> {
    // one query shared by everyone asking meanwhile; a failing MySQL is asked no more often
    this.readAt = performance.now();
    return (this.reading ??= this.readMax()
      .then((n) => this.raise(n))
      .finally(() => (this.reading = null)));
  }

  raise(id: number) {
    if (id > this.maxId) this.maxId = id;
    this.unknown.delete(id);
  }

  markUnknown(id: number) {
    if (this.unknown.size >= UNKNOWN_IDS_KEPT) this.unknown.delete(this.unknown.keys().next().value!);
    this.unknown.set(id, performance.now() + UNKNOWN_ID_TTL_MS);
  }
}

/**
 * Events live in MySQL (the record) and in one Redis hash per event (what the hot path reads).
 * Redis can always be rebuilt from MySQL plus what is still in the event's streams.
 */
export class EventService {
  private readonly known: KnownIds;
  // one rebuild per event at a time, however many requests find it missing at once
  private readonly rebuilding = new Map<number, Promise<EventMeta | null>>();

  constructor(
    private readonly redis: RedisClient,
    private readonly mysql: Mysql,
    private readonly prefix: string,
  ) {
    this.known = new KnownIds(async () => {
      const [r] = await this.mysql.db.select({ n: max(couponEvents.id) }).from(couponEvents);
      return Number(r?.n ?? 0);
    });
  }

  keys(id: number) {
    return eventKeys(this.prefix, id);
  }

  async create(input: CreateEventInput) {
    let startsAt = new Date();
    let endsAt: Date | null = null;
    badInput(() => {
      startsAt = parseDate(input.startsAt, "startsAt") ?? startsAt;
      endsAt = parseDate(input.endsAt, "endsAt") ?? null;
      if (endsAt && endsAt <= startsAt) throw new RangeError("endsAt must be after startsAt");
    });
    const row = {
      name: input.name,
      stock: input.stock,
      remaining: input.stock,
      trafficRpm: input.trafficRpm,
      runningCapacity: input.runningCapacity,
      admitPerSecond: input.admitPerSecond ?? input.runningCapacity,
      startsAt,
      endsAt,
      closed: false,
      createdAt: new Date(),
    };
    const [res] = await this.mysql.db.insert(couponEvents).values(row).$returningId();
    const id = res!.id;
    this.known.raise(id);
    const meta: EventMeta = {
      id,
      ...row,
      startsAt: startsAt.getTime(),
      endsAt: endsAt ? (endsAt as Date).getTime() : 0,
      admitRate: 0,
    };
    await this.writeMeta(meta);
    return this.adminView(meta);
  }

  /**
   * Loads an event into Redis if its meta is missing (a new Redis, a wiped one, or a restart without
   * AOF). Whether an id names an event at all is answered from Redis and memory; MySQL is asked only
   * to rebuild an event that may exist.
   */
  async ensureLoaded(id: number): Promise<EventMeta | null> {
    const meta = await this.readMeta(id);
    if (meta) return meta;
    if (!(await this.known.mayExist(id))) return null;
    let rebuild = this.rebuilding.get(id);
    if (!rebuild) {
      rebuild = this.restore(id)
        .then((restored) => {
          if (!restored) this.known.markUnknown(id);
          return restored;
        })
        .finally(() => this.rebuilding.delete(id));
      this.rebuilding.set(id, rebuild);
    }
    return rebuild;
  }

  /**
   * Rebuilds an event's Redis state from MySQL plus whatever issuances are still in its streams:
   * every promised coupon (persisted, pending or dead-lettered) counts against stock, so a Redis that
   * lost its data can never over-issue. Idempotent and safe to run from several processes.
   */
  async restore(id: number): Promise<EventMeta | null> {
    const [ev] = await this.mysql.db.select().from(couponEvents).where(eq(couponEvents.id, id));
    if (!ev) return null;
    const k = this.keys(id);
    const rows = await this.mysql.db.select({ u: couponIssues.userId }).from(couponIssues).where(eq(couponIssues.eventId, id));
    const users = rows.map((r) => r.u);
    for (const stream of [k.stream, k.dead]) {
      const entries = (await this.redis.xrange(stream, "-", "+")) as [string, string[]][];
      for (const [, fields] of entries) {
        const u = entryFields(fields).u;
        if (u) users.push(u);
      }
    }
    for (let i = 0; i < users.length; i += 5000) await this.redis.sadd(k.issuedUsers, ...users.slice(i, i + 5000));
    const meta: EventMeta = {
      id,
      name: ev.name,
      stock: ev.stock,
      remaining: 0, // set below from the issued set, inside Redis
      trafficRpm: ev.trafficRpm,
      runningCapacity: ev.runningCapacity,
      admitPerSecond: ev.admitPerSecond,
      startsAt: ev.startsAt.getTime(),
      endsAt: ev.endsAt ? ev.endsAt.getTime() : 0,
      closed: ev.closed,
      admitRate: 0,
    };
    // A missing meta is written (first restorer wins); an existing one only has remaining lowered to stock − promised users.
    await runScript(this.redis, "restoreEvent")(k.meta, k.issuedUsers, ...metaFields(meta));
    await this.redis.sadd(globalKeys(this.prefix).events, String(id));
    return this.readMeta(id);
  }

  private async writeMeta(meta: EventMeta) {
    await this.redis.hset(this.keys(meta.id).meta, ...metaFields(meta));
    await this.redis.sadd(globalKeys(this.prefix).events, String(meta.id));
  }

  async readMeta(id: number): Promise<EventMeta | null> {
    const h = await this.redis.hgetall(this.keys(id).meta);
    if (!h.stock) return null;
    return {
      id,
      name: h.name ?? "",
      stock: Number(h.stock),
      remaining: Number(h.remaining),
      trafficRpm: Number(h.trafficRpm),
      runningCapacity: Number(h.runningCapacity),
      admitPerSecond: Number(h.admitPerSecond),
      startsAt: Number(h.startsAt),
      endsAt: Number(h.endsAt || 0),
      closed: h.closed === "1",
      admitRate: Number(h.admitRate || 0),
    };
  }

  async patch(id: number, input: PatchEventInput) {
    const meta = await this.ensureLoaded(id);
    if (!meta) throw notFound();
    let endsAt: Date | null | undefined;
    badInput(() => {
      endsAt = parseDate(input.endsAt, "endsAt");
      if (endsAt && endsAt.getTime() <= meta.startsAt) throw new RangeError("endsAt must be after startsAt");
    });
    const set: Partial<typeof couponEvents.$inferInsert> = {};
    if (input.trafficRpm !== undefined) set.trafficRpm = meta.trafficRpm = input.trafficRpm;
    if (input.runningCapacity !== undefined) set.runningCapacity = meta.runningCapacity = input.runningCapacity;
    if (input.admitPerSecond !== undefined) set.admitPerSecond = meta.admitPerSecond = input.admitPerSecond;
    if (endsAt !== undefined) {
      set.endsAt = endsAt;
      meta.endsAt = endsAt ? endsAt.getTime() : 0;
    }
    await this.mysql.db.update(couponEvents).set(set).where(eq(couponEvents.id, id));
    // only the patched fields: remaining and the rest belong to the hot path
    await this.redis.hset(this.keys(id).meta, ...Object.keys(set).flatMap((f) => [f, String(meta[f as keyof EventMeta])]));
    return this.adminView(meta);
  }

  async publicView(id: number) {
    const meta = await this.ensureLoaded(id);
    if (!meta) throw notFound();
    return {
      id,
      name: meta.name,
      stock: meta.stock,
      remaining: Math.max(0, meta.remaining),
      status: eventStatus(meta),
      startsAt: iso(meta.startsAt),
      endsAt: meta.endsAt ? iso(meta.endsAt) : null,
    };
  }

  adminView(meta: EventMeta) {
    return {
      id: meta.id,
      name: meta.name,
      stock: meta.stock,
      trafficRpm: meta.trafficRpm,
      runningCapacity: meta.runningCapacity,
      admitPerSecond: meta.admitPerSecond,
      startsAt: iso(meta.startsAt),
      endsAt: meta.endsAt ? iso(meta.endsAt) : null,
      status: eventStatus(meta),
    };
  }

  async persistedCount(id: number): Promise<number> {
    const [r] = await this.mysql.db.select({ n: count() }).from(couponIssues).where(eq(couponIssues.eventId, id));
    return Number(r?.n ?? 0);
  }

  async stats(id: number) {
    const meta = await this.ensureLoaded(id);
    if (!meta) throw notFound();
    const k = this.keys(id);
    const now = Date.now();
    const [persisted, [waiting, running, pending, dead]] = await Promise.all([
      this.persistedCount(id),
      Promise.all([
        this.redis.zcard(k.waiting),
        this.redis.zcount(k.running, `(${now}`, "+inf"),
        pendingCount(this.redis, k.stream),
        this.redis.xlen(k.dead),
      ]),
    ]);
    return {
      ...this.adminView(meta),
      remaining: Math.max(0, meta.remaining),
      issued: meta.stock - Math.max(0, meta.remaining),
      persisted,
      pending,
      dead,
      waiting,
      running,
      admitRate: meta.admitRate,
    };
  }

  ids(): Promise<number[]> {
    return eventIds(this.redis, this.prefix);
  }

  /** Makes sure every event in MySQL is present in Redis (start-up recovery). */
  async loadAll(): Promise<number> {
    const rows = await this.mysql.db.select({ id: couponEvents.id }).from(couponEvents);
    for (const r of rows) this.known.raise(r.id);
    for (const r of rows) await this.ensureLoaded(r.id);
    return rows.length;
  }
}

function metaFields(m: EventMeta): string[] {
  return [
    "name", m.name,
    "stock", String(m.stock),
    "remaining", String(m.remaining),
    "trafficRpm", String(m.trafficRpm),
    "runningCapacity", String(m.runningCapacity),
    "admitPerSecond", String(m.admitPerSecond),
    "startsAt", String(m.startsAt),
    "endsAt", String(m.endsAt),
    "closed", m.closed ? "1" : "0",
  ];
}

import { and, eq, sql } from "drizzle-orm";
import type { Mysql } from "../../src/db";
import { couponEvents, couponIssues } from "../../src/db/schema";
import { eventKeys, runScript, type RedisClient } from "../../src/redis";
import { eventStatus } from "../events/model";
import { notFound, type EventService } from "../events/service";
import type { CouponApi, IssueResult } from "./model";

/**
 * The fast path: stock, one-per-user and admission decided together in one Lua script; the issuance
 * goes to the event's stream and the issuer persists it. Replies never wait for MySQL.
 */
export class RedisCouponService implements CouponApi {
  private readonly issueScript;
  /** Users the issue script moved from the line into the slot it freed; fed to the metrics. */
  onRefill: ((eventId: number, n: number) => void) | null = null;

  constructor(
    private readonly redis: RedisClient,
    private readonly mysql: Mysql,
    private readonly events: EventService,
    private readonly prefix: string,
    private readonly slotTtlMs: number,
  ) {
    this.issueScript = runScript(redis, "issue");
  }

  async issue(eventId: number, userId: string): Promise<IssueResult> {
    let r = await this.run(eventId, userId);
    // Redis may have lost the event (restart without AOF): rebuild it from MySQL once, then decide.
    if (r.status === "event_not_found" && (await this.events.ensureLoaded(eventId))) r = await this.run(eventId, userId);
    return r;
  }

  private async run(eventId: number, userId: string): Promise<IssueResult> {
    const k = eventKeys(this.prefix, eventId);
    const [status, , refilled] = (await this.issueScript(k.meta, k.issuedUsers, k.running, k.stream, k.waiting, k.waitSeen, k.admitLog, userId, Date.now(), eventId, this.slotTtlMs)) as [IssueResult["status"], string?, number?];
    if (refilled) this.onRefill?.(eventId, refilled);
    return { status } as IssueResult;
  }

  async coupon(eventId: number, userId: string) {
    if (!(await this.events.ensureLoaded(eventId))) throw notFound();
    const [issued, persisted] = await Promise.all([this.redis.sismember(eventKeys(this.prefix, eventId).issuedUsers, userId), rowExists(this.mysql, eventId, userId)]);
    return { issued: issued === 1 || persisted, persisted };
  }
}

async function rowExists(mysql: Mysql, eventId: number, userId: string) {
  const rows = await mysql.db
    .select({ one: sql`1` })
    .from(couponIssues)
    .where(and(eq(couponIssues.eventId, eventId), eq(couponIssues.userId, userId)))
    .limit(1);
  return rows.length > 0;
}

/**
 * The baseline this project replaces, implemented honestly: one MySQL transaction that locks the
 * event row (`SELECT … FOR UPDATE`), checks for a duplicate, inserts and decrements stock. Every
 * issuance of an event serialises on that row lock. The running slot still lives in Redis, and the
 * Redis view (remaining, issued users) is refreshed after commit so enter/poll stay truthful.
 */
export class DbLockCouponService implements CouponApi {
  constructor(
    private readonly redis: RedisClient,
    private readonly mysql: Mysql,
    private readonly events: EventService,
    private readonly prefix: string,
  ) {}

  async issue(eventId: number, userId: string): Promise<IssueResult> {
    const k = eventKeys(this.prefix, eventId);
    const meta = await this.events.ensureLoaded(eventId);
    if (!meta) return { status: "event_not_found" };
    const slot = Number(await this.redis.zscore(k.running, userId));
    const admitted = slot > Date.now();
    const result = await this.mysql.db.transaction(async (tx) => {
      const [ev] = await tx.select().from(couponEvents).where(eq(couponEvents.id, eventId)).for("update");
      if (!ev) return { status: "event_not_found" } as const;
      const s = eventStatus({ ...meta, closed: ev.closed, remaining: ev.remaining, endsAt: ev.endsAt?.getTime() ?? 0 });
      if (s === "scheduled" || s === "closed") return { status: "not_open" } as const;
      const dup = await tx
        .select({ one: sql`1` })
        .from(couponIssues)
        .where(and(eq(couponIssues.eventId, eventId), eq(couponIssues.userId, userId)));
      if (dup.length) return { status: "already_issued" } as const;
      if (ev.remaining <= 0) return { status: "sold_out" } as const;
      if (!admitted) return { status: "not_admitted" } as const;
      await tx.insert(couponIssues).values({ eventId, userId, issuedAt: new Date() });
      await tx.update(couponEvents).set({ remaining: sql`${couponEvents.remaining} - 1` }).where(eq(couponEvents.id, eventId));
      return { status: "issued" } as const;
    });
    if (result.status === "issued") {
      // decrement, not set: concurrent commits reach Redis in any order
      await this.redis.multi().zrem(k.running, userId).sadd(k.issuedUsers, userId).hincrby(k.meta, "remaining", -1).exec();
      return { status: "issued" };
    }
    if (result.status === "already_issued" || result.status === "sold_out") await this.redis.zrem(k.running, userId);
    return result;
  }

  async coupon(eventId: number, userId: string) {
    if (!(await this.events.ensureLoaded(eventId))) throw notFound();
    const persisted = await rowExists(this.mysql, eventId, userId);
    return { issued: persisted, persisted };
  }
}

import { and, eq, isNull } from "drizzle-orm";
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Mysql } from "../../src/db";
import { couponEvents } from "../../src/db/schema";
import { eventKeys, runScript, type RedisClient } from "../../src/redis";

/**
 * The order of a pre-queue draw, as anyone can recompute it from the published seed and the list
 * of pre-queued user ids: ascending by HMAC-SHA256(key = the 32 seed bytes (hex-decoded),
 * message = the user id in UTF-8), the 32-byte digests compared as unsigned big-endian numbers
 * (the same as comparing their lowercase hex). The first user in the result gets the first place.
 * Every user's place depends only on the seed and the user's own id, and the seed is drawn from
 * the CSPRNG at the start, after the pre-queue closed: nobody can aim for a place.
 */
export function drawOrder(seedHex: string, users: readonly string[]): string[] {
  const key = Buffer.from(seedHex, "hex");
  if (key.length !== 32 || key.toString("hex") !== seedHex.toLowerCase()) throw new RangeError("the seed is 64 hex digits");
  const keyed = users.map((user) => {
    const h = new Bun.CryptoHasher("sha256", key).update(user).digest();
    // the first 48 bits as a number sort almost every pair; the whole digest decides the rest
    return { user, head: h.readUIntBE(0, 6), h };
  });
  keyed.sort((a, b) => a.head - b.head || Buffer.compare(a.h, b.h));
  return keyed.map((k) => k.user);
}

/** Writes the event's seed unless one is written already, and returns the one that is (MySQL is the record). */
export type SeedRecord = (eventId: number, candidate: string, at: Date) => Promise<{ seed: string; drawnAt: Date }>;

/**
 * `UPDATE … SET draw_seed = ? WHERE draw_seed IS NULL`, then a read of what is there: of any number of
 * drawers, on any number of processes, before or after a Redis loss, exactly one seed is ever
 * stored for an event and every drawer uses that one.
 */
export function mysqlSeedRecord(mysql: Mysql): SeedRecord {
  return async (eventId, candidate, at) => {
    await mysql.db.update(couponEvents).set({ drawSeed: candidate, drawnAt: at }).where(and(eq(couponEvents.id, eventId), isNull(couponEvents.drawSeed)));
    const [row] = await mysql.db.select({ seed: couponEvents.drawSeed, drawnAt: couponEvents.drawnAt }).from(couponEvents).where(eq(couponEvents.id, eventId));
    if (!row?.seed || !row.drawnAt) throw new Error(`event ${eventId} has no row in MySQL to keep its draw seed in`);
    return { seed: row.seed, drawnAt: row.drawnAt };
  };
}

export type DrawOutcome =
  | { status: "drawn"; size: number; seed: string; ms: { total: number; read: number; rank: number; write: number } }
  | { status: "busy" | "not_due" | "none" | "ended" | "event_not_found" | "already_drawn" | "lost_claim" };

type Claimed = { preEnd: number; seed: string; drawnAt: Date };

/**
 * The pre-queue draw (contract: at `startsAt` everyone in the pre-queue gets a place drawn
 * uniformly at random, ahead of everyone who enters after `startsAt`). Run by the scheduler of any
 * queue process at its first tick at or after the start; one pass over the pre-queue:
 *
 * 1. claim (draw-claim-2.lua): closes the pre-queue (arrival sequences 1..preEnd are the pre-queue's,
 *    preEnd+1..2 preEnd are reserved for their places, later arrivals come after) and takes a lease,
 *    so one drawer works at a time;
 * 2. the seed: 32 bytes from the CSPRNG, kept in MySQL written once (`mysqlSeedRecord`); a drawer
 *    that takes over after a crash, or after a Redis loss, gets the same seed back;
 * 3. read the pre-queue once, in slices (ZRANGE BYSCORE … LIMIT), and rank it with `drawOrder`;
 * 4. write the line once, in chunks (draw-move-3.lua): the user ranked r of n gets arrival sequence
 *    2 preEnd − n + r, so the drawn places end right before the first later arrival and a position
 *    estimated from sequences (the router's view) counts no hole for them; chunks go from the last
 *    place to the first, which keeps a takeover's moves from landing on a place someone still holds
 *    (a takeover ranks n' ≤ n users, so each one's place only moves back: 2 preEnd − n' + r' ≥
 *    2 preEnd − n + r);
 * 5. finish (draw-finish-1.lua): the line is drawn, admission starts at the next tick.
 */
export class PreQueueDraw {
  private readonly claimScript;
  private readonly moveScript;
  private readonly finishScript;
  private readonly inflight = new Map<number, Promise<DrawOutcome>>();
  /** this drawer's id in claims: unique per instance, readable in Redis */
  readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly record: SeedRecord,
    private readonly opts = { leaseMs: 10_000, readChunk: 20_000, moveChunk: 5_000 },
  ) {
    this.claimScript = runScript(redis, "drawClaim");
    this.moveScript = runScript(redis, "drawMove");
    this.finishScript = runScript(redis, "drawFinish");
  }

  /** The event's draw, if it is due and nobody else draws it now (one run at a time per process). */
  run(eventId: number): Promise<DrawOutcome> {
    let p = this.inflight.get(eventId);
    if (!p) {
      p = this.draw(eventId).finally(() => this.inflight.delete(eventId));
      this.inflight.set(eventId, p);
    }
    return p;
  }

  private async draw(eventId: number): Promise<DrawOutcome> {
    const t0 = performance.now();
    const claimed = await this.claim(eventId);
    if ("status" in claimed) return claimed;
    try {
      const t1 = performance.now();
      const users = await this.read(eventId, claimed.preEnd);
      const t2 = performance.now();
      const order = drawOrder(claimed.seed, users);
      const t3 = performance.now();
      if (!(await this.place(eventId, claimed.preEnd, order))) return { status: "lost_claim" };
      const t4 = performance.now();
      const total = Math.round(t4 - t0);
      if (!(await this.finish(eventId, claimed, order.length, total))) return { status: "lost_claim" };
      const ms = { total, read: Math.round(t2 - t1), rank: Math.round(t3 - t2), write: Math.round(t4 - t3) };
      return { status: "drawn", size: order.length, seed: claimed.seed, ms };
    } catch (e) {
      await this.finishScript(eventKeys(this.prefix, eventId).meta, this.owner, "release").catch(() => {});
      throw e;
    }
  }

  /** Steps 1 and 2: the claim, then the event's one seed. */
  async claim(eventId: number): Promise<Claimed | { status: Exclude<DrawOutcome["status"], "drawn"> }> {
    const k = eventKeys(this.prefix, eventId);
    const r = (await this.claimScript(k.meta, k.waitSeq, Date.now(), this.owner, this.opts.leaseMs)) as [string, number?];
    if (r[0] === "drawn") return { status: "already_drawn" };
    if (r[0] !== "claimed") return { status: r[0] as "busy" | "not_due" | "none" | "ended" | "event_not_found" };
    try {
      const { seed, drawnAt } = await this.record(eventId, randomBytes(32).toString("hex"), new Date());
      return { preEnd: Number(r[1]), seed, drawnAt };
    } catch (e) {
      await this.finishScript(k.meta, this.owner, "release").catch(() => {});
      throw e;
    }
  }

  /** Step 3: the pre-queued users still in line (arrival sequence ≤ preEnd, or a place an earlier drawer gave). */
  async read(eventId: number, preEnd: number): Promise<string[]> {
    const key = eventKeys(this.prefix, eventId).waiting;
    const users: string[] = [];
    for (let from = "-inf"; ; ) {
      const flat = await this.redis.zrangebyscore(key, from, 2 * preEnd, "WITHSCORES", "LIMIT", 0, this.opts.readChunk);
      for (let i = 0; i < flat.length; i += 2) users.push(flat[i]!);
      if (flat.length < 2 * this.opts.readChunk) return users;
      from = `(${flat[flat.length - 1]}`;
    }
  }

  /** Step 4, for `order` (first place first), or a part of it (`upTo` places from the last): false if the claim was lost. */
  async place(eventId: number, preEnd: number, order: readonly string[], upTo = order.length): Promise<boolean> {
    const k = eventKeys(this.prefix, eventId);
    const n = order.length;
    const base = 2 * preEnd - n;
    const stop = n - upTo;
    for (let end = n; end > stop; end -= this.opts.moveChunk) {
      const args: (string | number)[] = [];
      for (let i = end - 1; i >= Math.max(stop, end - this.opts.moveChunk); i--) args.push(order[i]!, base + i + 1);
      if (Number(await this.moveScript(k.meta, k.waiting, k.waitLive, this.owner, Date.now(), this.opts.leaseMs, ...args)) < 0) return false;
    }
    return true;
  }

  /** Step 5. */
  async finish(eventId: number, c: Claimed, size: number, totalMs: number): Promise<boolean> {
    return Number(await this.finishScript(eventKeys(this.prefix, eventId).meta, this.owner, c.seed, c.drawnAt.getTime(), size, totalMs)) === 1;
  }
}

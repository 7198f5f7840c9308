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
  return drawRanks(seedHex, users).map((i) => users[i]!);
}

/** `drawOrder` as indices into `users`. */
export function drawRanks(seedHex: string, users: readonly string[]): number[] {
  const key = Buffer.from(seedHex, "hex");
  if (key.length !== 32 || key.toString("hex") !== seedHex.toLowerCase()) throw new RangeError("the seed is 64 hex digits");
  const keyed = users.map((user, i) => {
    const h = new Bun.CryptoHasher("sha256", key).update(user).digest();
    // the first 48 bits as a number sort almost every pair; the whole digest decides the rest
    return { i, head: h.readUIntBE(0, 6), h };
  });
  keyed.sort((a, b) => a.head - b.head || Buffer.compare(a.h, b.h));
  return keyed.map((k) => k.i);
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

/** The pre-queue as one read saw it: each user's current sequence. */
export type PreQueueRead = { users: string[]; seqs: number[] };

export type DrawOutcome =
  | { status: "drawn"; size: number; seed: string; ms: { total: number; read: number; rank: number; write: number } }
  | { status: "busy" | "not_due" | "none" | "ended" | "event_not_found" | "already_drawn" | "lost_claim" };

type Claimed = { preEnd: number; seed: string; drawnAt: Date };

// SETRANGE pieces of the liveness string: 256 KB (64k places) is a memcpy, far below a millisecond
const LIVE_PIECE = 256 * 1024;

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
 * 3. read the pre-queue once, in slices (ZRANGE BYSCORE … LIMIT), and rank it with `drawRanks`;
 * 4. write the line once, in chunks: first a sign of life at every drawn place, stamped with the
 *    draw's time (draw-live-2.lua, SETRANGE in pieces): nobody is dropped for silence before the
 *    draw, their grace counts from it; then the places (draw-move-2.lua, ZADD XX GT). The user
 *    ranked r of n gets arrival sequence 2 preEnd − n + r, so the drawn places end right before the
 *    first later arrival and a position estimated from sequences (the router's view) counts no hole
 *    for them. A takeover ranks n' ≤ n users (some left), so each one's place can only move back
 *    (2 preEnd − n' + r' ≥ 2 preEnd − n + r), which GT lets through;
 * 5. finish (draw-finish-1.lua): the line is drawn, admission starts at the next tick.
 */
export class PreQueueDraw {
  private readonly claimScript;
  private readonly liveScript;
  private readonly moveScript;
  private readonly finishScript;
  private readonly inflight = new Map<number, Promise<DrawOutcome>>();
  /** this drawer's id in claims: unique per instance, readable in Redis */
  readonly owner = `${hostname()}:${process.pid}:${randomBytes(4).toString("hex")}`;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly record: SeedRecord,
    private readonly opts = { leaseMs: 10_000, readChunk: 20_000, moveChunk: 2_000 },
  ) {
    this.claimScript = runScript(redis, "drawClaim");
    this.liveScript = runScript(redis, "drawLive");
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
      const pre = await this.read(eventId, claimed.preEnd);
      const t2 = performance.now();
      const ranks = drawRanks(claimed.seed, pre.users);
      const t3 = performance.now();
      if (!(await this.place(eventId, claimed.preEnd, pre, ranks))) return { status: "lost_claim" };
      const t4 = performance.now();
      const total = Math.round(t4 - t0);
      if (!(await this.finish(eventId, claimed, ranks.length, total))) return { status: "lost_claim" };
      const ms = { total, read: Math.round(t2 - t1), rank: Math.round(t3 - t2), write: Math.round(t4 - t3) };
      return { status: "drawn", size: ranks.length, seed: claimed.seed, ms };
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
  async read(eventId: number, preEnd: number): Promise<PreQueueRead> {
    const k = eventKeys(this.prefix, eventId);
    const users: string[] = [];
    const seqs: number[] = [];
    for (let from = "-inf"; ; ) {
      const flat = await this.redis.zrangebyscore(k.waiting, from, 2 * preEnd, "WITHSCORES", "LIMIT", 0, this.opts.readChunk);
      for (let i = 0; i < flat.length; i += 2) {
        users.push(flat[i]!);
        seqs.push(Number(flat[i + 1]));
      }
      if (flat.length < 2 * this.opts.readChunk) break;
      from = `(${flat[flat.length - 1]}`;
    }
    return { users, seqs };
  }

  /**
   * Step 4 for the users of `pre` in the order of `ranks` (first place first), or only the last
   * `upTo` places: false if the claim was lost.
   */
  async place(eventId: number, preEnd: number, pre: PreQueueRead, ranks: readonly number[], upTo = ranks.length): Promise<boolean> {
    const k = eventKeys(this.prefix, eventId);
    const n = ranks.length;
    const base = 2 * preEnd - n;
    // the drawn places' part of the liveness string: place p's word at byte 4p (big-endian u32),
    // the draw's time (0 means "never seen" in live.lua: a time that wraps to 0 is written as 1)
    const from = 4 * (preEnd + 1);
    const region = Buffer.alloc(4 * preEnd);
    const stamp = Date.now() % 4294967296 || 1;
    for (let r = 0; r < n; r++) region.writeUInt32BE(stamp, 4 * (base + r + 1) - from);
    for (let at = 0; at < region.length; at += LIVE_PIECE) {
      if (Number(await this.liveScript(k.meta, k.waitLive, this.owner, from + at, region.subarray(at, at + LIVE_PIECE))) < 0) return false;
    }
    for (let start = n - upTo; start < n; start += this.opts.moveChunk) {
      const args: (string | number)[] = [];
      for (let r = start; r < Math.min(n, start + this.opts.moveChunk); r++) args.push(base + r + 1, pre.users[ranks[r]!]!);
      if (Number(await this.moveScript(k.meta, k.waiting, this.owner, Date.now(), this.opts.leaseMs, ...args)) < 0) return false;
    }
    return true;
  }

  /** Step 5. */
  async finish(eventId: number, c: Claimed, size: number, totalMs: number): Promise<boolean> {
    return Number(await this.finishScript(eventKeys(this.prefix, eventId).meta, this.owner, c.seed, c.drawnAt.getTime(), size, totalMs)) === 1;
  }
}

import { eventKeys, runScript, type RedisClient } from "../../src/redis";

/**
 * Per event: `aggregate` is the all-routers rate Redis returned at the last flush, `flushing` the
 * local counts on their way there, `local` what was counted since. `firstRead` is the one read
 * that a burst of first requests shares.
 */
type Counter = { local: number; flushing: number; aggregate: number; lastHit: number; firstRead: Promise<void> | null; known: boolean };

/**
 * Measures each event's live request rate without a Redis round trip per request: requests are
 * counted in memory, and every `flushMs` each router adds its counts to shared per-second buckets and
 * reads back the sliding-window total of all routers (rate-1.lua). The rate seen by a request is
 * that total plus what this router counted since (including counts still in flight to Redis).
 */
export class RateMeter {
  private readonly counters = new Map<number, Counter>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly rateScript;
  /** Runs in the same tick as every flush, so its Redis calls share the flush's round trip (the router's event view). */
  onFlush: (() => Promise<void>) | null = null;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly flushMs: number,
  ) {
    this.rateScript = runScript(redis, "rate");
  }

  start() {
    this.timer ??= setInterval(() => this.flushAll().catch(() => {}), this.flushMs);
  }

  stop() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Counts one request and returns the event's rate per minute before it. */
  async hit(eventId: number): Promise<number> {
    const c = await this.ready(eventId);
    // read and counted in one synchronous step: each of a burst of requests sees the ones before it
    const rpm = c.aggregate + c.flushing + c.local;
    this.count(eventId);
    return rpm;
  }

  /** The event's rate per minute now, without counting a request. */
  async rate(eventId: number): Promise<number> {
    const c = await this.ready(eventId);
    return c.aggregate + c.flushing + c.local;
  }

  // the first requests for an event in this process read the shared rate before deciding
  private async ready(eventId: number): Promise<Counter> {
    const c = this.counter(eventId);
    if (!c.known) await (c.firstRead ??= this.flush(eventId, c).finally(() => (c.firstRead = null)));
    return c;
  }

  /** Counts one request (after `rate`: an enter counts once the waiting room said the user was new). */
  count(eventId: number) {
    const c = this.counter(eventId);
    c.local++;
    c.lastHit = Date.now();
  }

  private counter(eventId: number): Counter {
    let c = this.counters.get(eventId);
    // lastHit starts now so the idle sweep in flushAll cannot drop a counter whose first read is in flight
    if (!c) this.counters.set(eventId, (c = { local: 0, flushing: 0, aggregate: 0, lastHit: Date.now(), firstRead: null, known: false }));
    return c;
  }

  /** Each event's rate per minute as a request would see it now (events hit in the last minute). */
  rates(): Map<number, number> {
    const out = new Map<number, number>();
    for (const [id, c] of this.counters) if (c.known) out.set(id, c.aggregate + c.flushing + c.local);
    return out;
  }

  private async flush(eventId: number, c: Counter) {
    const add = c.local;
    c.local = 0;
    c.flushing += add;
    try {
      c.aggregate = Number(await this.rateScript(eventKeys(this.prefix, eventId).rate, Date.now(), add));
      c.known = true;
    } catch (e) {
      c.local += add; // counted again at the next flush rather than lost
      throw e;
    } finally {
      c.flushing -= add;
    }
  }

  private async flushAll() {
    const now = Date.now();
    await Promise.all([
      this.onFlush?.().catch(() => {}),
      ...[...this.counters].map(([id, c]) => {
        // an event idle for over a minute has rate 0 here; forget it until it is hit again
        if (now - c.lastHit > 61_000) return void this.counters.delete(id);
        return this.flush(id, c).catch(() => {});
      }),
    ]);
  }
}

import { eventKeys, runScript, type RedisClient } from "../../src/redis";

type Counter = { local: number; aggregate: number; lastHit: number; known: boolean };

/**
 * Measures each event's live request rate without a Redis round trip per request: requests are
 * counted in memory, and every `flushMs` each router adds its counts to shared per-second buckets and
 * reads back the sliding-window total of all routers (rate-1.lua). The rate seen by a request is
 * that total plus what this router counted since its last flush.
 */
export class RateMeter {
  private readonly counters = new Map<number, Counter>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly rateScript;

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
    let c = this.counters.get(eventId);
    if (!c) this.counters.set(eventId, (c = { local: 0, aggregate: 0, lastHit: 0, known: false }));
    // the first request for an event in this process reads the shared rate before deciding
    if (!c.known) await this.flush(eventId, c);
    const rpm = c.aggregate + c.local;
    c.local++;
    c.lastHit = Date.now();
    return rpm;
  }

  private async flush(eventId: number, c: Counter) {
    const add = c.local;
    c.local -= add;
    try {
      c.aggregate = Number(await this.rateScript(eventKeys(this.prefix, eventId).rate, Date.now(), add));
      c.known = true;
    } catch (e) {
      c.local += add; // counted again at the next flush rather than lost
      throw e;
    }
  }

  private async flushAll() {
    const now = Date.now();
    await Promise.all(
      [...this.counters].map(([id, c]) => {
        // an event idle for over a minute has rate 0 here; forget it until it is hit again
        if (now - c.lastHit > 61_000) return void this.counters.delete(id);
        return this.flush(id, c).catch(() => {});
      }),
    );
  }
}

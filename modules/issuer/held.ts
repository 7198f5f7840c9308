// What an issuer has read from the streams and MySQL does not have yet, and its announcement in Redis.
import { eventKeys, runScript, type RedisClient } from "../../src/redis";
import type { Entry } from "./service";

/** How long a holder announcement lives, and how often a holder renews it (reconcile's fence must exceed the renewal). */
export const HOLD_TTL_MS = 1000;
export const HOLD_RENEW_MS = 200;

type Batch = { entries: Map<string, Entry>; lastTry: Set<string>; epoch: number };

/** A stream entry's flat [field, value, …] list as a record (e = event, u = user, t = issued at ms, c = code, ep = epoch). */
export function entryFields(fields: string[]): Record<string, string | undefined> {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
  return f;
}

/**
 * Every entry this issuer has read, per event, until MySQL has it (issue #19, finding 1): through a
 * MySQL outage of any length the entries stay here, not only in Redis, and are announced every
 * 200 ms (republish-4.lua). When Redis comes back without them (a restart, a wipe) the announcement
 * puts their users back into the issued hash and takes their units before anyone new can be sold
 * one; the reconciliation's fence and guard make sales wait for that. An issuer that dies stops
 * announcing within a second; its entries are still pending in the stream for another to reclaim
 * (unless Redis lost them too: a double failure).
 */
export class Held {
  private readonly events = new Map<number, Batch>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly script;
  /** Units an announcement found already sold again (should never happen; logged and counted). */
  conflicts = 0;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly consumer: string,
  ) {
    this.script = runScript(redis, "republish");
  }

  start() {
    this.timer ??= setInterval(() => void this.announceAll(), HOLD_RENEW_MS);
  }

  stop() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  get size() {
    let n = 0;
    for (const b of this.events.values()) n += b.entries.size;
    return n;
  }

  eventIds(): number[] {
    return [...this.events.keys()];
  }

  /** The event's held entries (oldest first) and which of them are on their last delivery. */
  batch(eventId: number, max: number): { entries: Entry[]; lastTry: Set<string> } {
    const b = this.events.get(eventId);
    if (!b) return { entries: [], lastTry: new Set() };
    return { entries: [...b.entries.values()].slice(0, max), lastTry: b.lastTry };
  }

  /** Holds newly read entries and announces them at once. */
  async add(eventId: number, entries: Entry[], lastTry: Iterable<string>) {
    let b = this.events.get(eventId);
    if (!b) this.events.set(eventId, (b = { entries: new Map(), lastTry: new Set(), epoch: -1 }));
    for (const e of entries) b.entries.set(e[0], e);
    for (const id of lastTry) b.lastTry.add(id);
    await this.announce(eventId).catch(() => {});
  }

  /** Lets go of entries MySQL now has (or that were dead-lettered, or left to a reclaim). */
  async release(eventId: number, ids: Iterable<string>) {
    const b = this.events.get(eventId);
    if (!b) return;
    for (const id of ids) {
      b.entries.delete(id);
      b.lastTry.delete(id);
    }
    if (b.entries.size) return;
    this.events.delete(eventId);
    const k = eventKeys(this.prefix, eventId);
    await this.redis.multi().hdel(k.holders, this.consumer).hdel(k.backlog, this.consumer).exec().catch(() => {});
  }

  private announceAll() {
    for (const id of this.events.keys()) void this.announce(id).catch(() => {});
  }

  /** Renews the announcement; republishes the users when Redis may have lost them (see republish-4.lua). */
  private async announce(eventId: number) {
    const b = this.events.get(eventId);
    if (!b?.entries.size) return;
    const k = eventKeys(this.prefix, eventId);
    let oldest = Infinity;
    for (const [, fields] of b.entries.values()) oldest = Math.min(oldest, Number(entryFields(fields).t) || Date.now());
    const run = (full: boolean) => {
      const pairs: string[] = [];
      if (full) for (const [, fields] of b.entries.values()) {
        const f = entryFields(fields);
        if (f.u && f.c) pairs.push(f.u, f.c);
      }
      return this.script(k.meta, k.issued, k.holders, k.backlog, this.consumer, Date.now() + HOLD_TTL_MS, oldest, full ? 1 : 0, b.epoch, ...pairs) as Promise<[string, number, number?, number?]>;
    };
    let r = await run(false);
    if (r[0] === "republish") r = await run(true);
    b.epoch = Number(r[1]);
    if (r[2]) console.error(`issuer: event ${eventId}: Redis had lost ${r[2]} held issuance(s); put back (their units taken again)`);
    if (r[3]) {
      this.conflicts += Number(r[3]);
      console.error(`issuer: event ${eventId}: ${r[3]} held issuance(s) found their units sold again; MySQL's stock bound decides`);
    }
  }
}

import { eventKeys, runScript, type RedisClient } from "../../src/redis";
import { parseBrand, type BrandValue } from "../events/model";

/** One event as the last refresh saw it (times in ms since epoch, 0 = none). */
export type EventSnapshot = {
  id: number;
  /** Date.now() when it was read */
  at: number;
  name: string;
  stock: number;
  remaining: number;
  startsAt: number;
  endsAt: number;
  closed: boolean;
  trafficRpm: number;
  runningCapacity: number;
  admitPerSecond: number;
  admitRate: number;
  paused: boolean;
  cancelled: boolean;
  /** a cancel being settled holds the start (modules/events/control-begin-2.lua): scheduled until then */
  hold: boolean;
  queueOpensAt: number;
  maxWaiting: number;
  /** the pre-queue's last arrival sequence, once it closed at the start (-1 before; modules/queue/includes/prequeue.lua) */
  preEnd: number;
  /** the pre-queue's places are drawn (or there was nobody to draw) */
  drawn: boolean;
  /** the operator's word to the people waiting ("" = none) */
  message: string;
  couponValidUntil: number;
  brand: BrandValue | null;
  /** the bot gate's difficulty (0 = off) */
  botPow: number;
  claim: "manual" | "on_turn";
  /** per-event slot ttl and waiter grace in seconds (0: the env default) */
  slotSeconds: number;
  graceSeconds: number;
  /** users in the line */
  waiting: number;
  /** arrival sequence of the first waiter not back at a lapsed slot's place (0: none known): never moves back */
  headSeq: number;
  /** users back at a lapsed slot's place, ahead of the head (and of everyone) */
  rejoined: number;
  /** the last arrival sequence handed out */
  tailSeq: number;
  /** live running slots */
  running: number;
  /**
   * Arrival sequences between the head and the tail whose holders left the line (read from the
   * event's departures list with every refresh; at once for a leave through this process): a ticket
   * naming one is out of date, and only the exact poll may answer it.
   */
  departed: ReadonlySet<number>;
  /** no ticket at or below this sequence is answered from the view (departures dropped from the bounded list: leave-7.lua) */
  departedFloor: number;
};

type Entry = { snap: EventSnapshot; at: number; lastHit: number };
/** The departures of one event this process knows: how many of the list it has read, those still ahead of the head and above the floor. */
type Departures = { read: number; seqs: Set<number>; head: number; floor: number };
// departures taken per read: a burst of leavers is caught up over a few flushes, never in one huge reply
const DEPARTURES_PER_READ = 10_000;

const num = (v: string | null | undefined) => Number(v || 0);

/**
 * A per-process view of every event this process served recently: status, remaining, the line's
 * length, head and tail, slots, settings and admission rate. It is read once per flush (with the
 * RateMeter's, every RATE_FLUSH_MS) for all such events in one pipelined round trip, never per
 * request, and the hot paths answer from it whatever it already knows: an unknown event, sold out,
 * not open or closed, a full line, the public event info, and the place of a waiter far from the
 * head. It only ever refuses or estimates: anything that could lead to a 201 runs in Lua.
 *
 * Freshness: a snapshot older than `maxAgeMs` is never used (the request reads the event itself,
 * one read shared by concurrent requests); a change made through this process (create, PATCH,
 * reconciliation) drops the event's snapshot at once; a dropped Redis connection drops them all.
 * So a fact that un-happened elsewhere (an event reopened by a PATCH on another process, stock
 * rebuilt by a reconciliation) is seen here within one flush.
 *
 * Unknown ids are remembered for one flush only (bounded), so random ids cost one read each and a
 * new event is never "unknown" here for longer than a flush.
 *
 * Liveness of waiters answered from the view is kept here too and written in one BITFIELD per
 * event and flush (see modules/queue/includes/live.lua).
 */
export class EventView {
  private readonly entries = new Map<number, Entry>();
  // ids Redis (and MySQL, where at hand) did not know at the last read: forgotten at every refresh
  private readonly unknown = new Set<number>();
  private readonly loading = new Map<number, Promise<EventSnapshot | null>>();
  private readonly seen = new Map<number, Set<number>>();
  // kept apart from the snapshots: a dropped snapshot must not forget a departure already read
  private readonly departures = new Map<number, Departures>();
  private readonly script;
  private readonly maxAgeMs: number;
  // when each event (and everything) was last dropped: a read that started before never stores what it saw
  private readonly droppedAt = new Map<number, number>();
  private clearedAt = 0;
  /**
   * Where this process can reach MySQL: rebuilds an event Redis lost (reconciliation), so an id
   * missing from Redis is "unknown" only if MySQL does not know it either.
   */
  rebuild: ((id: number) => Promise<boolean>) | null = null;
  /** requests answered from memory / that had to read the event first (tests and the bench read these) */
  readonly counts = { hits: 0, loads: 0, refreshes: 0 };

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly flushMs: number,
    private readonly idleMs = 60_000,
    private readonly maxUnknown = 10_000,
  ) {
    this.script = runScript(redis, "view");
    // a flush that is late by more than one period means Redis or this process is struggling:
    // then requests read for themselves rather than trust older facts
    this.maxAgeMs = flushMs * 3;
    redis.on("close", () => this.clear());
  }

  /** The event's snapshot if a fresh one is at hand (null: known not to exist), else undefined. */
  lookup(id: number, now = Date.now()): EventSnapshot | null | undefined {
    const e = this.entries.get(id);
    if (!e) {
      if (!this.unknown.has(id)) return undefined;
      this.counts.hits++;
      return null;
    }
    if (now - e.at > this.maxAgeMs) return undefined;
    e.lastHit = now;
    this.counts.hits++;
    return e.snap;
  }

  /** The event's snapshot, read now if none fresh is at hand (concurrent callers share one read). */
  get(id: number): EventSnapshot | null | Promise<EventSnapshot | null> {
    const hit = this.lookup(id);
    return hit !== undefined ? hit : this.load(id);
  }

  load(id: number): Promise<EventSnapshot | null> {
    let p = this.loading.get(id);
    if (!p) {
      this.counts.loads++;
      p = this.read(id)
        .then(async (snap) => (snap || !this.rebuild || !(await this.rebuild(id)) ? snap : this.read(id)))
        .finally(() => this.loading.delete(id));
      this.loading.set(id, p);
    }
    return p;
  }

  /** Forgets the event (it was just changed through this process). */
  invalidate(id: number) {
    this.droppedAt.set(id, performance.now());
    this.entries.delete(id);
    this.unknown.delete(id);
  }

  /** Forgets everything (the Redis connection dropped: Redis may have restarted or failed over). */
  clear() {
    this.clearedAt = performance.now();
    this.entries.clear();
    this.unknown.clear();
  }

  /** A waiter answered from the view showed a sign of life (flushed with the next refresh). */
  markLive(id: number, seq: number) {
    let s = this.seen.get(id);
    if (!s) this.seen.set(id, (s = new Set()));
    s.add(seq);
  }

  /** A waiter left through this process: their old place is out of date here at once (other routers: at their next refresh). */
  markDeparted(id: number, seq: number) {
    if (seq > 0) this.departuresOf(id).seqs.add(seq);
  }

  private departuresOf(id: number): Departures {
    let d = this.departures.get(id);
    if (!d) this.departures.set(id, (d = { read: 0, seqs: new Set(), head: 0, floor: 0 }));
    return d;
  }

  /** Takes in the departures a read returned (from position `from` of the list) and forgets those the head has passed or the floor covers. */
  private depart(d: Departures, from: number, seqs: (string | number | null)[], head: number, floor: number) {
    // a list shorter than what was read before was lost and is written anew: start over
    if (from < d.read) d.seqs.clear();
    for (const s of seqs) d.seqs.add(Number(s));
    d.read = from + seqs.length;
    if (head > d.head || floor > d.floor) {
      d.head = Math.max(d.head, head);
      d.floor = Math.max(d.floor, floor);
      for (const s of d.seqs) if (s < d.head || s <= d.floor) d.seqs.delete(s);
    }
  }

  private async read(id: number, missingIsUnknown = true): Promise<EventSnapshot | null> {
    const now = Date.now();
    const started = performance.now();
    const k = eventKeys(this.prefix, id);
    const d = this.departuresOf(id);
    const r = (await this.script(k.meta, k.waiting, k.waitSeq, k.running, k.departed, k.departedTrim, k.lapsed, now, d.read, DEPARTURES_PER_READ)) as (string | number | null)[];
    const snap = r.length ? parse(id, now, r, d.seqs) : null;
    if (snap) this.depart(d, Number(r[DEPARTURES_AT]), r.slice(DEPARTURES_AT + 1), snap.headSeq, snap.departedFloor);
    else this.departures.delete(id);
    if (started <= this.clearedAt || started <= (this.droppedAt.get(id) ?? -1)) return snap;
    if (snap || missingIsUnknown) this.remember(id, snap, now);
    else this.entries.delete(id);
    return snap;
  }

  private remember(id: number, snap: EventSnapshot | null, now: number) {
    if (!snap) {
      this.entries.delete(id);
      if (this.unknown.size >= this.maxUnknown) this.unknown.clear();
      this.unknown.add(id);
      return;
    }
    this.unknown.delete(id);
    const e = this.entries.get(id);
    if (e) {
      e.snap = snap;
      e.at = now;
    } else this.entries.set(id, { snap, at: now, lastHit: now });
  }

  /**
   * One refresh: every event served within `idleMs` is read again and every batch of waiter
   * liveness written, all in the same tick so auto-pipelining sends them in one round trip.
   */
  async refresh(now = Date.now()): Promise<void> {
    this.counts.refreshes++;
    const reads: Promise<unknown>[] = [];
    // unknown ids are not re-read: forgotten, they are read again on their next use
    this.unknown.clear();
    for (const [id, e] of this.entries) {
      if (now - e.lastHit > this.idleMs) {
        this.entries.delete(id);
        this.departures.delete(id);
        continue;
      }
      // an event that vanished from Redis (a wipe without a reconnect) is not "unknown": its next
      // request reads it again, which has it rebuilt where MySQL is at hand
      reads.push(this.read(id, false).catch(() => {}));
    }
    for (const [id, seqs] of this.seen) reads.push(this.flushLive(id, seqs, now));
    // a drop only matters to reads in flight when it happened
    const old = performance.now() - 60_000;
    for (const [id, at] of this.droppedAt) if (at < old) this.droppedAt.delete(id);
    this.seen.clear();
    await Promise.all(reads);
  }

  private async flushLive(id: number, seqs: Set<number>, now: number) {
    // the flush time, not the poll time: never earlier than the poll, so liveness is never understated
    const stamp = now % 4294967296 || 1; // 0 means "never seen" (live.lua)
    const args: (string | number)[] = [];
    for (const seq of seqs) args.push("SET", "u32", `#${seq}`, stamp);
    const key = eventKeys(this.prefix, id).waitLive;
    try {
      for (let i = 0; i < args.length; i += 12_000) await this.redis.bitfield(key, ...(args.slice(i, i + 12_000) as ["SET", string, string, number]));
    } catch {
      // kept for the next flush rather than lost
      let s = this.seen.get(id);
      if (!s) this.seen.set(id, (s = new Set()));
      for (const seq of seqs) s.add(seq);
    }
  }
}

// view-7.lua's reply: the meta fields, the line and the slots (up to `rejoined`), the departures' floor, then where the departures start and the departures
const DEPARTURES_AT = 30;

function parse(id: number, at: number, r: (string | number | null)[], departed: ReadonlySet<number>): EventSnapshot {
  const s = (i: number) => (r[i] === null || r[i] === undefined ? null : String(r[i]));
  return {
    id,
    at,
    stock: num(s(0)),
    remaining: num(s(1)),
    startsAt: num(s(2)),
    endsAt: num(s(3)),
    closed: s(4) === "1",
    trafficRpm: num(s(5)),
    runningCapacity: num(s(6)) || 1,
    admitPerSecond: num(s(7)) || 1,
    admitRate: num(s(8)),
    paused: s(9) === "1",
    cancelled: s(10) === "1",
    queueOpensAt: num(s(11)),
    maxWaiting: num(s(12)),
    name: s(13) ?? "",
    preEnd: s(14) === null ? -1 : num(s(14)),
    drawn: s(15) === "1",
    couponValidUntil: num(s(16)),
    brand: parseBrand(s(17)),
    botPow: num(s(18)),
    message: s(19) ?? "",
    claim: s(20) === "on_turn" ? "on_turn" : "manual",
    slotSeconds: num(s(21)),
    graceSeconds: num(s(22)),
    hold: s(23) === "1",
    // after the meta fields (their count above): the line and the slots
    waiting: num(s(24)),
    headSeq: num(s(25)),
    tailSeq: num(s(26)),
    running: num(s(27)),
    rejoined: num(s(28)),
    departedFloor: num(s(29)),
    departed,
  };
}


/** The pre-queue's phase as the view sees it (the same rule as includes/prequeue.lua, without closing it). */
export function preQueuePhase(v: EventSnapshot, now = Date.now()): "none" | "early" | "open" | "drawing" | "drawn" {
  if (v.queueOpensAt <= 0) return "none";
  if (v.drawn) return "drawn";
  if (v.preEnd >= 0) return "drawing";
  if (now < v.startsAt) return now >= v.queueOpensAt ? "open" : "early";
  return "drawing";
}

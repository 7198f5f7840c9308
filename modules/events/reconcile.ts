import { Cluster } from "ioredis";
import { ApiError } from "../../src/http";
import { OutageLog } from "../../src/outage";
import { globalKeys, type RedisClient } from "../../src/redis";
import type { EventService } from "./service";

/** The identity of the Redis server(s) behind the client: a restart or a failover changes it. */
export async function redisRunId(redis: RedisClient): Promise<string> {
  const nodes = redis instanceof Cluster ? redis.nodes("master") : [redis];
  const ids = await Promise.all(nodes.map(async (n) => /run_id:(\w+)/.exec(await n.info("server"))?.[1] ?? "?"));
  return ids.sort().join(",");
}

/**
 * Decides when the Redis state of events may not be trusted, and has it reconciled with MySQL and
 * the streams (EventService.reconcile) before this process sells again. Only a Redis failure puts an
 * event in doubt: MySQL being down never stops a sale by itself (issue #19, finding 4).
 * - on start, every live event is reconciled before the server listens;
 * - whenever a connection drops, this process's sales wait until the reconnect has been checked: if
 *   Redis's run id is the one recorded at the last reconciliation and the record is still there, it
 *   is the same server with all its writes (a blip), and every event is trusted again without MySQL;
 * - when the run id differs, or the record is gone (a restart, a failover, a wipe), every event is in
 *   doubt: each is reconciled (and its sales fenced for a while, for issuances an issuer read before
 *   the loss) before it sells here again. The run id is also compared every `checkMs`.
 * One event that fails is logged, retried, shown in its stats and in /health/ready; it never
 * stops the others or the process.
 */
export class Reconciler {
  // bumped whenever a connection drops or Redis's run id changes; an event may sell here once it has
  // been reconciled by a run that started at the current generation
  private generation = 0;
  // the generation at which Redis was last found to be the server it was, with its record: every event may sell
  private trustedAt = -1;
  private readonly reconciledAt = new Map<number, number>();
  private readonly inflight = new Map<number, { gen: number; run: Promise<void> }>();
  private checking: Promise<void> | null = null;
  private fullAgain = false;
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly marker: string;
  private readonly repairs: string;
  private readonly redis: RedisClient;
  /** Checked after the event is trusted: the bound on promises waiting for MySQL (modules/issuer/backlog.ts). */
  backlog: ((eventId: number) => Promise<void>) | null = null;
  // events this process sold lately (checked every tick for a partial loss)
  private readonly selling = new Map<number, number>();
  // stopping: a check still running fails as the pool closes; that says nothing worth logging
  private stopped = false;
  private readonly settling = new OutageLog("settling abandoned controls");

  /** `clients`: every connection this process sells through; the first one also reads and writes. */
  constructor(
    private readonly clients: RedisClient[],
    private readonly events: EventService,
    prefix: string,
    private readonly checkMs = 1000,
  ) {
    this.redis = clients[0]!;
    this.marker = globalKeys(prefix).redisRun;
    this.repairs = globalKeys(prefix).repairs;
  }

  get failures(): ReadonlyMap<number, string> {
    return this.events.reconcileFailures;
  }

  async start() {
    // a strict client sends nothing before it is connected
    await Promise.all(this.clients.map((c) => (c.status === "ready" ? null : new Promise((ok) => c.once("ready", ok)))));
    await this.check("start");
    for (const c of this.clients) {
      c.on("close", () => this.generation++);
      // a reconnect: whatever happened while we were away, look again before selling
      c.on("ready", () => void this.check("reconnect").catch((e) => console.error(`reconcile after reconnect failed: ${e.message}`)));
    }
    this.timer = setInterval(() => void this.check("tick").catch(() => {}), this.checkMs);
  }

  stop() {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Resolves once this process may sell the event (see the class comment); a 503 if it cannot be reconciled. */
  gate = async (eventId: number): Promise<void> => {
    this.selling.set(eventId, Date.now());
    await this.trust(eventId);
    await this.backlog?.(eventId);
  };

  private trust = async (eventId: number): Promise<void> => {
    if (this.trusted(eventId)) return;
    // a reconnect is being checked: it may well find the same Redis, and then nothing is in doubt
    if (this.checking) await this.checking.catch(() => {});
    if (this.trusted(eventId)) return;
    // reconciled here before, at an older generation: a connection dropped since, writes may be lost
    const suspect = this.reconciledAt.has(eventId);
    try {
      await this.reconcile(eventId, suspect);
    } catch {
      throw new ApiError(503, "unavailable", "the event's state is being checked after a Redis failure; nothing was issued, try again shortly");
    }
  };

  private trusted(eventId: number) {
    return this.trustedAt >= this.generation || (this.reconciledAt.get(eventId) ?? -1) >= this.generation;
  }

  /**
   * Reconciles the event unless a run that started at the current generation is already on its way
   * (a run that started before the last drop may have read the state from before the loss).
   */
  private reconcile(id: number, lossSuspected: boolean): Promise<void> {
    const gen = this.generation;
    const current = this.inflight.get(id);
    if (current && current.gen >= gen) return current.run;
    const run = this.events
      .reconcileFresh(id, lossSuspected)
      .then(() => {
        if ((this.reconciledAt.get(id) ?? -1) < gen) this.reconciledAt.set(id, gen);
      }, (e) => {
        if (!this.stopped) this.events.recordFailure(id, e);
        throw e;
      })
      .finally(() => {
        if (this.inflight.get(id)?.run === run) this.inflight.delete(id);
      });
    this.inflight.set(id, { gen, run });
    return run;
  }

  /**
   * `start` and `reconnect` reconcile every live event; a `tick` compares Redis's run id with the
   * recorded one and does so only when it changed. Events that failed before are retried each time.
   * A reconnect that arrives during another check gets a full pass of its own right after it.
   */
  private check(why: "start" | "reconnect" | "tick"): Promise<void> {
    if (this.checking) {
      if (why === "tick") return this.checking;
      this.fullAgain = true;
      return this.checking.then(() => {
        if (!this.fullAgain) return this.checking ?? undefined;
        this.fullAgain = false;
        return this.check("reconnect");
      });
    }
    this.checking = this.run(why).finally(() => (this.checking = null));
    return this.checking;
  }

  private async run(why: "start" | "reconnect" | "tick") {
    const [runId, recorded] = await Promise.all([redisRunId(this.redis), this.redis.get(this.marker)]);
    const lost = runId !== recorded;
    if (lost) this.generation++;
    const gen = this.generation;
    // the same server with its record after a drop: a blip, nothing was lost, nothing is in doubt
    if (!lost && why === "reconnect") this.trustedAt = Math.max(this.trustedAt, gen);
    if (why === "start" || lost) {
      if (lost && recorded !== null) console.error(`redis ${recorded} is now ${runId}: reconciling every event with MySQL before selling again`);
      const events = await this.events.allEvents();
      await pool(events, 4, async (ev) => {
        if (!ev.live) return this.events.closeInRedis(ev).catch((e) => this.events.recordFailure(ev.id, e));
        await this.reconcile(ev.id, lost).catch(() => {});
      });
      await this.redis.set(this.marker, runId);
      // on start every event was just reconciled or is new: trust this Redis from here on
      if (why === "start") this.trustedAt = Math.max(this.trustedAt, gen);
    }
    for (const id of [...this.events.reconcileFailures.keys()]) await this.reconcile(id, lost).catch(() => {});
    if (!lost) await this.checkPartialLoss();
    await this.repairAsked();
    // an operator's control whose process died half-way: in force within a tick of its lease lapsing
    await this.events.settleAbandoned().then(() => this.settling.ok(), (e) => this.stopped || this.settling.failed(e));
  }

  /** Events a queue-only process's on_turn scheduler found short of issued users (modules/queue/index.ts). */
  private async repairAsked() {
    for (const m of await this.redis.smembers(this.repairs)) {
      await this.redis.srem(this.repairs, m);
      await this.events.repairLoss(Number(m), "a queue process's on_turn scheduler found fewer issued users than units gone");
    }
  }

  /**
   * A key of an event lost on its own (deleted, evicted) leaves the server and its record as they
   * were. The take scripts refuse to sell on it (includes/take.lua) and have it repaired; this tick
   * repairs it before anyone tries, for users' lookups: each event sold here in the last minutes is
   * checked for the one sign that matters — fewer users in its issued hash than units gone
   * (stock − remaining) — and, if so, is reconciled (its users put back from MySQL and the streams).
   */
  private async checkPartialLoss() {
    const now = Date.now();
    for (const [id, at] of this.selling) {
      if (now - at > RECENT_MS) {
        this.selling.delete(id);
        continue;
      }
      const k = this.events.keys(id);
      const res = await this.redis.multi().hmget(k.meta, "stock", "remaining").hlen(k.issued).exec().catch(() => null);
      if (!res || res.some(([e]) => e)) continue;
      const [s, r] = res[0]![1] as (string | null)[];
      if (s == null || r == null) continue;
      const [stock, remaining, users] = [Number(s), Number(r), Number(res[1]![1])];
      if (users >= stock - remaining) continue;
      await this.events.repairLoss(id, `Redis holds ${users} issued users for ${stock - remaining} units gone`);
    }
  }
}

// how long after its last sale here an event is still checked for a partial loss
const RECENT_MS = 5 * 60_000;

async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<unknown>) {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

import { Cluster } from "ioredis";
import { ApiError } from "../../src/http";
import { globalKeys, type RedisClient } from "../../src/redis";
import type { EventService } from "./service";

/** The identity of the Redis server(s) behind the client: a restart or a failover changes it. */
async function redisRunId(redis: RedisClient): Promise<string> {
  const nodes = redis instanceof Cluster ? redis.nodes("master") : [redis];
  const ids = await Promise.all(nodes.map(async (n) => /run_id:(\w+)/.exec(await n.info("server"))?.[1] ?? "?"));
  return ids.sort().join(",");
}

/**
 * Decides when the Redis state of events may not be trusted, and has it reconciled with MySQL and
 * the streams (EventService.reconcile) before this process sells again:
 * - on start, before the server listens;
 * - on every reconnect (the connection dropped: Redis may have restarted or failed over), with
 *   this process's sales of every event held from the moment the connection dropped until that
 *   event is reconciled;
 * - when Redis's run id differs from the one recorded at the last reconciliation, or the record
 *   is gone (a restart, a failover, a wipe): then every event's sales are also fenced for a while,
 *   for issuances an issuer read before the loss (checked every `checkMs`).
 * One event that fails is logged, retried, shown in its stats and in /health/ready; it never
 * stops the others or the process.
 */
export class Reconciler {
  // bumped whenever the connection drops; an event may sell here once reconciled at this generation
  private generation = 0;
  private readonly reconciledAt = new Map<number, number>();
  private checking: Promise<void> | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly marker: string;

  private readonly redis: RedisClient;

  /** `clients`: every connection this process sells through; the first one also reads and writes. */
  constructor(
    private readonly clients: RedisClient[],
    private readonly events: EventService,
    prefix: string,
    private readonly checkMs = 1000,
  ) {
    this.redis = clients[0]!;
    this.marker = globalKeys(prefix).redisRun;
  }

  get failures(): ReadonlyMap<number, string> {
    return this.events.reconcileFailures;
  }

  async start() {
    // a strict client sends nothing before it is connected
    await Promise.all(this.clients.map((c) => (c.status === "ready" ? null : new Promise((ok) => c.once("ready", ok)))));
    await this.check(true);
    for (const c of this.clients) {
      c.on("close", () => this.generation++);
      // a reconnect: whatever happened while we were away, look again before selling
      c.on("ready", () => void this.check(true).catch((e) => console.error(`reconcile after reconnect failed: ${e.message}`)));
    }
    this.timer = setInterval(() => void this.check(false).catch(() => {}), this.checkMs);
  }

  stop() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Resolves once this process may sell the event (see the class comment); throws if it cannot be reconciled. */
  gate = async (eventId: number): Promise<void> => {
    if (this.checking) await this.checking;
    const gen = this.generation;
    if ((this.reconciledAt.get(eventId) ?? -1) >= gen) return;
    try {
      await this.events.reconcile(eventId);
    } catch (e) {
      this.events.recordFailure(eventId, e);
      throw new ApiError(503, "unavailable", "the event's state is being checked after a Redis failure; nothing was issued, try again shortly");
    }
    this.reconciledAt.set(eventId, gen);
  };

  /**
   * Compares Redis's run id with the recorded one and reconciles every event when it changed, or
   * always when `all` (start, reconnect). Events that failed before are retried on every check.
   */
  private check(all: boolean): Promise<void> {
    this.checking ??= this.run(all).finally(() => (this.checking = null));
    return this.checking;
  }

  private async run(all: boolean) {
    const [runId, recorded] = await Promise.all([redisRunId(this.redis), this.redis.get(this.marker)]);
    const lost = runId !== recorded;
    if (lost) this.generation++;
    const gen = this.generation;
    if (all || lost) {
      if (lost && recorded !== null) console.error(`redis ${recorded} is now ${runId}: reconciling every event with MySQL before selling again`);
      const events = await this.events.allEvents();
      await pool(events, 4, async (ev) => {
        const id = ev.id;
        if (!ev.live) return this.events.closeInRedis(ev).catch((e) => this.events.recordFailure(id, e));
        if ((await this.events.reconcileLogged(id, lost)) !== null) this.reconciledAt.set(id, gen);
      });
      await this.redis.set(this.marker, runId);
    }
    for (const id of [...this.events.reconcileFailures.keys()]) if ((await this.events.reconcileLogged(id, lost)) !== null) this.reconciledAt.set(id, gen);
  }
}

async function pool<T>(items: T[], limit: number, fn: (item: T) => Promise<unknown>) {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

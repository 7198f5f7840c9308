import { newCode } from "../coupon/code";
import { redisRunId } from "../events/reconcile";
import { ApiError } from "../../src/http";
import { eventKeys, globalKeys, runScript, type RedisClient } from "../../src/redis";

/** Resolves once the event's Redis state may be trusted for selling here (rejects: not now). */
export type SalesGate = (eventId: number) => Promise<void>;

// a step issues at most this many at once (codes travel as arguments); a tick runs steps until its count is issued
const STEP = 1000;

/**
 * Issues on_turn events' coupons from the head of the line (turn-6.lua, which decides stock and
 * one-per-user with the coupon module's includes/take.lua, like the issue script). Runs on a
 * strict Redis client (never queued offline, never re-sent after a reconnect) behind the same kind
 * of gate as the issue route, so nothing is issued against a Redis that came back stale before it
 * was reconciled with MySQL.
 */
export class TurnIssuer {
  private readonly script;
  /** Each step's issuances (user, code), after the script committed them (the users' coupon index). */
  onIssued: ((eventId: number, issued: { user: string; code: string }[]) => Promise<void>) | null = null;
  /** The script found the event's issued hash short of users (includes/take.lua) and issued nobody: have it repaired. */
  onKeysLost: ((eventId: number) => void) | null = null;

  constructor(
    strict: RedisClient,
    private readonly prefix: string,
    private readonly gate: SalesGate,
  ) {
    this.script = runScript(strict, "turn");
  }

  /** Issues up to `want` coupons of the event now; returns how many it issued. */
  async issue(eventId: number, want: number, now = Date.now()): Promise<number> {
    await this.gate(eventId);
    const k = eventKeys(this.prefix, eventId);
    let total = 0;
    while (total < want) {
      const n = Math.min(want - total, STEP);
      const codes = Array.from({ length: n }, newCode);
      const [why, issued, , ...users] = (await this.script(k.meta, k.issued, k.waiting, k.stream, k.holders, k.admitLog, now, eventId, ...codes)) as [string, number, number, ...string[]];
      total += issued;
      if (issued > 0) await this.onIssued?.(eventId, users.map((user, i) => ({ user, code: codes[i]! })));
      if (why === "keys_lost") this.onKeysLost?.(eventId);
      if (why !== "open" || issued < n) break;
    }
    return total;
  }
}

/**
 * The gate of a queue process that does not sell itself (a split deployment): the coupon
 * processes reconcile every event after Redis restarts or fails over and then record its run id
 * (modules/events/reconcile.ts); until the recorded run id is the one this process sees, nothing
 * is issued here. Looked at again after any drop of the connection, and at most once a second.
 */
export function recordedRunGate(strict: RedisClient, prefix: string, everyMs = 1000): SalesGate {
  const marker = globalKeys(prefix).redisRun;
  let okUntil = 0;
  strict.on("close", () => (okUntil = 0));
  return async () => {
    if (performance.now() < okUntil) return;
    const [runId, recorded] = await Promise.all([redisRunId(strict), strict.get(marker)]);
    if (runId !== recorded) throw new ApiError(503, "unavailable", "Redis is not reconciled with MySQL yet; nothing was issued");
    okUntil = performance.now() + everyMs;
  };
}

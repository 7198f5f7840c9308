import { Cluster, Redis } from "ioredis";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "./config";

export type RedisClient = Redis | Cluster;

const MODULES = join(import.meta.dir, "..", "modules");

/**
 * A client with every module's Lua commands defined. A `strict` client never queues a command while
 * disconnected and never re-sends one after a reconnect: the issue script must not run against a
 * Redis that came back before this process has reconciled it (modules/events/reconcile.ts).
 */
export function createRedis(config: Config, name = "main", strict = false): RedisClient {
  const common = strict
    ? { connectionName: `coupon-${name}`, maxRetriesPerRequest: 0, enableOfflineQueue: false, autoResendUnfulfilledCommands: false, enableAutoPipelining: false }
    : { connectionName: `coupon-${name}`, maxRetriesPerRequest: 2, enableAutoPipelining: true };
  const redis = config.redisClusterNodes
    ? new Cluster(config.redisClusterNodes, { redisOptions: common, scaleReads: "master", enableAutoPipelining: !strict, enableOfflineQueue: !strict })
    : new Redis(config.redisUrl, common);
  for (const m of readdirSync(MODULES, { withFileTypes: true })) if (m.isDirectory()) defineScripts(redis, join(MODULES, m.name));
  // ioredis reconnects by itself; say once that the connection is down (not once per retry)
  let down = false;
  redis.on("error", (e: Error) => {
    if (!down) console.error(`redis (${name}): ${e.message}; reconnecting`);
    down = true;
  });
  redis.on("ready", () => (down = false));
  return redis;
}

/**
 * Refuses to start on a Redis that may evict keys: an evicted issued hash or stream loses promised
 * coupons (contract, Hardening). Where CONFIG GET is refused (managed Redis), it warns instead.
 */
export async function checkEvictionPolicy(redis: RedisClient): Promise<void> {
  const nodes = redis instanceof Cluster ? redis.nodes("master") : [redis];
  for (const node of nodes) {
    let policy: string | undefined;
    try {
      policy = ((await node.config("GET", "maxmemory-policy")) as string[])[1];
    } catch (e) {
      console.warn(`redis: cannot read maxmemory-policy (${(e as Error)?.message}); make sure it is noeviction`);
      continue;
    }
    if (policy !== undefined && policy !== "noeviction")
      throw new Error(`Redis runs with maxmemory-policy ${policy}; it must be noeviction (an evicted key loses promised coupons): set maxmemory-policy noeviction`);
  }
}

// Every request names its event's keys (twenty-odd strings): built once per event and kept, by
// prefix then id. Bounded (cleared when full) because ids come from URLs, also ids that name no event.
const KEYS_KEPT = 10_000;
const keysMade = new Map<string, Map<number, EventKeys>>();

/** Key builder: every key of one event shares the `{eventId}` hash tag, so all its scripts run on one Cluster slot. */
export function eventKeys(prefix: string, eventId: number): EventKeys {
  let ofPrefix = keysMade.get(prefix);
  if (!ofPrefix) keysMade.set(prefix, (ofPrefix = new Map()));
  let keys = ofPrefix.get(eventId);
  if (!keys) {
    if (ofPrefix.size >= KEYS_KEPT) ofPrefix.clear();
    ofPrefix.set(eventId, (keys = Object.freeze(makeEventKeys(`${prefix}:{${eventId}}`))));
  }
  return keys;
}

function makeEventKeys(base: string) {
  return {
    meta: `${base}:meta`,
    // hash: user id -> coupon code, for every user promised a coupon (the one-per-user check)
    issued: `${base}:issued`,
    stream: `${base}:stream`,
    dead: `${base}:dead`,
    // hash: issuer consumer -> "<oldest epoch>:<until ms>" while it holds a batch it has read but not stored
    holders: `${base}:holders`,
    // hash: issuer consumer -> "<oldest issuance ms>:<until ms>" of what it holds (the coupon role's backlog bound)
    backlog: `${base}:backlog`,
    replayed: `${base}:replayed`,
    waiting: `${base}:waiting`,
    // string: u32 last-seen time per arrival sequence (modules/queue/includes/live.lua)
    waitLive: `${base}:live`,
    waitSeq: `${base}:seq`,
    // list: arrival sequences whose holders left the line, in the order they left, bounded and emptied when
    // the event ends; hash: how many were dropped from its front, and the floor below which a view answers
    // no ticket (modules/queue/leave-7.lua)
    departed: `${base}:departed`,
    departedTrim: `${base}:departed:trim`,
    running: `${base}:running`,
    // hash: slot holder -> arrival sequence; hash: user -> "<sequence>:<lapsed at ms>" (modules/queue/includes/slots.lua)
    slots: `${base}:slots`,
    lapsed: `${base}:lapsed`,
    admitLog: `${base}:admits`,
    rate: `${base}:rate`,
    // hash: the funnel's counts (modules/events/funnel.ts): joined, admitted, slotsLapsed, droppedSilent, left, and the turned-away reasons
    funnel: `${base}:funnel`,
    // stream: one sample of the event's numbers per HISTORY_STEP_MS, entry id = the sample's time (modules/events/history.ts)
    history: `${base}:history`,
    // zset: user -> when a router last told them they hold a running slot; a slot whose holder was
    // never told since it was handed out is a ghost slot (modules/events/stats.ts)
    seen: `${base}:seen`,
  };
}
export type EventKeys = Readonly<ReturnType<typeof makeEventKeys>>;

/** Keys that are not per event (never used inside a per-event script). */
export function globalKeys(prefix: string) {
  // redisRun: the Redis run id(s) recorded at the last reconciliation of every event (modules/events/reconcile.ts)
  // settingsRev: bumped after every change of an event's settings, so schedulers look at rested events again
  // controls: events with an operator's control under way (modules/events/controls.ts, settleAbandoned)
  // repairs: events a queue-only process found short of issued users (coupon/includes/take.lua), for a coupon process to reconcile
  return { events: `${prefix}:events`, redisRun: `${prefix}:redis-run`, settingsRev: `${prefix}:settings-rev`, controls: `${prefix}:controls`, repairs: `${prefix}:repairs` };
}

/**
 * Loads every `<name>-<numberOfKeys>.lua` in `dir` as a custom command (BullMQ's convention), after
 * inlining `--@include "<path>"` lines (relative to `dir`, without `.lua`) so shared Lua lives in one place.
 */
export function defineScripts(redis: RedisClient, dir: string): void {
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".lua"))) {
    const m = /^(.+)-(\d+)\.lua$/.exec(file);
    if (!m) throw new Error(`Lua file ${file} must be named <name>-<numberOfKeys>.lua`);
    const lua = readFileSync(join(dir, file), "utf8").replace(/^--@include "([\w./-]+)"$/gm, (_, inc: string) =>
      readFileSync(join(dir, `${inc}.lua`), "utf8"),
    );
    const command = m[1]!.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
    redis.defineCommand(command, { numberOfKeys: Number(m[2]), lua });
  }
}

type ScriptFn = (...args: (string | number | Buffer)[]) => Promise<unknown>;

/** Where script latencies go (set once by the kernel to feed /metrics). */
export const scriptTimer: { observe: ((name: string, seconds: number) => void) | null } = { observe: null };

/** A command defined by `defineScripts`, timed; each module wraps the raw reply in a typed result. */
export function runScript(redis: RedisClient, name: string): ScriptFn {
  const fn = (redis as unknown as Record<string, ScriptFn>)[name];
  if (typeof fn !== "function") throw new Error(`Lua command ${name} is not defined`);
  const bound = fn.bind(redis);
  return async (...args) => {
    const t0 = performance.now();
    try {
      return await bound(...args);
    } finally {
      scriptTimer.observe?.(name, (performance.now() - t0) / 1000);
    }
  };
}

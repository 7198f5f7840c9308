// The run-wide setup every scenario shares: sizes, secrets, the bench's Redis db and MySQL schema.
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import mysql from "mysql2/promise";
import type { ServerEnv } from "./procs";

export const REDIS_URL = "redis://127.0.0.1:6379/8";
// BENCH_SCHEMA: another schema, for a second bench run on the same MariaDB at the same time
export const SCHEMA = process.env.BENCH_SCHEMA || "coupon_bench";
export const DATABASE_URL = `mysql://root@127.0.0.1:3306/${SCHEMA}`;

export type Sizes = ReturnType<typeof sizes>;

/** Full sizes follow the issue (1,000 connections, 4,500 waiting users); --quick is for smoke runs. */
export function sizes(quick: boolean, o: Record<string, string>) {
  const n = (k: string, def: number) => {
    if (o[k] === undefined) return def;
    const v = Number(o[k]);
    if (!Number.isInteger(v) || v < 1) throw new Error(`--${k} must be a positive integer, got "${o[k]}"`);
    return v;
  };
  const connections = n("connections", quick ? 100 : 1000);
  const durationS = n("duration", quick ? 3 : 15);
  return {
    quick,
    warmup: { connections: Math.min(200, connections), durationS: quick ? 1 : 3 },
    baseline: { connections, durationS },
    direct: { connections, durationS, vus: n("vus", quick ? 100 : 1000), thinkMs: n("think-ms", 1000) },
    waiting: {
      users: n("users", quick ? 500 : 4500),
      stock: n("waiting-stock", quick ? 300 : 3000),
      runningCapacity: n("capacity", quick ? 100 : 1000),
      pollMs: n("poll-ms", 300),
    },
    pollSaturation: { connections, durationS: quick ? 3 : 10 },
    flash: {
      // the deep-poll line, and the rush: users (each with a token minted ahead) in waves for `stock` coupons
      line: n("line", quick ? 10_000 : 100_000),
      rush: { users: n("rush-users", quick ? 50_000 : 1_000_000), waves: n("waves", quick ? 2 : 10), stock: n("rush-stock", 1000) },
    },
    // the pre-queue draw: users pre-queued before the start, and how long before it the event is made
    draw: { users: n("draw-users", quick ? 20_000 : 200_000), leadS: n("draw-lead", quick ? 15 : 40) },
    drain: { connections, liveStock: n("live-stock", quick ? 2000 : 20_000), backlog: n("backlog", quick ? 5000 : 50_000), issuerBatch: o["issuer-batch"] === undefined ? undefined : String(n("issuer-batch", 0)) },
  };
}

export type Bench = Awaited<ReturnType<typeof openBench>>;

export async function openBench(quick: boolean, options: Record<string, string>) {
  const sized = sizes(quick, options);
  const runId = randomBytes(3).toString("hex");
  const base = `bench${runId}`;
  const env: ServerEnv = {
    prefix: base,
    adminToken: `bench-admin-${randomBytes(8).toString("hex")}`,
    jwtSecret: `bench-jwt-${randomBytes(16).toString("hex")}`,
    redisUrl: REDIS_URL,
    databaseUrl: DATABASE_URL,
  };
  // A fresh schema per run: servers restore every event they find on start, so history would skew them.
  const root = await mysql.createConnection({ host: "127.0.0.1", user: "root" });
  await root.query(`DROP DATABASE IF EXISTS ${SCHEMA}`);
  await root.query(`CREATE DATABASE ${SCHEMA}`);
  await root.end();
  const db = mysql.createPool({ host: "127.0.0.1", user: "root", database: SCHEMA, timezone: "Z", connectionLimit: 4 });
  const redis = new Redis(REDIS_URL, { connectionName: "coupon-bench", maxRetriesPerRequest: 2 });
  let n = 0;
  return {
    runId,
    keyPattern: `${base}*`,
    sizes: sized,
    env,
    db,
    redis,
    /** A key prefix of this run for one server (or one group of servers sharing state). */
    prefix: (tag: string) => `${base}-${++n}${tag}`,
    /** req/s of the bare endpoint, once the baseline ran (used to size user pools) */
    ceilingRps: 0,
  };
}

/** Deletes keys by pattern with SCAN + DEL (never FLUSHALL: the Redis is shared). */
export async function dropKeys(redis: Redis, pattern: string): Promise<number> {
  let cursor = "0";
  let n = 0;
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    cursor = next;
    if (keys.length) n += await redis.del(...keys);
  } while (cursor !== "0");
  return n;
}

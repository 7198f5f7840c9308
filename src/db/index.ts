import { drizzle, type MySql2Database } from "drizzle-orm/mysql2";
import { migrate } from "drizzle-orm/mysql2/migrator";
import mysql from "mysql2/promise";
import { join } from "node:path";
import * as schema from "./schema";

export type Db = MySql2Database<typeof schema>;
export type Mysql = { db: Db; pool: mysql.Pool; close(): Promise<void> };

/**
 * Runs `fn` in a transaction on one pooled connection (for statements drizzle does not build: SKIP
 * LOCKED claims, batched INSERTs, conditional UPDATEs): committed if `fn` resolves, rolled back if it throws.
 */
export async function inTransaction<T>(pool: mysql.Pool, fn: (conn: mysql.PoolConnection) => Promise<T>): Promise<T> {
  const conn = await pool.getConnection();
  try {
    await conn.beginTransaction();
    try {
      const out = await fn(conn);
      await conn.commit();
      return out;
    } catch (e) {
      await conn.rollback().catch(() => {});
      throw e;
    }
  } finally {
    conn.release();
  }
}

function parse(url: string) {
  const u = new URL(url);
  const database = decodeURIComponent(u.pathname.replace(/^\//, "")) || "coupon";
  if (!/^[A-Za-z0-9_]{1,64}$/.test(database)) throw new Error(`DATABASE_URL database name must match [A-Za-z0-9_]{1,64}, got "${database}"`);
  return {
    host: u.hostname,
    port: Number(u.port || 3306),
    user: decodeURIComponent(u.username || "root"),
    password: decodeURIComponent(u.password),
    database,
  };
}

/** Creates the database if needed and applies the committed drizzle migrations, serialised by a MySQL named lock so several processes may start at once. */
export async function migrateDatabase(url: string): Promise<void> {
  const { database, ...conn } = parse(url);
  const c = await mysql.createConnection({ ...conn, timezone: "Z" });
  try {
    await c.query(`CREATE DATABASE IF NOT EXISTS \`${database}\``);
    await c.query(`USE \`${database}\``);
    const [[lock]] = (await c.query("SELECT GET_LOCK(?, 60) AS ok", [`${database}.migrate`])) as any;
    if (lock.ok !== 1) throw new Error("timed out waiting for the migration lock");
    try {
      await migrate(drizzle(c, { schema, mode: "default" }), { migrationsFolder: join(import.meta.dir, "migrations") });
    } finally {
      await c.query("SELECT RELEASE_LOCK(?)", [`${database}.migrate`]);
    }
  } finally {
    await c.end();
  }
}

/** Where statement latencies go (set once by the kernel to feed /metrics). */
export const queryTimer: { observe: ((kind: string, seconds: number) => void) | null } = { observe: null };

export function connectMysql(url: string, connectionLimit = 16): Mysql {
  const pool = mysql.createPool({ ...parse(url), timezone: "Z", connectionLimit, enableKeepAlive: true, connectTimeout: 5000 });
  // time every statement on the pool, labelled by its verb only (a small, fixed label set)
  const query = pool.query.bind(pool) as (...args: unknown[]) => Promise<unknown>;
  (pool as { query: unknown }).query = async (...args: unknown[]) => {
    const t0 = performance.now();
    try {
      return await query(...args);
    } finally {
      const sql = typeof args[0] === "string" ? args[0] : String((args[0] as { sql?: string })?.sql ?? "");
      queryTimer.observe?.(/^\s*(\w+)/.exec(sql)?.[1]?.toUpperCase() ?? "OTHER", (performance.now() - t0) / 1000);
    }
  };
  return { pool, db: drizzle(pool, { schema, mode: "default" }), close: () => pool.end() };
}

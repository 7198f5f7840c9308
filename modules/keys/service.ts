import type { ResultSetHeader, RowDataPacket } from "mysql2";
import { createHash, createHmac, randomBytes } from "node:crypto";
import { SCOPES, type KeyLookup, type Principal, type Scope } from "../../src/auth";
import type { Mysql } from "../../src/db";
import { ApiError } from "../../src/http";
import { OutageLog } from "../../src/outage";
import type { RedisClient } from "../../src/redis";

/** Every key starts with this, so junk is refused without hashing and a leaked key is recognisable (secret scanners). */
export const KEY_PREFIX = "cpk_";
const KEY_SHAPE = /^cpk_[A-Za-z0-9_-]{43}$/;

export type KeyInfo = { id: number; name: string; scopes: Scope[]; createdAt: string; lastUsedAt: string | null };
type Live = { id: number; name: string; scopes: Scope[] };

// how often each process looks for a change of the key set (a revocation holds everywhere within a second)
const WATCH_MS = 250;
// how often a process with MySQL makes Redis's copy agree with MySQL (a Redis that lost or went back on writes)
const RESYNC_MS = 10_000;
// how often the last-use times gathered in memory are written out
const USED_FLUSH_MS = 1000;

/**
 * Named API keys with scopes (contract, "API keys"). MySQL (`api_keys`) is the record and holds only
 * an HMAC-SHA256 of each key (keyed with API_KEY_PEPPER when set, plain SHA-256 otherwise: a key
 * is 256 random bits, so a leaked table reveals nothing either way). Redis holds a copy of the live
 * keys (hash → id, name, scopes) and a revision number; every process, routers included, keeps the
 * copy in memory and re-reads it when the revision moves (checked every 250 ms), so an admin
 * request costs no I/O for its key, and a revoked key is refused everywhere within a second.
 */
export class ApiKeys implements KeyLookup {
  private live = new Map<string, Principal>();
  private revision: string | null = null;
  private readonly usedAt = new Map<number, number>();
  private timers: ReturnType<typeof setInterval>[] = [];
  private readonly keys;

  constructor(
    private readonly redis: RedisClient,
    private readonly mysql: Mysql | null,
    prefix: string,
    private readonly pepper: string | undefined,
  ) {
    // one hash tag: the copy and its revision change together (MULTI) on Redis Cluster too
    this.keys = { copy: `${prefix}:{keys}`, rev: `${prefix}:{keys}:rev`, used: `${prefix}:{keys}:used` };
  }

  hash(key: string): string {
    return (this.pepper ? createHmac("sha256", this.pepper) : createHash("sha256")).update(key).digest("hex");
  }

  /** The principal of a live key, from memory. */
  lookup(token: string): Principal | null {
    return KEY_SHAPE.test(token) ? (this.live.get(this.hash(token)) ?? null) : null;
  }

  /** Remembers that a key was used (written out every second; shown as lastUsedAt). */
  used(keyId: number): void {
    this.usedAt.set(keyId, Date.now());
  }

  /** Loads the copy before the process serves, then watches it (and, with MySQL, keeps it in line with MySQL). */
  async start() {
    // a start while Redis or MySQL is down serves with no keys (root still works) until they answer
    const log = (e: unknown) => console.error(`api keys: ${(e as Error)?.message}; retrying`);
    if (this.mysql) await this.resync().catch(log);
    await this.watch().catch(log);
    this.timers.push(setInterval(() => void this.watch().catch(() => {}), WATCH_MS));
    this.timers.push(setInterval(() => void this.flushUsed().catch(() => {}), USED_FLUSH_MS));
    const outage = new OutageLog("api keys: resync");
    if (this.mysql) this.timers.push(setInterval(() => void this.resync().then(() => outage.ok(), (e) => this.timers.length && outage.failed(e)), RESYNC_MS));
  }

  async stop() {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.flushUsed().catch(() => {});
  }

  /** Re-reads the copy when its revision moved. A copy Redis lost is rebuilt from MySQL (where there is MySQL); elsewhere the last one read stays. */
  private async watch() {
    const rev = await this.redis.get(this.keys.rev);
    if (rev === null) {
      if (this.mysql) await this.resync(true);
      return;
    }
    if (rev === this.revision) return;
    const copy = await this.redis.hgetall(this.keys.copy);
    const live = new Map<string, Principal>();
    for (const [hash, json] of Object.entries(copy)) {
      const k = JSON.parse(json) as Live;
      live.set(hash, principal(k));
    }
    this.live = live;
    this.revision = rev;
  }

  /** Makes Redis's copy the live keys of MySQL when they differ (or `force`), and records last uses in MySQL. */
  private async resync(force = false) {
    const [rows] = await this.mysql!.pool.query<RowDataPacket[]>("SELECT id, name, scopes, hash FROM api_keys WHERE revoked_at IS NULL");
    const want = new Map(rows.map((r) => [r.hash as string, JSON.stringify({ id: Number(r.id), name: r.name, scopes: parseScopes(r.scopes) } satisfies Live)]));
    const have = await this.redis.hgetall(this.keys.copy);
    const same = Object.keys(have).length === want.size && [...want].every(([h, j]) => have[h] === j);
    if (force || !same) {
      const m = this.redis.multi().del(this.keys.copy);
      if (want.size) m.hset(this.keys.copy, Object.fromEntries(want));
      await m.incr(this.keys.rev).exec();
    }
    const used = await this.redis.hgetall(this.keys.used);
    for (const [id, ms] of Object.entries(used))
      await this.mysql!.pool.query("UPDATE api_keys SET last_used_at = GREATEST(COALESCE(last_used_at, ?), ?) WHERE id = ?", [new Date(Number(ms)), new Date(Number(ms)), Number(id)]);
  }

  private async flushUsed() {
    if (!this.usedAt.size) return;
    const batch = Object.fromEntries([...this.usedAt].map(([id, ms]) => [String(id), String(ms)]));
    this.usedAt.clear();
    await this.redis.hset(this.keys.used, batch);
  }

  /** A new key with `scopes` (each one held by `by`); the key itself is in the reply only. */
  async create(by: Principal, name: string, scopes: Scope[]): Promise<KeyInfo & { key: string }> {
    const missing = scopes.filter((s) => !by.scopes.has(s));
    if (missing.length) throw new ApiError(403, "forbidden", `a key can only hand out scopes it holds itself; missing ${missing.join(", ")}`);
    const key = KEY_PREFIX + randomBytes(32).toString("base64url");
    const hash = this.hash(key);
    const createdAt = new Date();
    let id: number;
    try {
      const [r] = await this.mysql!.pool.query<ResultSetHeader>(
        "INSERT INTO api_keys (name, active_name, scopes, hash, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?)",
        [name, name, scopes.join(" "), hash, createdAt, by.actor],
      );
      id = r.insertId;
    } catch (e) {
      if ((e as { code?: string })?.code === "ER_DUP_ENTRY") throw new ApiError(409, "name_taken", `a live key is already named "${name}"`);
      throw e;
    }
    const live: Live = { id, name, scopes };
    // if Redis fails here, the resync adds the key within RESYNC_MS
    await this.redis.multi().hset(this.keys.copy, hash, JSON.stringify(live)).incr(this.keys.rev).exec().catch(() => {});
    this.live.set(hash, principal(live));
    return { id, name, scopes, createdAt: createdAt.toISOString(), lastUsedAt: null, key };
  }

  /** The live keys, oldest first. */
  async list(): Promise<KeyInfo[]> {
    const [[rows], used] = await Promise.all([
      this.mysql!.pool.query<RowDataPacket[]>("SELECT id, name, scopes, created_at, last_used_at FROM api_keys WHERE revoked_at IS NULL ORDER BY id"),
      this.redis.hgetall(this.keys.used),
    ]);
    return rows.map((r) => {
      const id = Number(r.id);
      const last = Math.max(r.last_used_at ? (r.last_used_at as Date).getTime() : 0, Number(used[id] ?? 0), this.usedAt.get(id) ?? 0);
      return { id, name: r.name, scopes: parseScopes(r.scopes), createdAt: (r.created_at as Date).toISOString(), lastUsedAt: last ? new Date(last).toISOString() : null };
    });
  }

  /**
   * Revokes key `id` (its scopes must all be held by `by`): MySQL first, then Redis's copy, so the
   * record never says live about a key the copy dropped. Revoking a revoked key again only redoes
   * the copy's part (a retry after Redis failed). Returns the key as it was, or null if it was revoked already.
   */
  async revoke(by: Principal, id: number): Promise<KeyInfo | null> {
    const [[row]] = await this.mysql!.pool.query<RowDataPacket[]>("SELECT id, name, scopes, hash, created_at, last_used_at, revoked_at FROM api_keys WHERE id = ?", [id]);
    if (!row) throw new ApiError(404, "key_not_found", "no API key with this id");
    const scopes = parseScopes(row.scopes);
    const missing = scopes.filter((s) => !by.scopes.has(s));
    if (missing.length) throw new ApiError(403, "forbidden", `revoking this key needs every scope it holds; missing ${missing.join(", ")}`);
    const [r] = await this.mysql!.pool.query<ResultSetHeader>("UPDATE api_keys SET revoked_at = ?, active_name = NULL WHERE id = ? AND revoked_at IS NULL", [new Date(), id]);
    await this.redis.multi().hdel(this.keys.copy, row.hash).hdel(this.keys.used, String(id)).incr(this.keys.rev).exec();
    this.live.delete(row.hash);
    if (!r.affectedRows) return null;
    return { id, name: row.name, scopes, createdAt: (row.created_at as Date).toISOString(), lastUsedAt: row.last_used_at ? (row.last_used_at as Date).toISOString() : null };
  }
}

const principal = (k: Live): Principal => Object.freeze({ actor: k.name, keyId: k.id, scopes: new Set(k.scopes) });

const parseScopes = (s: string): Scope[] => s.split(" ").filter((x): x is Scope => (SCOPES as readonly string[]).includes(x));

import { createHash } from "node:crypto";
import { ApiError } from "./http";
import type { RedisClient } from "./redis";

// a stored reply is kept this long: the same key and body within it get the same reply
const KEEP_MS = 24 * 3_600_000;
// a request in progress holds its key this long at most: a process that died mid-request frees it
const RUNNING_MS = 60_000;
// a retry that finds its first attempt still running waits this long for its reply, then 409
const WAIT_MS = 10_000;
const KEY = /^[\x21-\x7e]{1,64}$/;

export type Reply<T> = { status: number; body: T; replayed?: boolean };
type Stored = { h: string; status?: number; body?: unknown };

/** The same JSON whatever the order of its object keys. */
const canonical = (v: unknown): string =>
  JSON.stringify(v, (_k, x) => (x && typeof x === "object" && !Array.isArray(x) ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, (x as Record<string, unknown>)[k]])) : x));

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

/**
 * `Idempotency-Key` for the admin writes that create something (an event, a grant): the same key
 * and body from the same caller within 24 h get the first request's reply, and nothing is created
 * twice; the same key with another body is 422 idempotency_key_reused. Two concurrent requests with
 * one key are decided by one `SET NX` in Redis: the first runs, the other waits for its reply
 * (up to 10 s, then 409 request_in_progress with Retry-After). A request that fails frees the key
 * for a retry; a process that dies mid-request frees it after a minute.
 */
export class Idempotency {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  async run<T>(header: string | null, scope: string, actor: string, body: unknown, fn: () => Promise<Reply<T>>): Promise<Reply<T>> {
    if (header === null) return fn();
    if (!KEY.test(header)) throw new ApiError(400, "bad_request", "Idempotency-Key must be 1–64 printable ASCII characters");
    const key = `${this.prefix}:idem:${scope}:${sha(`${actor}\n${header}`)}`;
    const h = sha(canonical(body ?? null));
    for (const end = Date.now() + WAIT_MS; ; ) {
      if (await this.redis.set(key, JSON.stringify({ h } satisfies Stored), "PX", RUNNING_MS, "NX")) return this.first(key, h, fn);
      const raw = await this.redis.get(key);
      // the first request failed (or its marker expired) in between: try to take the key again
      if (raw === null) continue;
      const stored = JSON.parse(raw) as Stored;
      if (stored.h !== h) throw new ApiError(422, "idempotency_key_reused", "this Idempotency-Key was used with another request body within the last 24 h");
      if (stored.status !== undefined) return { status: stored.status, body: stored.body as T, replayed: true };
      if (Date.now() >= end) throw new ApiError(409, "request_in_progress", "a request with this Idempotency-Key is still being processed", undefined, { "retry-after": "1" });
      await Bun.sleep(50);
    }
  }

  private async first<T>(key: string, h: string, fn: () => Promise<Reply<T>>): Promise<Reply<T>> {
    let reply: Reply<T>;
    try {
      reply = await fn();
    } catch (e) {
      await this.redis.del(key).catch(() => {});
      throw e;
    }
    await this.redis.set(key, JSON.stringify({ h, status: reply.status, body: reply.body } satisfies Stored), "PX", KEEP_MS);
    return reply;
  }
}

/** The request's Idempotency-Key header (null when absent). */
export const idempotencyKey = (request: Request) => request.headers.get("idempotency-key");

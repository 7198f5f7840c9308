// API keys as an attacker and an operator would try them: raw requests against a real server
// (ROLE=all, two processes sharing one Redis, and the split router), real Redis and MariaDB.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createHash } from "node:crypto";
import { ADMIN_TOKEN, dropKeys, mysqlConn, spawnServer, startServer, stopServer, TEST_REDIS, waitFor, type Proc, type Started } from "../../scripts/testkit";

setDefaultTimeout(300_000);

const db = mysqlConn();
const run = Date.now().toString(36);
const sharedPrefix = `keys${run}`;
let all: Started;
// `all` (in this process) and `one` (its own process) share the Redis prefix: one deployment.
// What one revokes, the other must refuse.
let one: Proc;
let queue: Proc, coupon: Proc, router: Proc;


beforeAll(async () => {
  all = await startServer({ REDIS_KEY_PREFIX: sharedPrefix });
  // one at a time: on a loaded machine parallel starts can outlast the kit's start timeout
  one = await spawnServer({ REDIS_KEY_PREFIX: sharedPrefix });
  queue = await spawnServer({ REDIS_KEY_PREFIX: `${sharedPrefix}s`, ROLE: "queue" });
  coupon = await spawnServer({ REDIS_KEY_PREFIX: `${sharedPrefix}s`, ROLE: "coupon" });
  router = await spawnServer({ REDIS_KEY_PREFIX: `${sharedPrefix}s`, ROLE: "router", QUEUE_URL: queue.url, COUPON_URL: coupon.url });
});
afterAll(async () => {
  await Promise.all([one, queue, coupon, router].map((p) => p?.kill("SIGKILL")));
  await stopServer(all);
  await dropKeys(TEST_REDIS, sharedPrefix);
  await dropKeys(TEST_REDIS, `${sharedPrefix}s`);
  await db.end();
});

async function call(base: string, method: string, path: string, token?: string, body?: unknown) {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}

let n = 0;
const uniqueName = (what: string) => `${what}-${run}-${++n}`;
const createKey = async (base: string, scopes: string[], by = ADMIN_TOKEN) => {
  const r = await call(base, "POST", "/admin/keys", by, { name: uniqueName("k"), scopes });
  expect(r.status).toBe(201);
  return r.body as { id: number; name: string; scopes: string[]; key: string };
};

describe("a key is shown once and stored as a hash", () => {
  test("POST /admin/keys → 201 with the key; MySQL holds its SHA-256, never the key; GET lists it without the key", async () => {
    const name = uniqueName("checkout");
    const r = await call(all.url, "POST", "/admin/keys", ADMIN_TOKEN, { name, scopes: ["coupons:read", "coupons:redeem"] });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ name, scopes: ["coupons:read", "coupons:redeem"], lastUsedAt: null });
    expect(r.body.key).toMatch(/^cpk_[A-Za-z0-9_-]{43}$/);
    const [[row]] = (await db.query("SELECT * FROM api_keys WHERE id = ?", [r.body.id])) as any;
    expect(row.hash).toBe(createHash("sha256").update(r.body.key).digest("hex"));
    expect(JSON.stringify(row)).not.toContain(r.body.key.slice(4));
    const list = await call(all.url, "GET", "/admin/keys", ADMIN_TOKEN);
    const mine = list.body.keys.find((k: any) => k.id === r.body.id);
    expect(mine).toEqual({ id: r.body.id, name, scopes: ["coupons:read", "coupons:redeem"], createdAt: r.body.createdAt, lastUsedAt: null });
    expect(JSON.stringify(list.body)).not.toContain(r.body.key);
  });

  test("bad bodies are a 400 and create nothing; a live name cannot be taken twice (409); `root` is nobody's name", async () => {
    const name = uniqueName("dup");
    const [[before]] = (await db.query("SELECT COUNT(*) AS n FROM api_keys")) as any;
    for (const body of [
      {},
      { name: "x" },
      { scopes: ["keys"] },
      { name: "x", scopes: [] },
      { name: "x", scopes: ["admin"] },
      { name: "x", scopes: ["keys", "keys"] },
      { name: "", scopes: ["keys"] },
      { name: "root", scopes: ["keys"] },
      { name: "a".repeat(65), scopes: ["keys"] },
      { name: "x\u0000y", scopes: ["keys"] },
      { name: "\ud800", scopes: ["keys"] },
      { name: "x", scopes: ["keys"], extra: 1 },
      { name: 5, scopes: ["keys"] },
    ])
      expect((await call(all.url, "POST", "/admin/keys", ADMIN_TOKEN, body)).status).toBe(400);
    const [[after]] = (await db.query("SELECT COUNT(*) AS n FROM api_keys")) as any;
    expect(after.n).toBe(before.n);
    expect((await call(all.url, "POST", "/admin/keys", ADMIN_TOKEN, { name, scopes: ["events:read"] })).status).toBe(201);
    expect((await call(all.url, "POST", "/admin/keys", ADMIN_TOKEN, { name, scopes: ["events:read"] })).body.error).toBe("name_taken");
  });
});

describe("scopes", () => {
  test("a key without the route's scope → 403 forbidden; an unknown or malformed key → 401; its own scope passes", async () => {
    const reader = await createKey(all.url, ["events:read"]);
    expect((await call(all.url, "GET", "/admin/events", reader.key)).status).toBe(200);
    const refused = await call(all.url, "POST", "/admin/events", reader.key, { name: "x", stock: 1, trafficRpm: 1, runningCapacity: 1 });
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ error: "forbidden" });
    expect(refused.body.message).toContain("events:write");
    expect((await call(all.url, "GET", "/admin/keys", reader.key)).status).toBe(403);
    // one character off, another key's shape, the hash itself: unknown
    const off = reader.key.slice(0, -1) + (reader.key.endsWith("A") ? "B" : "A");
    const hash = createHash("sha256").update(reader.key).digest("hex");
    for (const bad of [off, `cpk_${"A".repeat(43)}`, hash, reader.key + "x", reader.key.slice(4)]) expect((await call(all.url, "GET", "/admin/events", bad)).status).toBe(401);
  });

  test("a `keys` key hands out and revokes only scopes it holds itself", async () => {
    const keyMaster = await createKey(all.url, ["keys", "events:read"]);
    const ok = await call(all.url, "POST", "/admin/keys", keyMaster.key, { name: uniqueName("sub"), scopes: ["events:read"] });
    expect(ok.status).toBe(201);
    const escalate = await call(all.url, "POST", "/admin/keys", keyMaster.key, { name: uniqueName("evil"), scopes: ["events:read", "events:write"] });
    expect(escalate.status).toBe(403);
    expect(escalate.body.message).toContain("events:write");
    const stronger = await createKey(all.url, ["events:write"]);
    expect((await call(all.url, "DELETE", `/admin/keys/${stronger.id}`, keyMaster.key)).status).toBe(403);
    expect((await call(all.url, "GET", "/admin/events", stronger.key)).status).toBe(403);
    expect((await call(all.url, "DELETE", `/admin/keys/${ok.body.id}`, keyMaster.key)).status).toBe(204);
  });

  test("lastUsedAt says when a key last passed the guard", async () => {
    const k = await createKey(all.url, ["events:read"]);
    const t0 = Date.now();
    expect((await call(all.url, "GET", "/admin/events", k.key)).status).toBe(200);
    let seen: string | null = null;
    await waitFor("lastUsedAt", async () => {
      seen = (await call(all.url, "GET", "/admin/keys", ADMIN_TOKEN)).body.keys.find((x: any) => x.id === k.id)?.lastUsedAt ?? null;
      return seen !== null;
    });
    expect(Date.parse(seen!)).toBeGreaterThanOrEqual(t0 - 1000);
    // and it reaches MySQL
    await waitFor("last_used_at in MySQL", async () => {
      const [[row]] = (await db.query("SELECT last_used_at FROM api_keys WHERE id = ?", [k.id])) as any;
      return row.last_used_at !== null;
    });
  });
});

describe("revocation holds everywhere within a second", () => {
  for (const setup of ["two processes", "split router"])
    test(`${setup}: a key revoked on one process is refused by the other`, async () => {
      const [writer, reader] = setup === "two processes" ? [all.url, one.url] : [router.url, router.url];
      const k = await createKey(writer, ["events:read"]);
      await waitFor("the other process to know the key", async () => (await call(reader, "GET", "/admin/events", k.key)).status === 200, 10_000, 20);
      expect((await call(writer, "DELETE", `/admin/keys/${k.id}`, ADMIN_TOKEN)).status).toBe(204);
      const t0 = Date.now();
      await waitFor("the other process to refuse the revoked key", async () => (await call(reader, "GET", "/admin/events", k.key)).status === 401, 10_000, 20);
      console.log(`${setup}: revoked key refused after ${Date.now() - t0} ms`);
      // and it stays refused: MySQL says revoked, and the copy in Redis agrees
      expect((await call(reader, "GET", "/admin/keys", ADMIN_TOKEN)).body.keys.some((x: any) => x.id === k.id)).toBe(false);
      const [[row]] = (await db.query("SELECT revoked_at, active_name FROM api_keys WHERE id = ?", [k.id])) as any;
      expect(row.revoked_at).not.toBeNull();
      expect(row.active_name).toBeNull();
      // revoking again is the same 204; an id that names no key is a 404
      expect((await call(writer, "DELETE", `/admin/keys/${k.id}`, ADMIN_TOKEN)).status).toBe(204);
      for (const id of ["999999999", "0", "abc", "1e3", "-1", "99999999999"]) expect((await call(writer, "DELETE", `/admin/keys/${id}`, ADMIN_TOKEN)).body.error).toBe("key_not_found");
    });

  test("a Redis that lost the copy gets it back from MySQL, without the revoked keys", async () => {
    const live = await createKey(one.url, ["events:read"]);
    const gone = await createKey(one.url, ["events:read"]);
    expect((await call(one.url, "DELETE", `/admin/keys/${gone.id}`, ADMIN_TOKEN)).status).toBe(204);
    const { Redis } = await import("ioredis");
    const r = new Redis(TEST_REDIS);
    await r.del(`${sharedPrefix}:{keys}`, `${sharedPrefix}:{keys}:rev`);
    await waitFor("the copy rebuilt", async () => (await r.hexists(`${sharedPrefix}:{keys}`, createHash("sha256").update(live.key).digest("hex"))) === 1, 10_000);
    expect(await r.hexists(`${sharedPrefix}:{keys}`, createHash("sha256").update(gone.key).digest("hex"))).toBe(0);
    r.disconnect();
    for (const url of [all.url, one.url]) {
      await waitFor("the live key works", async () => (await call(url, "GET", "/admin/events", live.key)).status === 200, 10_000);
      expect((await call(url, "GET", "/admin/events", gone.key)).status).toBe(401);
    }
  });
});

describe("audit", () => {
  test("key create and revoke are audited with the actor; the key itself never is", async () => {
    const keyMaster = await createKey(all.url, ["keys", "audit:read"]);
    const made = await call(all.url, "POST", "/admin/keys", keyMaster.key, { name: uniqueName("audited"), scopes: ["audit:read"] });
    expect((await call(all.url, "DELETE", `/admin/keys/${made.body.id}`, keyMaster.key)).status).toBe(204);
    const entries = (await call(all.url, "GET", "/admin/audit?limit=50", keyMaster.key)).body.entries.filter((e: any) => e.target === String(made.body.id));
    expect(entries.map((e: any) => [e.action, e.actor])).toEqual([
      ["key_revoke", keyMaster.name],
      ["key_create", keyMaster.name],
    ]);
    expect(entries[1].after).toMatchObject({ id: made.body.id, name: made.body.name, scopes: ["audit:read"] });
    expect(entries[0]).toMatchObject({ before: { id: made.body.id, name: made.body.name }, after: null });
    expect(JSON.stringify(entries)).not.toContain(made.body.key);
  });
});

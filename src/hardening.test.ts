// Cheap denial of service, tried as an attacker would (contract, "Hardening"): routes that cost more
// than they should, and routes without a limit. Real server, real Redis and MariaDB.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { queryTimer } from "./db";
import { ADMIN_TOKEN, mysqlConn, NO_USER_LIMITS, pool, rawClient, spawnSplit, startServer, stopServer, token, waitFor, type Split, type Started } from "../scripts/testkit";

setDefaultTimeout(300_000);

const db = mysqlConn();
// nothing persists here (ISSUER=off): a promise stays a promise; no limits unless a test asks for them
let s: Started;
let statements = 0;
let redisCommands = 0;

beforeAll(async () => {
  s = await startServer({ ISSUER: "off", QUEUE_SCHEDULER: "off", ...NO_USER_LIMITS });
  // every statement the server sends to MySQL passes the kernel's timer; every Redis command passes sendCommand
  const observe = queryTimer.observe;
  queryTimer.observe = (kind, seconds) => {
    statements++;
    observe?.(kind, seconds);
  };
  const redis = s.redis as unknown as { sendCommand: (...a: unknown[]) => unknown };
  const send = redis.sendCommand.bind(redis);
  redis.sendCommand = (...a: unknown[]) => {
    redisCommands++;
    return send(...a);
  };
});
afterAll(async () => {
  await stopServer(s);
  await db.end();
});

/**
 * MySQL statements and Redis commands one call of `fn` costs: the least over several calls, so the
 * server's own background loops (a tick every few hundred ms) drop out of the count.
 */
async function cost(fn: () => Promise<unknown>, runs = 12) {
  let best = { statements: Infinity, redis: Infinity };
  for (let i = 0; i < runs; i++) {
    const [st, rc] = [statements, redisCommands];
    await fn();
    const c = { statements: statements - st, redis: redisCommands - rc };
    if (c.statements + c.redis < best.statements + best.redis) best = c;
  }
  return best;
}

const event = async (name: string) => (await s.api.createEvent({ name, stock: 100, trafficRpm: 1_000_000, runningCapacity: 100 })).body.id as number;

describe("GET /api/me/coupons costs the same however many events were ever created", () => {
  test("10 events, then 5,000: the same number of Redis commands and MySQL statements, and the same coupons", async () => {
    const user = `me-${Date.now().toString(36)}`;
    const ids: number[] = [];
    for (let i = 0; i < 10; i++) ids.push(await event(`cost ${i}`));
    // one coupon promised and not yet stored (the issuer is off), one stored row
    expect((await s.api.enter(ids[0]!, user)).status).toBe(200);
    const promised = await s.api.issue(ids[0]!, user);
    expect(promised.status).toBe(201);
    expect((await s.api.enter(ids[1]!, user)).status).toBe(200);
    expect((await s.api.issue(ids[1]!, user)).status).toBe(201);
    const stored = (await s.redis.hget(`${s.prefix}:{${ids[1]}}:issued`, user))!;
    await db.query("INSERT INTO coupon_issues (event_id, user_id, code, issued_at) VALUES (?, ?, ?, NOW(3))", [ids[1], user, stored]);

    // over a fresh raw socket each time, as an attacker's script would call it
    const raw = rawClient(Number(new URL(s.url).port));
    const mine = () => raw.call("GET", "/api/me/coupons", { token: token(user) });
    const listed = (await mine()).body.coupons.map((c: any) => [c.eventId, c.code, c.persisted]);
    expect(listed).toEqual([
      [ids[0], promised.body.code, false],
      [ids[1], stored, true],
    ]);
    const with10 = await cost(mine);

    // 4,990 more events in the set of events this server knows (what a scan of events would walk)
    const more = Array.from({ length: 4990 }, (_, i) => String(ids[9]! + 1000 + i));
    for (let i = 0; i < more.length; i += 1000) await s.redis.sadd(`${s.prefix}:events`, ...more.slice(i, i + 1000));
    expect(await s.redis.scard(`${s.prefix}:events`)).toBeGreaterThanOrEqual(5000);
    const with5000 = await cost(mine);
    console.log(`GET /api/me/coupons: 10 events ${JSON.stringify(with10)}, 5,000 events ${JSON.stringify(with5000)}`);
    expect(with5000).toEqual(with10);
    expect(with10.redis).toBeLessThanOrEqual(4);
    expect((await mine()).body.coupons.map((c: any) => [c.eventId, c.code, c.persisted])).toEqual(listed);
  });

  test("a stored promise leaves the user's index; a user with no coupons costs one read of each", async () => {
    const user = `idx-${Date.now().toString(36)}`;
    const id = await event("index");
    await s.api.enter(id, user);
    const code = (await s.api.issue(id, user)).body.code;
    expect(await s.redis.hget(`${s.prefix}:mine:{${user}}`, String(id))).toBe(code);
    await db.query("INSERT INTO coupon_issues (event_id, user_id, code, issued_at) VALUES (?, ?, ?, NOW(3))", [id, user, code]);
    expect((await s.api.call("GET", "/api/me/coupons", { token: token(user) })).body.coupons).toMatchObject([{ eventId: id, code, persisted: true }]);
    expect(await s.redis.exists(`${s.prefix}:mine:{${user}}`)).toBe(0);
    expect(await cost(() => s.api.call("GET", "/api/me/coupons", { token: token(`nobody-${user}`) }))).toEqual({ statements: 1, redis: 1 });
  });
});

describe("GET /api/events/:id/coupon is not a MySQL query per call", () => {
  test("3,000 calls: none for users without a coupon, at most one a second for a winner", async () => {
    const id = await event("coupon cost");
    const winner = `w-${Date.now().toString(36)}`;
    await s.api.enter(id, winner);
    const code = (await s.api.issue(id, winner)).body.code;
    await db.query("INSERT INTO coupon_issues (event_id, user_id, code, issued_at) VALUES (?, ?, ?, NOW(3))", [id, winner, code]);
    await waitFor("the row seen", async () => (await s.api.coupon(id, winner)).body.persisted === true);

    const before = statements;
    const t0 = performance.now();
    await pool(Array.from({ length: 3000 }, (_, i) => i), 30, async (i) => {
      const r = await s.api.call("GET", `/api/events/${id}/coupon`, { token: token(i % 2 ? winner : `loser-${i}`) });
      expect(r.status).toBe(200);
      expect(r.body.issued).toBe(i % 2 === 1);
    });
    const seconds = (performance.now() - t0) / 1000;
    const spent = statements - before;
    console.log(`3,000 GET …/coupon: ${spent} MySQL statements in ${seconds.toFixed(1)} s`);
    expect(spent).toBeLessThanOrEqual(Math.ceil(seconds) + 2);
    expect((await s.api.coupon(id, winner)).body).toEqual({ issued: true, persisted: true, code, redeemedAt: null });
  });
});

describe("GET /health/ready answers from a check at most a second old", () => {
  test("2,000 anonymous probes cost at most a ping a second", async () => {
    const before = statements;
    const t0 = performance.now();
    await pool(Array.from({ length: 2000 }, (_, i) => i), 50, async () => expect((await fetch(`${s.url}/health/ready`)).status).toBe(200));
    const seconds = (performance.now() - t0) / 1000;
    const spent = statements - before;
    console.log(`2,000 GET /health/ready: ${spent} MySQL statements in ${seconds.toFixed(1)} s`);
    expect(spent).toBeLessThanOrEqual(Math.ceil(seconds) + 1);
  });
});

describe("every user route is rate limited, per user and per address", () => {
  let limited: Started;
  let split: Split;
  const LIMITS = { RATE_LIMIT_USER_PER_SEC: "1", RATE_LIMIT_USER_BURST: "5", RATE_LIMIT_IP_PER_SEC: "1", RATE_LIMIT_IP_BURST: "20", TRUST_PROXY: "1" };
  beforeAll(async () => {
    limited = await startServer(LIMITS);
    split = await spawnSplit("hard", {}, LIMITS);
  });
  afterAll(async () => {
    await split?.stop();
    await stopServer(limited);
  });

  for (const target of ["ROLE=all", "split router"])
    test(`${target}: my coupons, a coupon, the public event: 429 with Retry-After past the user's or the address's budget`, async () => {
      const base = target === "ROLE=all" ? limited.url : split.router.url;
      const created = await fetch(`${base}/admin/events`, { method: "POST", headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" }, body: JSON.stringify({ name: "limited", stock: 5, trafficRpm: 1000, runningCapacity: 5 }) });
      const id = (await created.json()).id;
      const hammer = async (path: string, headers: Record<string, string>, n: number) => {
        const statuses: number[] = [];
        for (let i = 0; i < n; i++) {
          const res = await fetch(base + path, { headers });
          const body = await res.json();
          statuses.push(res.status);
          if (res.status === 429) {
            expect(body).toMatchObject({ error: "rate_limited" });
            expect(Number(res.headers.get("retry-after"))).toBe(body.retryAfter);
          }
        }
        return statuses;
      };
      // per user (the address varies, so only the user's budget binds)
      for (const path of ["/api/me/coupons", `/api/events/${id}/coupon`]) {
        const user = token(`hammer-${target}-${path}`.replace(/[^A-Za-z0-9_-]/g, "_"));
        const statuses = await pool(Array.from({ length: 15 }, (_, i) => i), 1, async (i) => (await hammer(path, { authorization: `Bearer ${user}`, "x-forwarded-for": `198.51.100.${i}` }, 1))[0]!);
        expect({ path, statuses: statuses.slice(0, 5) }).toEqual({ path, statuses: [200, 200, 200, 200, 200] });
        expect(statuses.filter((st) => st === 429).length).toBeGreaterThanOrEqual(5);
      }
      // per address, without a token
      const statuses = await hammer(`/api/events/${id}`, { "x-forwarded-for": `192.0.2.${target === "ROLE=all" ? 1 : 2}` }, 40);
      expect(statuses.slice(0, 20).every((st) => st === 200)).toBe(true);
      expect(statuses.filter((st) => st === 429).length).toBeGreaterThanOrEqual(15);
      // another address is not affected
      expect((await fetch(`${base}/api/events/${id}`, { headers: { "x-forwarded-for": "192.0.2.200" } })).status).toBe(200);
    });
});

describe("strings that are not valid Unicode are refused wherever they would be stored", () => {
  test('{"orderId":"\\ud800"} and its kind: 400, and nothing changes', async () => {
    const id = await event("unicode");
    const user = `u-${Date.now().toString(36)}`;
    await s.api.enter(id, user);
    const code = (await s.api.issue(id, user)).body.code;
    await db.query("INSERT INTO coupon_issues (event_id, user_id, code, issued_at) VALUES (?, ?, ?, NOW(3))", [id, user, code]);
    const admin = (method: string, path: string, raw: string) => s.api.call(method, path, { token: ADMIN_TOKEN, raw, headers: { "content-type": "application/json" } });
    for (const lone of ["\\ud800", "\\udfff", "a\\ud83d", "\\ude00b", "\\ud800\\ud800"]) {
      for (const [method, path, raw] of [
        ["POST", `/admin/coupons/${code}/redeem`, `{"orderId":"${lone}"}`],
        ["POST", "/admin/events", `{"name":"${lone}","stock":1,"trafficRpm":1,"runningCapacity":1}`],
        ["PATCH", `/admin/events/${id}`, `{"name":"x${lone}"}`],
        ["POST", "/admin/keys", `{"name":"k${lone}","scopes":["events:read"]}`],
        ["POST", `/admin/events/${id}/grants`, `{"userId":"g-${user}","reason":"${lone}"}`],
      ] as const) {
        const r = await admin(method, path, raw);
        expect({ path, lone, status: r.status, error: r.body?.error }).toEqual({ path, lone, status: 400, error: "bad_request" });
      }
    }
    const [[row]] = (await db.query("SELECT redeemed_at, order_id FROM coupon_issues WHERE code = ?", [code])) as any;
    expect(row).toEqual({ redeemed_at: null, order_id: null });
    expect((await s.api.stats(id)).body.name).toBe("unicode");
    // a valid pair (an emoji) is text like any other
    expect((await admin("POST", `/admin/coupons/${code}/redeem`, `{"orderId":"order-\\ud83d\\ude00"}`)).body.orderId).toBe("order-😀");
  });
});

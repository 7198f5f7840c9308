// Guessing the admin token: more than 10 failed admin authentications in a minute from one client
// address lock that address out of /admin/* (429 with Retry-After, whatever it sends then), counted
// in Redis so every router of a deployment shares the count. Raw requests, ROLE=all and split routers.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Redis } from "ioredis";
import { ADMIN_TOKEN, dropKeys, pool, spawnServer, startServer, stopServer, TEST_REDIS, waitFor, type Proc, type Started } from "../../scripts/testkit";

setDefaultTimeout(300_000);

const prefix = `lock${Date.now().toString(36)}`;
// one proxy hop in front: the client address is the X-Forwarded-For entry it appended (here: the test's choice)
const proxied = { TRUST_PROXY: "1", ADMIN_LOCKOUT_FAILURES: "10" };
let all: Started;
let queue: Proc, coupon: Proc, routerA: Proc, routerB: Proc;
const redis = new Redis(TEST_REDIS);

beforeAll(async () => {
  all = await startServer({ ...proxied, ADMIN_LOCKOUT_WINDOW_MS: "3000" });
  queue = await spawnServer({ ...proxied, REDIS_KEY_PREFIX: prefix, ROLE: "queue" });
  coupon = await spawnServer({ ...proxied, REDIS_KEY_PREFIX: prefix, ROLE: "coupon" });
  const router = { ...proxied, REDIS_KEY_PREFIX: prefix, ROLE: "router", QUEUE_URL: queue.url, COUPON_URL: coupon.url };
  routerA = await spawnServer(router);
  routerB = await spawnServer(router);
});
afterAll(async () => {
  await Promise.all([queue, coupon, routerA, routerB].map((p) => p?.kill("SIGKILL")));
  await stopServer(all);
  await dropKeys(TEST_REDIS, prefix);
  redis.disconnect();
});

let addr = 0;
const newAddress = () => `203.0.113.${++addr}`;
const admin = async (base: string, ip: string, token: string, path = "/admin/events") => {
  const res = await fetch(base + path, { headers: { authorization: `Bearer ${token}`, "x-forwarded-for": ip } });
  await res.arrayBuffer();
  return { status: res.status, retryAfter: res.headers.get("retry-after") };
};
const wrong = (i: number) => `guess-${i}-${"x".repeat(20)}`;

describe("lockout after repeated failed admin authentications", () => {
  test("ROLE=all: 10 failures are 401s, the 11th and everything after is 429 with Retry-After, the right token included; other addresses are unaffected", async () => {
    const ip = newAddress();
    for (let i = 0; i < 10; i++) expect((await admin(all.url, ip, wrong(i))).status).toBe(401);
    const locked = await admin(all.url, ip, wrong(10));
    expect(locked.status).toBe(429);
    expect(Number(locked.retryAfter)).toBeGreaterThanOrEqual(1);
    for (const path of ["/admin/events", "/admin/keys", "/admin/audit", "/admin/events/1/issues"]) expect((await admin(all.url, ip, ADMIN_TOKEN, path)).status).toBe(429);
    // a body, a key, a query: nothing is looked at
    const res = await fetch(`${all.url}/admin/events`, { method: "POST", headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "x-forwarded-for": ip, "content-type": "application/json" }, body: "{" });
    expect(res.status).toBe(429);
    expect(await res.json()).toMatchObject({ error: "rate_limited" });
    expect((await admin(all.url, newAddress(), ADMIN_TOKEN)).status).toBe(200);
    // the lockout lasts its window (3 s here), then the address may try again
    await waitFor("the lockout to end", async () => (await admin(all.url, ip, ADMIN_TOKEN)).status === 200, 60_000, 250);
  });

  test("a burst of 200 parallel guesses gets at most 10 answers that are not 429", async () => {
    const ip = newAddress();
    const replies = await pool(
      Array.from({ length: 200 }, (_, i) => i),
      50,
      (i) => admin(all.url, ip, wrong(i)),
    );
    const answered = replies.filter((r) => r.status !== 429);
    expect(answered.length).toBeLessThanOrEqual(10);
    expect(answered.every((r) => r.status === 401)).toBe(true);
  });

  test("split routers share the count: 6 failures through one router and 5 through another lock the address out of both", async () => {
    const ip = newAddress();
    for (let i = 0; i < 6; i++) expect((await admin(routerA.url, ip, wrong(i))).status).toBe(401);
    for (let i = 0; i < 4; i++) expect((await admin(routerB.url, ip, wrong(i))).status).toBe(401);
    // the coupon process behind the router does not count the forwarded requests again
    expect(await redis.get(`${prefix}:lockout:${ip}`)).toBe("10");
    expect((await admin(routerB.url, ip, wrong(99))).status).toBe(429);
    for (const r of [routerA, routerB]) {
      const locked = await admin(r.url, ip, ADMIN_TOKEN);
      expect(locked.status).toBe(429);
      expect(Number(locked.retryAfter)).toBeGreaterThan(1);
    }
    expect((await admin(routerA.url, newAddress(), ADMIN_TOKEN)).status).toBe(200);
  });

  test("a request with no credential at all guesses nothing and is not counted", async () => {
    const ip = newAddress();
    for (let i = 0; i < 30; i++) {
      const res = await fetch(`${all.url}/admin/events`, { headers: { "x-forwarded-for": ip } });
      expect(res.status).toBe(401);
    }
    expect((await admin(all.url, ip, ADMIN_TOKEN)).status).toBe(200);
  });

  test("an API key that is unknown or revoked counts as a failure too", async () => {
    const ip = newAddress();
    for (let i = 0; i < 10; i++) expect((await admin(routerA.url, ip, `cpk_${String(i).padStart(43, "A")}`)).status).toBe(401);
    expect((await admin(routerA.url, ip, `cpk_${"B".repeat(43)}`)).status).toBe(429);
  });
});

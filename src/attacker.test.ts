// Issue #21's findings, tried as an attacker tries them: raw requests over fresh sockets against a
// real server, in one process (ROLE=all) and split (routers in front of queue, coupon and issuer
// processes). Each fails on the code the issue was filed against.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { ADMIN_TOKEN, dropKeys, INTERNAL_TOKEN, JWT_SECRET, parseMetrics, pool, rawClient, rawHttp, rawRequest, spawnServer, startServer, stopServer, TEST_DB, TEST_REDIS, token, waitFor, type Proc, type RawClient, type Started } from "../scripts/testkit";
import { EXAMPLE_SECRETS } from "./secrets";

setDefaultTimeout(300_000);

// nobody is admitted by a scheduler here: a line stays as the test built it
const ENV = { QUEUE_SCHEDULER: "off", TRUST_PROXY: "1", ADMIN_LOCKOUT_FAILURES: "10" };
const FLUSH_MS = 250;
const splitPrefix = `atk${Date.now().toString(36)}`;
let all: Started;
let queue: Proc, coupon: Proc, issuer: Proc, routerA: Proc, routerB: Proc;
const targets: { name: string; api: RawClient }[] = [];
let other: RawClient;

beforeAll(async () => {
  all = await startServer({ ...ENV, RATE_FLUSH_MS: String(FLUSH_MS) });
  const split = { ...ENV, REDIS_KEY_PREFIX: splitPrefix, RATE_FLUSH_MS: String(FLUSH_MS) };
  [queue, coupon, issuer] = await Promise.all([spawnServer({ ...split, ROLE: "queue" }), spawnServer({ ...split, ROLE: "coupon" }), spawnServer({ ...split, ROLE: "issuer" })]);
  const router = { ...split, ROLE: "router", QUEUE_URL: queue.url, COUPON_URL: coupon.url };
  [routerA, routerB] = await Promise.all([spawnServer(router), spawnServer(router)]);
  targets.push({ name: "ROLE=all", api: rawClient(Number(new URL(all.url).port)) }, { name: "split router", api: rawClient(routerA.port) });
  other = rawClient(routerB.port);
});

afterAll(async () => {
  await Promise.all([queue, coupon, issuer, routerA, routerB].map((p) => p?.kill("SIGKILL")));
  await stopServer(all);
  await dropKeys(TEST_REDIS, splitPrefix);
});

const run = Date.now().toString(36);
const flushes = (n: number) => Bun.sleep(n * FLUSH_MS + 100);

describe("a waiting ticket of a place given up never shows a better place than the truth", () => {
  /**
   * A line of 16 (nobody admitted), the attacker 11th; they leave and enter again, 16th now, and
   * keep polling with the ticket of their old place. The old code answered it from the router's
   * view: place 11 (seq − head + 1), five better than the truth.
   */
  async function stalePlace(api: RawClient, pollWith: RawClient) {
    const created = await api.createEvent({ name: "stale ticket", stock: 100, trafficRpm: 0, runningCapacity: 1, admitPerSecond: 1 });
    expect(created.status).toBe(201);
    const id = created.body.id as number;
    const user = (i: number) => `stale-${run}-${api.port}-${i}`;
    const attacker = `stale-${run}-${api.port}-attacker`;
    for (let i = 0; i < 10; i++) expect((await api.enter(id, user(i))).status).toBe(202);
    const first = await api.enter(id, attacker);
    expect([first.status, first.body.position]).toEqual([202, 11]);
    const oldTicket = first.body.ticket as string;
    for (let i = 10; i < 15; i++) expect((await api.enter(id, user(i))).status).toBe(202);
    // every router has seen the whole line: the old ticket would be answered from its view now
    await flushes(2);
    expect((await pollWith.poll(id, oldTicket)).body.position).toBe(11);

    expect((await api.leave(id, attacker)).status).toBe(204);
    const again = await api.enter(id, attacker);
    expect([again.status, again.body.position]).toEqual([202, 16]);
    return { id, oldTicket, newTicket: again.body.ticket as string };
  }

  const notBetter = (reply: { status: number; body: any }) => {
    // the exact poll answers: the true place, with a ticket for it (or a 4xx for a ticket it will not take)
    if (reply.status !== 200) return expect(reply.status).toBeOneOf([401, 404]);
    expect(reply.body).toMatchObject({ status: "waiting", position: 16 });
    expect(typeof reply.body.ticket).toBe("string");
  };

  for (const name of ["ROLE=all", "split router"])
    test(`${name}: polled at once after entering again, and again once every view has refreshed`, async () => {
      const { api } = targets.find((t) => t.name === name)!;
      const { id, oldTicket, newTicket } = await stalePlace(api, api);
      notBetter(await api.poll(id, oldTicket));
      await flushes(3);
      notBetter(await api.poll(id, oldTicket));
      // the honest ticket: its true place or, from the view, the estimate (never better: the hole the leaver left counts)
      const honest = await api.poll(id, newTicket);
      expect(honest.body.status).toBe("waiting");
      expect(honest.body.position).toBeGreaterThanOrEqual(16);
    });

  test("split: left through one router, polled through another once it has refreshed", async () => {
    const { id, oldTicket } = await stalePlace(targets[1]!.api, other);
    await flushes(3);
    notBetter(await other.poll(id, oldTicket));
  });
});

/** MySQL statements a process has sent so far (its /metrics, over a raw socket). */
async function statementsOf(port: number): Promise<number> {
  const r = await rawHttp(port, rawRequest("GET", "/metrics", { host: `127.0.0.1:${port}` }));
  let n = 0;
  for (const [series, v] of parseMetrics(r.text).samples) if (/^coupon_mysql_query_duration_seconds_count(\{|$)/.test(series)) n += v;
  return n;
}
const portOf = (url: string) => Number(new URL(url).port);
/** The processes of a target that talk to MySQL for the routes below: one process, or the split deployment's coupon process and router. */
const mysqlPorts = (name: string) => (name === "ROLE=all" ? [portOf(all.url)] : [coupon.port, routerA.port]);
const totalStatements = async (name: string) => (await Promise.all(mysqlPorts(name).map(statementsOf))).reduce((a, b) => a + b, 0);

describe("cheap denial of service: one token or anonymous probes cannot slow everyone down", () => {
  for (const name of ["ROLE=all", "split router"])
    test(`${name}: 60 parallel GET /api/me/coupons from one token → 429s with Retry-After; another user is answered`, async () => {
      const { api } = targets.find((t) => t.name === name)!;
      const flood = token(`flood-${run}-${api.port}`);
      const replies = await Promise.all(Array.from({ length: 60 }, () => api.call("GET", "/api/me/coupons", { token: flood })));
      const limited = replies.filter((r) => r.status === 429);
      expect(limited.length).toBeGreaterThanOrEqual(10);
      for (const r of limited) expect([r.body.error, Number(r.headers["retry-after"])]).toEqual(["rate_limited", r.body.retryAfter]);
      expect(replies.every((r) => r.status === 200 || r.status === 429)).toBe(true);
      expect((await api.call("GET", "/api/me/coupons", { token: token(`calm-${run}-${api.port}`) })).status).toBe(200);
    });

  for (const name of ["ROLE=all", "split router"])
    test(`${name}: 600 GET /api/events/:id/coupon (a winner and users without a coupon) cost next to no MySQL`, async () => {
      const { api } = targets.find((t) => t.name === name)!;
      const id = (await api.createEvent({ name: "coupon lookups", stock: 5, trafficRpm: 1_000_000, runningCapacity: 10 })).body.id as number;
      const winner = `cw-${run}-${api.port}`;
      await api.enter(id, winner);
      expect((await api.issue(id, winner)).status).toBe(201);
      await waitFor("the winner's row", async () => (await api.call("GET", `/api/events/${id}/coupon`, { token: token(winner) })).body.persisted === true);
      const before = await totalStatements(name);
      // many users (the per-user limit is not what keeps the cost down), each a few times
      const users = Array.from({ length: 600 }, (_, i) => (i % 3 === 0 ? winner : `cn-${run}-${api.port}-${i % 100}`));
      const replies = await pool(users, 20, (u) => api.call("GET", `/api/events/${id}/coupon`, { token: token(u) }));
      const spent = (await totalStatements(name)) - before;
      console.log(`${name}: 600 GET …/coupon cost ${spent} MySQL statements`);
      expect(replies.filter((r) => r.status === 200).length).toBeGreaterThan(300);
      // the old code: one statement per call
      expect(spent).toBeLessThan(60);
    });

  for (const name of ["ROLE=all", "split router"])
    test(`${name}: 2,000 anonymous GET /health/ready cost next to no MySQL`, async () => {
      const ports = name === "ROLE=all" ? [portOf(all.url)] : [routerA.port, coupon.port];
      const before = await totalStatements(name);
      await pool(Array.from({ length: 2000 }, (_, i) => ports[i % ports.length]!), 50, async (port) => {
        expect((await rawHttp(port, rawRequest("GET", "/health/ready", { host: `127.0.0.1:${port}` }))).status).toBe(200);
      });
      const spent = (await totalStatements(name)) - before;
      console.log(`${name}: 2,000 GET /health/ready cost ${spent} MySQL statements`);
      expect(spent).toBeLessThan(60);
    });
});

describe("guessing the admin token", () => {
  for (const name of ["ROLE=all", "split router"])
    test(`${name}: 10 guesses from one address are 401s, then that address is locked out (429, the right token too); another address is not`, async () => {
      const { api } = targets.find((t) => t.name === name)!;
      const ip = `203.0.113.${name === "ROLE=all" ? 7 : 8}`;
      const guess = (auth: string, path = "/admin/events") => api.call("GET", path, { token: auth, headers: { "X-Forwarded-For": ip } });
      for (let i = 0; i < 10; i++) expect((await guess(`guess-${i}-${"x".repeat(24)}`)).status).toBe(401);
      const locked = await guess("guess-10-xxxxxxxxxxxxxxxxxxxxxxxx");
      expect([locked.status, locked.body.error]).toEqual([429, "rate_limited"]);
      expect(Number(locked.headers["retry-after"])).toBeGreaterThanOrEqual(1);
      for (const path of ["/admin/events", "/admin/keys", "/admin/audit"]) expect((await guess(ADMIN_TOKEN, path)).status).toBe(429);
      expect((await api.call("GET", "/admin/events", { token: ADMIN_TOKEN, headers: { "X-Forwarded-For": "203.0.113.99" } })).status).toBe(200);
    });
});

describe("the internal credential", () => {
  test("a queue process's /internal/* takes only INTERNAL_TOKEN: not the admin token, not an API key, not a user token", async () => {
    const key = (await targets[0]!.api.call("POST", "/admin/keys", { token: ADMIN_TOKEN, body: { name: `internal-${run}`, scopes: ["events:read", "events:write", "keys"] } })).body.key as string;
    const poll = (auth: string) => rawHttp(queue.port, rawRequest("POST", "/internal/events/1/poll", { host: `127.0.0.1:${queue.port}`, headers: { Authorization: `Bearer ${auth}` }, body: JSON.stringify({ userId: "someone" }) }));
    for (const auth of [ADMIN_TOKEN, key, token("someone"), "", JWT_SECRET]) expect((await poll(auth)).status).toBe(401);
    expect((await poll(INTERNAL_TOKEN)).status).toBe(200);
  });

  for (const name of ["ROLE=all", "split router"])
    test(`${name}: INTERNAL_TOKEN opens no /admin/* route`, async () => {
      const { api } = targets.find((t) => t.name === name)!;
      expect((await api.call("GET", "/admin/events", { token: INTERNAL_TOKEN, headers: { "X-Forwarded-For": "203.0.113.50" } })).status).toBe(401);
    });

  test("the split router never passes /internal/* on, whatever the credential", async () => {
    for (const auth of [INTERNAL_TOKEN, ADMIN_TOKEN]) expect((await targets[1]!.api.call("POST", "/internal/events/1/poll", { token: auth, body: { userId: "someone" } })).status).toBe(404);
  });
});

describe("text that is not valid Unicode", () => {
  for (const name of ["ROLE=all", "split router"])
    test(`${name}: {"orderId":"\\ud800"} is a 400 and the coupon stays unredeemed; a retry with a real order id redeems it`, async () => {
      const { api } = targets.find((t) => t.name === name)!;
      const id = (await api.createEvent({ name: "lone surrogate", stock: 5, trafficRpm: 1_000_000, runningCapacity: 10 })).body.id as number;
      const user = `ls-${run}-${api.port}`;
      await api.enter(id, user);
      const code = (await api.issue(id, user)).body.code as string;
      await waitFor("the row", async () => (await api.call("GET", `/api/events/${id}/coupon`, { token: token(user) })).body.persisted === true);
      const redeem = (raw: string) => api.call("POST", `/admin/coupons/${code}/redeem`, { token: ADMIN_TOKEN, raw });
      for (const lone of ["\\ud800", "\\udfff", "a\\ud83d"]) expect((await redeem(`{"orderId":"${lone}"}`)).body.error).toBe("bad_request");
      const ok = await redeem('{"orderId":"order-1"}');
      expect([ok.status, ok.body.orderId]).toEqual([200, "order-1"]);
    });
});

describe("secrets in production", () => {
  /** Starts main.ts with `env` (NODE_ENV=production) and returns its exit code and everything it printed. */
  async function start(env: Record<string, string>, killAfterMs = 60_000) {
    const p = Bun.spawn(["bun", "run", "src/main.ts"], {
      cwd: new URL("..", import.meta.url).pathname,
      env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? "/tmp", NODE_ENV: "production", REDIS_URL: TEST_REDIS, DATABASE_URL: TEST_DB, PORT: "0", ...env },
      stdout: "pipe",
      stderr: "pipe",
    });
    const timer = setTimeout(() => p.kill("SIGKILL"), killAfterMs);
    const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
    clearTimeout(timer);
    return { code, output: out + err };
  }
  const strong = { ADMIN_TOKEN: "a".repeat(12) + "Zq9-strong-admin-token", AUTH_JWT_SECRET: "s".repeat(20) + "-strong-jwt-secret-0123", INTERNAL_TOKEN: "i".repeat(12) + "-strong-internal-0123" };

  for (const role of ["all", "router"])
    test(`ROLE=${role}: an example secret of the docs, or a short one, stops the start; the secret is never printed`, async () => {
      const extra: Record<string, string> = role === "router" ? { QUEUE_URL: "http://127.0.0.1:9", COUPON_URL: "http://127.0.0.1:9" } : {};
      // the README's old examples (the issue's finding), and a test secret of this very kit
      expect(EXAMPLE_SECRETS).toEqual(expect.arrayContaining(["change-me-admin", "change-me-please-32-bytes", INTERNAL_TOKEN]));
      for (const env of [{ ADMIN_TOKEN: "change-me-admin" }, { AUTH_JWT_SECRET: "change-me-please-32-bytes" }, { INTERNAL_TOKEN }, { ADMIN_TOKEN: "short-admin-token" }]) {
        const r = await start({ ROLE: role, ...strong, ...extra, ...env });
        const secret = Object.values(env)[0]!;
        expect({ env: Object.keys(env)[0], code: r.code, printed: r.output.includes(secret) }).toEqual({ env: Object.keys(env)[0], code: 1, printed: false });
      }
    });

  test("a DATABASE_URL password is never printed: not on a config error, not when MySQL cannot be reached", async () => {
    const password = `Pw-${run}-never-print-me`;
    const badSetting = await start({ ...strong, DATABASE_URL: `mysql://root:${password}@127.0.0.1:1/coupon`, PORT: "-1" });
    expect([badSetting.code, badSetting.output.includes(password)]).toEqual([1, false]);
    // it may keep retrying: whatever it said in 15 s
    const unreachable = await start({ ...strong, DATABASE_URL: `mysql://root:${password}@127.0.0.1:1/coupon` }, 15_000);
    expect(unreachable.code).not.toBe(0);
    expect(unreachable.output.includes(password)).toBe(false);
  });
});

// The door, tried the way an attacker tries it — raw sockets, no Host or odd Hosts, HTTP/1.0,
// absolute-form targets, dot segments, encoded slashes: every /admin route needs the admin token and
// the rate limits hold, on ROLE=all, on a coupon process reached directly and through the split router.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Elysia } from "elysia";
import { Redis } from "ioredis";
import { ADMIN_TOKEN, client, mysqlConn, pool, rawHttp, rawRequest, spawnSplit, type RawReply, type Split, startServer, stopServer, TEST_REDIS, token, type Started } from "../scripts/testkit";
import { adminGuard, assertAdminGuarded, createAuth, needsScope } from "./auth";
import { clientIp } from "./ratelimit";

// real servers and processes: generous time (no test asserts a duration)
setDefaultTimeout(300_000);

// strict per-user limits, so a bypass shows as plain 200s where 429s belong
const LIMITS = { RATE_LIMIT_USER_PER_SEC: "1", RATE_LIMIT_USER_BURST: "10" };
const db = mysqlConn();
const redis = new Redis(TEST_REDIS);

type Target = { name: string; port: number; prefix: string; api: ReturnType<typeof client>; eventId: number; deadEntry: string };
let all: Started;
let split: Split;
const targets: Target[] = [];
let adminRoutes: { method: string; path: string }[];

const now = () => new Date().toISOString();
const createBody = () => JSON.stringify({ name: "stranger's event", stock: 5, trafficRpm: 1, runningCapacity: 1 });

async function target(name: string, url: string, prefix: string): Promise<Target> {
  const api = client(url);
  const ev = await api.createEvent({ name: `door ${name}`, stock: 100, trafficRpm: 1_000_000, runningCapacity: 100 });
  expect(ev.status).toBe(201);
  const id = ev.body.id as number;
  // a real dead-lettered issuance, so an unguarded retry would visibly move it
  const deadEntry = (await redis.xadd(`${prefix}:{${id}}:dead`, "*", "e", String(id), "u", `victim-${id}`, "t", String(Date.now()), "source", "test", "reason", "test", "deadAt", String(Date.now())))!;
  return { name, port: Number(new URL(url).port), prefix, api, eventId: id, deadEntry };
}

beforeAll(async () => {
  all = await startServer(LIMITS);
  split = await spawnSplit("door", {}, LIMITS);
  targets.push(await target("ROLE=all", all.url, all.prefix), await target("coupon process", split.coupon.url, split.prefix), await target("split router", split.router.url, split.prefix));
  // every admin route this build has, from the route table itself: a route added later is tried too
  adminRoutes = all.app.routes.filter((r) => r.path.startsWith("/admin/")).map((r) => ({ method: r.method, path: r.path }));
  expect(adminRoutes.length).toBeGreaterThanOrEqual(6);
});

afterAll(async () => {
  await split?.stop();
  await stopServer(all);
  redis.disconnect();
  await db.end();
});

/** What an admin request could change: the events in MySQL, and each target event's Redis state. */
async function snapshot() {
  // the events the fuzz's own create bodies would make: the schema is shared, and a count of every event moved
  // once in CI during the fuzz while none of its replies was a 2xx (an event made outside this test)
  const [[mysqlEvents]] = (await db.query("SELECT COUNT(*) AS n FROM coupon_events WHERE name = ?", [JSON.parse(createBody()).name])) as any;
  const [rows] = (await db.query("SELECT id, traffic_rpm, running_capacity, admit_per_second, ends_at, closed FROM coupon_events WHERE id IN (?) ORDER BY id", [targets.map((t) => t.eventId)])) as any;
  const redisState = await Promise.all(
    targets.map(async (t) => {
      const k = `${t.prefix}:{${t.eventId}}`;
      // admitRate is the scheduler's own measurement, rewritten every tick
      const { admitRate: _, ...meta } = await redis.hgetall(`${k}:meta`);
      return { meta, dead: await redis.xlen(`${k}:dead`), stream: await redis.xlen(`${k}:stream`), replayed: await redis.exists(`${k}:replayed`), events: (await redis.smembers(`${t.prefix}:events`)).sort() };
    }),
  );
  return { mysqlEvents, rows: JSON.stringify(rows), redisState };
}

/** The concrete requests for one admin route of one target: each with a plausible body, and a broken one where a body goes. */
function requestsFor(t: Target, route: { method: string; path: string }): { method: string; path: string; body?: string }[] {
  const path = route.path.replace(":id", String(t.eventId)).replace(":entry", t.deadEntry);
  const methods = route.method === "ALL" ? ["GET", "POST"] : [route.method];
  return methods.flatMap((method) => {
    if (method === "GET" || method === "DELETE") return [{ method, path }];
    const good = path === "/admin/events" ? createBody() : method === "PATCH" ? JSON.stringify({ endsAt: now() }) : "{}";
    return [
      { method, path, body: good },
      { method, path, body: '{"name":' },
    ];
  });
}

/** The same path as an attacker spells it. */
function pathForms(p: string): string[] {
  return [
    p,
    `${p}/`,
    `http://localhost${p}`,
    `http://evil.example:8080${p}`,
    `/api/..${p}`,
    `/api/events/%2e%2e/%2e%2e${p}`,
    `/api/events/%2E%2E/%2E%2E${p}`,
    `/x${p}`,
    `/xxxxxxxx${p}`,
    `//${p.slice(1)}`,
    p.replace("/admin/", "/admin/./"),
    p.replace("/admin/", "/admin%2F"),
    p.replace("/admin/", "/admin%2f"),
    p.replace("/admin/", "/%61dmin/"),
    p.replace(/\/([^/]*)$/, "%2F$1"),
  ];
}

const HOSTS: (string | undefined)[] = [undefined, "", "x", "x/", "a?b", "a#b", "a@b", "a/b", "a".repeat(300), "ünïcode.example", "localhost:3000", "[::1]", "[::1]:8080", "127.0.0.1:1", "evil.example", "a b"];

describe("every /admin route needs the admin token, whatever the Host, HTTP version or URL form", () => {
  test("the reported requests are refused on ROLE=all, a coupon process and the split router", async () => {
    for (const t of targets) {
      const before = await snapshot();
      const id = t.eventId;
      const seen: string[] = [];
      const wrong: string[] = [];
      // a router cannot route a path-only request through its /admin/* wildcard at all: 404 there
      const refused = async (label: string, req: string, allowed = t.name === "split router" ? [401, 404] : [401]) => {
        const r = await rawHttp(t.port, req);
        seen.push(`${label} → ${r.status}`);
        if (!allowed.includes(r.status) || r.body?.error !== (r.status === 401 ? "unauthorized" : "not_found")) wrong.push(`${label} → ${r.status} ${r.text.slice(0, 100)}`);
      };
      // POST /admin/events HTTP/1.0, no Host, a JSON body: created an event
      await refused("POST /admin/events HTTP/1.0 no Host", rawRequest("POST", "/admin/events", { version: "1.0", body: createBody() }));
      // GET /admin/events/:id HTTP/1.1 with an odd Host: read the stats
      for (const host of ["x/", "a?b", "a#b", "a@b", ""]) await refused(`GET /admin/events/${id} Host "${host}"`, rawRequest("GET", `/admin/events/${id}`, { host }));
      // PATCH with Host a#b: closed a live sale
      await refused(`PATCH /admin/events/${id} Host a#b endsAt=now`, rawRequest("PATCH", `/admin/events/${id}`, { host: "a#b", body: JSON.stringify({ endsAt: now() }) }));
      // dot segments with an odd Host: reached stats, restore, the dead letters and their retry
      for (const [method, path] of [
        ["GET", `/api/../admin/events/${id}`],
        ["POST", `/api/../admin/events/${id}/restore`],
        ["GET", `/api/../admin/events/${id}/dead`],
        ["POST", `/api/../admin/events/${id}/dead/${t.deadEntry}/retry`],
      ] as const)
        await refused(`${method} ${path} Host x/`, rawRequest(method, path, { host: "x/" }), [401, 404]);
      console.log(`${t.name}: ${seen.join("; ")}`);
      expect({ target: t.name, wrong }).toEqual({ target: t.name, wrong: [] });
      expect(await snapshot()).toEqual(before);
      // the sale is still open
      expect((await t.api.call("GET", `/api/events/${id}`)).body.status).toBe("open");
    }
  });

  test("with the admin token the same odd requests work: the guard reads the matched route, not the URL", async () => {
    const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
    for (const t of targets) {
      const tries: [("1.0" | "1.1"), string | undefined][] = [["1.1", "x"], ["1.1", "a"]];
      // routed by Bun on the path as sent; a router's /admin/* wildcard needs a Host it can use
      if (t.name !== "split router") tries.push(["1.0", undefined], ["1.1", "x/"], ["1.1", "a#b"]);
      for (const [version, host] of tries) {
        const r = await rawHttp(t.port, rawRequest("GET", `/admin/events/${t.eventId}`, { version, host, headers: auth }));
        expect({ target: t.name, host, status: r.status, id: r.body?.id }).toEqual({ target: t.name, host, status: 200, id: t.eventId });
      }
      const r = await rawHttp(t.port, rawRequest("GET", `/admin/events/${t.eventId}/dead?limit=5`, { host: "x", headers: auth }));
      expect({ target: t.name, status: r.status, total: r.body?.total }).toEqual({ target: t.name, status: 200, total: 1 });
    }
  });

  test("fuzz: Host forms × HTTP/1.0 and 1.1 × every admin route × URL forms → only 401 or 404, and nothing changes", async () => {
    for (const t of targets) {
      const before = await snapshot();
      const reqs: { label: string; raw: string; bunRefuses: boolean }[] = [];
      for (const route of adminRoutes)
        for (const r of requestsFor(t, route))
          for (const form of pathForms(r.path))
            for (const version of ["1.0", "1.1"] as const)
              for (const host of HOSTS)
                reqs.push({
                  label: `${r.method} ${form} HTTP/${version} Host=${JSON.stringify(host)?.slice(0, 20)} body=${r.body?.slice(0, 12)}`,
                  raw: rawRequest(r.method, form, { version, host, body: r.body }),
                  // HTTP/1.1 requires a Host: Bun answers 400 itself, before any of our code runs
                  bunRefuses: version === "1.1" && host === undefined,
                });
      const statuses: Record<number, number> = {};
      const wrong: string[] = [];
      await pool(reqs, 32, async ({ label, raw, bunRefuses }) => {
        const r = await rawHttp(t.port, raw);
        statuses[r.status] = (statuses[r.status] ?? 0) + 1;
        const ok = bunRefuses ? r.status === 400 && r.text === "" : (r.status === 401 && r.body?.error === "unauthorized") || (r.status === 404 && /^(not_found|event_not_found)$/.test(r.body?.error));
        if (!ok) wrong.push(`${label} → ${r.status} ${r.text.slice(0, 80)}`);
      });
      console.log(`${t.name}: ${reqs.length} requests without the token:`, statuses);
      expect(wrong.slice(0, 20)).toEqual([]);
      expect(statuses[401]).toBeGreaterThan(reqs.length / 4);
      expect(await snapshot()).toEqual(before);
    }
  });
});

test("a process whose /admin/ route is outside the admin guard, or declares no scope, does not start", () => {
  const auth = createAuth({ secret: "a-secret-of-sixteen+", adminToken: "admin-token-123" });
  const read = { detail: needsScope("events:read") };
  const guarded = new Elysia().guard(adminGuard(auth), (a) => a.get("/admin/x", () => 1, read).post("/admin/x/:id", () => 1, { detail: needsScope("events:write") }));
  expect(() => assertAdminGuarded(guarded.routes, auth)).not.toThrow();
  expect(auth.routeScopes.get("POST /admin/x/:id")).toBe("events:write");
  // guarded, but no scope (or one that does not exist): refused
  expect(() => assertAdminGuarded(new Elysia().guard(adminGuard(auth), (a) => a.get("/admin/z", () => 1)).routes, auth)).toThrow("GET /admin/z declares no scope");
  expect(() => assertAdminGuarded(new Elysia().guard(adminGuard(auth), (a) => a.get("/admin/z", () => 1, { detail: { "x-required-scope": "events:*" } as never })).routes, auth)).toThrow("GET /admin/z declares no scope");
  const open = new Elysia().use(guarded).get("/admin/y", () => 1, read);
  expect(() => assertAdminGuarded(open.routes, auth)).toThrow("GET /admin/y is not behind the admin guard");
  // another auth's guard does not count either
  expect(() => assertAdminGuarded(guarded.routes, createAuth({ secret: "a-secret-of-sixteen+", adminToken: "admin-token-123" }))).toThrow("is not behind the admin guard");
});

describe("rate limits hold whatever the Host header says", () => {
  // [label, version, Host]: the forms that used to cut Elysia's `path` wrong
  const FORMS = [
    ["HTTP/1.0 without Host", "1.0", undefined],
    ["Host: x", "1.1", "x"],
    ["Host: a/b", "1.1", "a/b"],
    ["Host: x/", "1.1", "x/"],
    ["Host: a#b", "1.1", "a#b"],
  ] as const;

  for (const name of ["ROLE=all", "split router"])
    test(`${name}: 60 parallel enter, poll or issue by one user with an odd Host → mostly 429`, async () => {
      const t = targets.find((x) => x.name === name)!;
      for (const [label, version, host] of FORMS) {
        const user = `door-hammer-${FORMS.findIndex((f) => f[0] === label)}-${t.eventId}`;
        const auth = { authorization: `Bearer ${token(user)}` };
        const routes = [
          ["POST", `/api/events/${t.eventId}/enter`],
          ["GET", `/api/events/${t.eventId}/queue`],
          ["POST", `/api/events/${t.eventId}/issue`],
        ] as const;
        const replies: RawReply[] = await Promise.all(Array.from({ length: 60 }, (_, i) => rawHttp(t.port, rawRequest(routes[i % 3]![0], routes[i % 3]![1], { version, host, headers: auth }))));
        const by: Record<number, number> = {};
        for (const r of replies) by[r.status] = (by[r.status] ?? 0) + 1;
        console.log(`${name} ${label}:`, by);
        // burst 10 at 1/s: only a bypass lets more than a handful through
        expect({ label, limited: (by[429] ?? 0) >= 40 }).toEqual({ label, limited: true });
        expect(replies.every((r) => r.status < 500)).toBe(true);
      }
    });
});

describe("TRUST_PROXY: the client is the entry the trusted proxy appended", () => {
  let s: Started;
  beforeAll(async () => {
    s = await startServer({ TRUST_PROXY: "1", RATE_LIMIT_IP_PER_SEC: "1", RATE_LIMIT_IP_BURST: "5", RATE_LIMIT_USER_PER_SEC: "0" });
  });
  afterAll(() => stopServer(s));

  const enter = (id: number, user: string, xff: string) => s.api.call("POST", `/api/events/${id}/enter`, { token: token(user), headers: { "x-forwarded-for": xff } });
  const limited = (rs: { status: number }[]) => rs.filter((r) => r.status === 429).length;

  test("a client writing a new X-Forwarded-For each time is still one client", async () => {
    const id = (await s.api.createEvent({ name: "xff", stock: 100, trafficRpm: 0, runningCapacity: 1 })).body.id;
    const rs = await Promise.all(Array.from({ length: 30 }, (_, i) => enter(id, `xff-rot-${i}`, `${i}.${i}.${i}.${i}, 10.9.8.${i}, 203.0.113.7`)));
    expect(limited(rs)).toBeGreaterThanOrEqual(20);
  });

  test("a forwarded loopback address gets no loopback exemption", async () => {
    const id = (await s.api.createEvent({ name: "xff loopback", stock: 100, trafficRpm: 0, runningCapacity: 1 })).body.id;
    for (const xff of ["127.0.0.1, 1.2.3.4", "1.2.3.4, 127.0.0.1", "::1"]) {
      const rs = await Promise.all(Array.from({ length: 30 }, (_, i) => enter(id, `xff-lo-${xff.length}-${i}`, xff)));
      expect({ xff, limited: limited(rs) >= 20 }).toEqual({ xff, limited: true });
    }
  });

  test("clients the proxy tells apart have buckets of their own", async () => {
    const id = (await s.api.createEvent({ name: "xff apart", stock: 100, trafficRpm: 0, runningCapacity: 1 })).body.id;
    // the same left-hand (client-written) part, different addresses appended by the proxy
    const rs = await Promise.all(Array.from({ length: 15 }, (_, i) => enter(id, `xff-apart-${i}`, `6.6.6.6, 198.51.100.${i % 3}`)));
    expect(limited(rs)).toBe(0);
  });

  test("clientIp counts hops from the right and never takes a client-written entry", () => {
    const req = (xff?: string) => new Request("http://x/", { headers: xff ? { "x-forwarded-for": xff } : {} });
    expect(clientIp(req("1.1.1.1, 2.2.2.2, 3.3.3.3"), "10.0.0.1", 1)).toEqual({ ip: "3.3.3.3", forwarded: true });
    expect(clientIp(req("1.1.1.1, 2.2.2.2, 3.3.3.3"), "10.0.0.1", 2)).toEqual({ ip: "2.2.2.2", forwarded: true });
    // fewer entries than trusted hops: the request did not come through them; the socket peer counts
    expect(clientIp(req("1.1.1.1"), "10.0.0.1", 2)).toEqual({ ip: "10.0.0.1", forwarded: false });
    expect(clientIp(req(), "10.0.0.1", 1)).toEqual({ ip: "10.0.0.1", forwarded: false });
    // off: the header is never read
    expect(clientIp(req("1.1.1.1"), "10.0.0.1", 0)).toEqual({ ip: "10.0.0.1", forwarded: false });
  });
});

// Bad input of every kind at the admin API and the user routes, sent as an attacker would: a 4xx JSON
// error each, and nothing changes (checked against Redis and MySQL).
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createHmac } from "node:crypto";
import { eventKeys, globalKeys } from "../../src/redis";
import { ADMIN_TOKEN, JWT_SECRET, mysqlConn, NO_USER_LIMITS, startServer, stopServer, token, waitFor, type Reply, type Started } from "../../scripts/testkit";

// real servers and real drains: far more than the 5 s default on a loaded machine
setDefaultTimeout(120_000);

let s: Started;
const db = mysqlConn();
// every event a bad request might create by mistake would carry this name
const TAG = `admin-test-${Date.now().toString(36)}`;
let ev: number; // an event with some state worth protecting

beforeAll(async () => {
  // limits off: these tests are about input handling, not throttling; slots outlive the test run
  s = await startServer({ ...NO_USER_LIMITS, QUEUE_SLOT_TTL_MS: "3600000" });
  ev = (await s.api.createEvent({ name: "protected", stock: 50, trafficRpm: 1_000_000, runningCapacity: 5 })).body.id;
  expect((await s.api.enter(ev, "holder")).body.status).toBe("admitted");
  expect((await s.api.issue(ev, "holder")).status).toBe(201);
  expect((await s.api.enter(ev, "runner")).body.status).toBe("admitted"); // holds a running slot
  await waitFor("persisted", async () => (await s.api.stats(ev)).body.persisted === 1);
  // the funnel is added to Redis every RATE_FLUSH_MS: the state to protect includes the setup's two admissions
  await waitFor("funnel counted", async () => (await s.api.stats(ev)).body.funnel?.admitted === 2);
});
afterAll(async () => {
  await stopServer(s);
  await db.end();
});

const admin = { token: ADMIN_TOKEN };
const json = { "content-type": "application/json" };
const good = { name: TAG, stock: 10, trafficRpm: 100, runningCapacity: 5 };
const UNKNOWN_ID = 2147483647; // a well-formed id no event will ever reach in the test schema

async function rows(sql: string, params: unknown[] = []) {
  return ((await db.query(sql, params)) as [any[], unknown])[0];
}

/** Everything a bad request could touch: the events this server knows, the protected event in Redis and MySQL. */
async function snapshot() {
  const k = eventKeys(s.prefix, ev);
  const stats = (await s.api.stats(ev)).body;
  return {
    events: await s.redis.smembers(globalKeys(s.prefix).events).then((m) => m.sort()),
    // admitRate is the scheduler's measurement, refreshed by its cron tick, not state a request changes
    meta: await s.redis.hgetall(k.meta).then(({ admitRate: _, ...rest }) => rest),
    issued: await s.redis.hgetall(k.issued),
    running: await s.redis.zrange(k.running, "0", "-1"),
    waiting: await s.redis.zrange(k.waiting, "0", "-1"),
    // live measurements (sliding windows, the current second), not state a request changes
    stats: { ...stats, admitRate: undefined, requestRate: undefined, admittedThisSecond: undefined, admittedLastSecond: undefined },
    eventRow: await rows("SELECT * FROM coupon_events WHERE id = ?", [ev]),
    issueRows: await rows("SELECT user_id FROM coupon_issues WHERE event_id = ? ORDER BY user_id", [ev]),
    tagged: (await rows("SELECT COUNT(*) AS n FROM coupon_events WHERE name = ?", [TAG]))[0].n,
  };
}

/** The contract's error shape: JSON `{error, message}` with a 4xx status. */
function expectError(r: Reply, status: number, code?: string) {
  expect(r.status).toBe(status);
  expect(typeof r.body?.error).toBe("string");
  expect(typeof r.body?.message).toBe("string");
  if (code) expect(r.body.error).toBe(code);
}

const b64 = (o: unknown) => Buffer.from(typeof o === "string" ? o : JSON.stringify(o)).toString("base64url");
function jwt(header: unknown, payload: unknown, secret = JWT_SECRET) {
  const h = b64(header), p = b64(payload);
  return `${h}.${p}.${createHmac("sha256", secret).update(`${h}.${p}`).digest("base64url")}`;
}
const exp = () => Math.floor(Date.now() / 1000) + 600;

describe("admin API and event view", () => {
  test("bad create bodies: a 4xx JSON error each, and nothing created", async () => {
    const before = await snapshot();
    const raw = (body: string, type = "application/json") => s.api.call("POST", "/admin/events", { ...admin, raw: body, headers: { "content-type": type } });
    const body = (b: unknown) => s.api.call("POST", "/admin/events", { ...admin, body: b });
    const cases: [string, () => Promise<Reply>, number, string?][] = [
      ["malformed JSON", () => raw('{"name": "x", "stock": '), 400, "invalid_json"],
      ["not JSON at all", () => raw("name=x&stock=1"), 400, "invalid_json"],
      // bodies are always read as JSON: a form can never be coerced into an event
      ["a form body", () => raw("name=x&stock=1", "application/x-www-form-urlencoded"), 400, "invalid_json"],
      ["a multipart body", () => raw('--b\r\nContent-Disposition: form-data; name="stock"\r\n\r\n10\r\n--b--', "multipart/form-data; boundary=b"), 400, "invalid_json"],
      ["a form-typed body with wrong JSON types", () => raw(JSON.stringify({ ...good, stock: "10" }), "application/x-www-form-urlencoded"), 400],
      ["an empty body", () => raw(""), 400],
      ["an array", () => body([good]), 400],
      ["null", () => body(null), 400],
      ["a string", () => body("event"), 400],
      ...(["name", "stock", "trafficRpm", "runningCapacity"] as const).map((f): [string, () => Promise<Reply>, number] => {
        const { [f]: _, ...rest } = good;
        return [`missing ${f}`, () => body(rest), 400];
      }),
      ...([0, 10_000_001, -1, 1.5, "10", "1e3", null, true, [10], { n: 10 }] as unknown[]).map((v): [string, () => Promise<Reply>, number] => [`stock ${JSON.stringify(v)}`, () => body({ ...good, stock: v }), 400]),
      ["stock 1e400 (Infinity)", () => raw(`{"name":"${TAG}","stock":1e400,"trafficRpm":1,"runningCapacity":1}`), 400],
      ["trafficRpm -1", () => body({ ...good, trafficRpm: -1 }), 400],
      ["trafficRpm 0.5", () => body({ ...good, trafficRpm: 0.5 }), 400],
      ["runningCapacity 0", () => body({ ...good, runningCapacity: 0 }), 400],
      ["runningCapacity \"5\"", () => body({ ...good, runningCapacity: "5" }), 400],
      ["admitPerSecond 0", () => body({ ...good, admitPerSecond: 0 }), 400],
      ["admitPerSecond 2.5", () => body({ ...good, admitPerSecond: 2.5 }), 400],
      ["name empty", () => body({ ...good, name: "" }), 400],
      ["name 201 chars", () => body({ ...good, name: "n".repeat(201) }), 400],
      ["name a number", () => body({ ...good, name: 7 }), 400],
      ["an unknown field", () => body({ ...good, color: "red" }), 400],
      ["remaining, which is not the admin's to set", () => body({ ...good, remaining: 1_000_000 }), 400],
      ["__proto__", () => raw(`{"name":"${TAG}","stock":10,"trafficRpm":1,"runningCapacity":1,"__proto__":{"stock":1}}`), 400],
      ["endsAt before startsAt", () => body({ ...good, startsAt: "2030-01-02T00:00:00Z", endsAt: "2030-01-01T00:00:00Z" }), 400],
      ["endsAt equal to startsAt", () => body({ ...good, startsAt: "2030-01-02T00:00:00Z", endsAt: "2030-01-02T00:00:00Z" }), 400],
      ["endsAt before now-ish default startsAt", () => body({ ...good, endsAt: "2020-01-01T00:00:00Z" }), 400],
      ...["yesterday", "2030-02-30T00:00:00Z", "2030-13-01T00:00:00Z", "2030-01-01T24:00:00Z", "2030-01-01", "2030-01-01T00:00:00", "1969-12-31T23:59:59Z", "9999-12-31T23:00:00-05:00", "+275760-09-13T00:00:00Z", "", "2030-01-01T00:00:00Z garbage"].map(
        (d): [string, () => Promise<Reply>, number] => [`startsAt ${JSON.stringify(d)}`, () => body({ ...good, startsAt: d }), 400],
      ),
      ["startsAt a number", () => body({ ...good, startsAt: 1_900_000_000_000 }), 400],
      ["endsAt a number", () => body({ ...good, endsAt: 1_900_000_000_000 }), 400],
    ];
    for (const [label, call, status, code] of cases) {
      const r = await call();
      if (r.status !== status) console.error(`${label} -> ${r.status}`, r.body);
      expectError(r, status, code);
    }
    console.log(`bad create bodies: ${cases.length} cases, all 4xx JSON`);
    expect(await snapshot()).toEqual(before);
  });

  test("bad PATCH bodies: a 4xx JSON error each, and the event keeps every value (no partial change)", async () => {
    const before = await snapshot();
    const raw = (b: string) => s.api.call("PATCH", `/admin/events/${ev}`, { ...admin, raw: b, headers: json });
    const patch = (b: unknown) => s.api.call("PATCH", `/admin/events/${ev}`, { ...admin, body: b });
    const cases: [string, () => Promise<Reply>, number, string?][] = [
      ["malformed JSON", () => raw("{"), 400, "invalid_json"],
      ["no fields", () => patch({}), 400],
      ["an array", () => patch([{ trafficRpm: 1 }]), 400],
      ["trafficRpm -1", () => patch({ trafficRpm: -1 }), 400],
      ["trafficRpm \"10\"", () => patch({ trafficRpm: "10" }), 400],
      ["runningCapacity 0", () => patch({ runningCapacity: 0 }), 400],
      ["runningCapacity 1.5", () => patch({ runningCapacity: 1.5 }), 400],
      ["admitPerSecond 0", () => patch({ admitPerSecond: 0 }), 400],
      ["admitPerSecond 10,000,001", () => patch({ admitPerSecond: 10_000_001 }), 400],
      ["endsAt garbage", () => patch({ endsAt: "soon" }), 400],
      ["endsAt before startsAt", () => patch({ endsAt: "2000-01-01T00:00:00Z" }), 400],
      ["endsAt on a day that does not exist", () => patch({ endsAt: "2031-02-29T00:00:00Z" }), 400],
      ["stock 0", () => patch({ stock: 0 }), 400],
      ["stock \"5\"", () => patch({ stock: "5" }), 400],
      ["remaining", () => patch({ remaining: 1_000_000 }), 400],
      ["an empty name", () => patch({ name: "" }), 400],
      ["a message of 281 characters", () => patch({ message: "m".repeat(281) }), 400],
      ["a message with a control character", () => patch({ message: "ring\u0007" }), 400],
      ["startsAt of an event that started", () => patch({ startsAt: "2099-01-01T00:00:00Z" }), 409, "not_scheduled"],
      ["a good name with a bad field", () => patch({ name: "renamed", stock: -1 }), 400],
      ["one good field with one bad one", () => patch({ trafficRpm: 5, runningCapacity: 0 }), 400],
      ["one good field with an unknown one", () => patch({ trafficRpm: 5, closed: true }), 400],
    ];
    for (const [, call, status, code] of cases) expectError(await call(), status, code);
    expect(await snapshot()).toEqual(before);
  });

  test("unknown and garbage event ids: 404 JSON on every route, nothing changes", async () => {
    const before = await snapshot();
    const user = { token: token("id-prober") };
    const ids = ["0", "-1", "abc", "99999999999", "1e3", "1.5", "0x10", "01", String(UNKNOWN_ID), "2147483648", "..%2F1", "%E2%9C%93", "%F0%9F%8E%9F", "ü", " 1", "1%20", "null", "x".repeat(300)];
    const routes: [string, (id: string) => string, Record<string, unknown>][] = [
      ["GET", (id) => `/api/events/${id}`, {}],
      ["POST", (id) => `/api/events/${id}/enter`, user],
      ["GET", (id) => `/api/events/${id}/queue`, user],
      ["DELETE", (id) => `/api/events/${id}/queue`, user],
      ["POST", (id) => `/api/events/${id}/issue`, user],
      ["GET", (id) => `/api/events/${id}/coupon`, user],
      ["GET", (id) => `/admin/events/${id}`, admin],
      ["PATCH", (id) => `/admin/events/${id}`, { ...admin, body: { trafficRpm: 1 } }],
      ["POST", (id) => `/admin/events/${id}/restore`, admin],
    ];
    let n = 0;
    for (const id of ids)
      for (const [method, path, opts] of routes) {
        const r = await s.api.call(method, path(id), opts);
        n++;
        if (r.status !== 404) console.error(`${method} ${path(id)} -> ${r.status}`, r.body);
        expectError(r, 404);
        expect(["event_not_found", "not_found"]).toContain(r.body.error);
      }
    // a path that escapes upwards names no event either
    expectError(await s.api.call("GET", "/admin/events/../1", admin), 404);
    console.log(`garbage ids: ${n} requests, all 404 JSON`);
    expect(await snapshot()).toEqual(before);
  });

  test("forged, expired or malformed user tokens: 401 unauthorized on every user route, nothing changes", async () => {
    const before = await snapshot();
    const now = Math.floor(Date.now() / 1000);
    const tokens: [string, string | undefined][] = [
      ["no header", undefined],
      ["an empty bearer", "Bearer "],
      ["not a JWT", "Bearer not-a-jwt"],
      ["three empty parts", "Bearer .."],
      ["Basic auth", "Basic dXNlcjpwYXNz"],
      ["expired", `Bearer ${token("holder", -10)}`],
      ["alg none, unsigned", `Bearer ${b64({ alg: "none", typ: "JWT" })}.${b64({ sub: "holder", exp: exp() })}.`],
      ["alg none with a signature", `Bearer ${jwt({ alg: "none" }, { sub: "holder", exp: exp() })}`],
      ["alg HS512", `Bearer ${jwt({ alg: "HS512" }, { sub: "holder", exp: exp() })}`],
      ["the wrong secret", `Bearer ${token("holder", 600, "another-secret-0123456789")}`],
      ["missing sub", `Bearer ${jwt({ alg: "HS256" }, { exp: exp() })}`],
      ["missing exp", `Bearer ${jwt({ alg: "HS256" }, { sub: "holder" })}`],
      ["exp a string", `Bearer ${jwt({ alg: "HS256" }, { sub: "holder", exp: String(now + 600) })}`],
      ["sub a number", `Bearer ${jwt({ alg: "HS256" }, { sub: 42, exp: exp() })}`],
      ["sub empty", `Bearer ${jwt({ alg: "HS256" }, { sub: "", exp: exp() })}`],
      ["sub 65 chars", `Bearer ${jwt({ alg: "HS256" }, { sub: "u".repeat(65), exp: exp() })}`],
      ["sub with a slash", `Bearer ${jwt({ alg: "HS256" }, { sub: "../holder", exp: exp() })}`],
      ["sub with a space", `Bearer ${jwt({ alg: "HS256" }, { sub: "hol der", exp: exp() })}`],
      ["sub unicode", `Bearer ${jwt({ alg: "HS256" }, { sub: "hölder", exp: exp() })}`],
      ["payload not JSON", `Bearer ${(() => { const h = b64({ alg: "HS256" }), p = b64("holder"); return `${h}.${p}.${createHmac("sha256", JWT_SECRET).update(`${h}.${p}`).digest("base64url")}`; })()}`],
      ["a tampered payload", `Bearer ${(() => { const [h, , sig] = token("nobody").split("."); return `${h}.${b64({ sub: "holder", exp: exp() })}.${sig}`; })()}`],
      ["the admin token", `Bearer ${ADMIN_TOKEN}`],
      ["a huge token", `Bearer ${"A".repeat(6000)}`],
    ];
    const routes: [string, string][] = [
      ["POST", `/api/events/${ev}/enter`],
      ["GET", `/api/events/${ev}/queue`],
      ["DELETE", `/api/events/${ev}/queue`],
      ["POST", `/api/events/${ev}/issue`],
      ["GET", `/api/events/${ev}/coupon`],
    ];
    for (const [, auth] of tokens)
      for (const [method, path] of routes) {
        const r = await s.api.call(method, path, { headers: auth === undefined ? {} : { authorization: auth } });
        expectError(r, 401, "unauthorized");
      }
    // the same routes answer a good token (so the 401s above are about the token)
    expect((await s.api.coupon(ev, "holder")).body).toEqual({ issued: true, persisted: true, code: expect.stringMatching(/^[0-9A-HJKMNP-TV-Z]{5}(-[0-9A-HJKMNP-TV-Z]{5}){3}$/), redeemedAt: null });
    expect(await snapshot()).toEqual(before);
  });

  test("wrong or missing admin token: 401 on every admin route, before any body or id is looked at", async () => {
    const before = await snapshot();
    const auths: (string | undefined)[] = [undefined, "", "Bearer ", "Bearer wrong-admin-token", `Bearer ${ADMIN_TOKEN}x`, `Bearer ${ADMIN_TOKEN.slice(0, -1)}`, `Basic ${ADMIN_TOKEN}`, ADMIN_TOKEN, `Bearer ${token("admin")}`, `Bearer  ${ADMIN_TOKEN} extra`];
    const requests: [string, string, string | undefined][] = [
      ["POST", "/admin/events", JSON.stringify(good)],
      ["POST", "/admin/events", "{not json"],
      ["GET", `/admin/events/${ev}`, undefined],
      ["GET", `/admin/events/${UNKNOWN_ID}`, undefined],
      ["GET", "/admin/events/garbage", undefined],
      ["PATCH", `/admin/events/${ev}`, JSON.stringify({ trafficRpm: 1 })],
      ["PATCH", `/admin/events/${ev}`, JSON.stringify({ stock: -1 })],
      ["POST", `/admin/events/${ev}/restore`, undefined],
    ];
    for (const auth of auths)
      for (const [method, path, raw] of requests) {
        const headers: Record<string, string> = raw ? { ...json } : {};
        if (auth !== undefined) headers.authorization = auth;
        expectError(await s.api.call(method, path, { raw, headers }), 401, "unauthorized");
      }
    // an encoded path reaches no admin route
    const sneaky = await s.api.call("GET", `/%61dmin/events/${ev}`);
    expect(sneaky.status).toBeGreaterThanOrEqual(400);
    expect(sneaky.status).toBeLessThan(500);
    expect(await snapshot()).toEqual(before);
  });

  test("an oversize body is a 413 JSON error and creates nothing", async () => {
    const before = await snapshot();
    const limit = s.config.maxBodyBytes;
    for (const size of [limit + 1, 1_000_000]) {
      const raw = JSON.stringify({ ...good, name: "n".repeat(size) });
      const r = await s.api.call("POST", "/admin/events", { ...admin, raw, headers: json });
      expectError(r, 413, "payload_too_large");
      const p = await s.api.call("PATCH", `/admin/events/${ev}`, { ...admin, raw: JSON.stringify({ trafficRpm: 1, pad: "x".repeat(size) }), headers: json });
      expectError(p, 413, "payload_too_large");
    }
    expect(await snapshot()).toEqual(before);
  });

  test("a body streamed without a Content-Length is a 411 JSON error, however small, and creates nothing", async () => {
    const before = await snapshot();
    // valid requests, padded with whitespace: only the missing length can stop them
    for (const pad of [0, s.config.maxBodyBytes]) {
      const bytes = new TextEncoder().encode(JSON.stringify(good) + " ".repeat(pad));
      const body = new ReadableStream({ start: (c) => (c.enqueue(bytes), c.close()) });
      const res = await fetch(`${s.url}/admin/events`, { method: "POST", body, headers: { ...json, authorization: `Bearer ${ADMIN_TOKEN}` } });
      expectError({ status: res.status, body: await res.json() }, 411, "length_required");
    }
    expect(await snapshot()).toEqual(before);
  });
});

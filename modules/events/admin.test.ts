// The admin API and the public event view, read against the contract: shapes, every PATCH field
// taking effect, the API docs. Bad input of every kind: bad-input.test.ts.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { eventKeys } from "../../src/redis";
import { ADMIN_TOKEN, mysqlConn, NO_USER_LIMITS, startServer, stopServer, waitFor, type Started } from "../../scripts/testkit";

// real servers and real drains: far more than the 5 s default on a loaded machine
setDefaultTimeout(120_000);

let s: Started;
const db = mysqlConn();
// every event a bad request might create by mistake would carry this name
const TAG = `admin-test-${Date.now().toString(36)}`;

beforeAll(async () => {
  // limits off: these tests are about input handling, not throttling; slots outlive the test run
  s = await startServer({ ...NO_USER_LIMITS, QUEUE_SLOT_TTL_MS: "3600000" });
});
afterAll(async () => {
  await stopServer(s);
  await db.end();
});

const good = { name: TAG, stock: 10, trafficRpm: 100, runningCapacity: 5 };

async function rows(sql: string, params: unknown[] = []) {
  return ((await db.query(sql, params)) as [any[], unknown])[0];
}

describe("admin API and event view", () => {
  test("create answers the contract's shape; stats and the public view have every contract field", async () => {
    const startsAt = new Date(Date.now() - 1000).toISOString();
    const endsAt = new Date(Date.now() + 3_600_000).toISOString();
    const r = await s.api.createEvent({ name: "shape", stock: 3, trafficRpm: 1000, runningCapacity: 7, admitPerSecond: 2, startsAt, endsAt });
    expect(r.status).toBe(201);
    const id = r.body.id;
    expect(Number.isSafeInteger(id) && id > 0).toBe(true);
    expect(r.body).toEqual({ id, name: "shape", stock: 3, trafficRpm: 1000, runningCapacity: 7, admitPerSecond: 2, startsAt, endsAt, queueOpensAt: null, maxWaiting: 0, couponValidUntil: null, webhookUrl: null, message: "", brand: null, botGate: null, claim: "manual", slotSeconds: null, graceSeconds: null, status: "open" });

    // admitPerSecond defaults to runningCapacity; no endsAt is null
    const d = await s.api.createEvent({ name: "defaults", stock: 1, trafficRpm: 0, runningCapacity: 4 });
    expect(d.body).toMatchObject({ admitPerSecond: 4, endsAt: null, status: "open" });
    expect(Date.parse(d.body.startsAt)).not.toBeNaN();

    const st = await s.api.stats(id);
    expect(st.status).toBe(200);
    expect(st.body).toMatchObject({ id, name: "shape", stock: 3, remaining: 3, issued: 0, persisted: 0, waiting: 0, running: 0, pending: 0, dead: 0, status: "open" });
    for (const f of ["trafficRpm", "runningCapacity", "admitPerSecond", "startsAt", "endsAt"]) expect(st.body[f]).toEqual(r.body[f]);

    const pub = await s.api.call("GET", `/api/events/${id}`);
    expect(pub).toEqual({ status: 200, body: { id, name: "shape", stock: 3, remaining: 3, status: "open", startsAt, endsAt, queueOpensAt: null, message: "", couponValidUntil: null, paused: false, brand: null, botGate: null, claim: "manual", slotSeconds: null, graceSeconds: null, serverTime: expect.any(String) } });

    // the numbers move as coupons are issued, and the status follows
    for (const u of ["a", "b", "c"]) {
      expect((await s.api.enter(id, u)).status).toBe(200);
      expect((await s.api.issue(id, u)).status).toBe(201);
    }
    await waitFor("persisted", async () => (await s.api.stats(id)).body.persisted === 3);
    expect((await s.api.stats(id)).body).toMatchObject({ remaining: 0, issued: 3, persisted: 3, pending: 0, dead: 0, status: "sold_out" });
    // the public info comes from the router's view of the event: cacheable for about a second, fresh within a flush
    await waitFor("the public view says sold out", async () => (await s.api.call("GET", `/api/events/${id}`)).body.status === "sold_out", 5000, 20);
    expect((await s.api.call("GET", `/api/events/${id}`)).body).toMatchObject({ remaining: 0, status: "sold_out" });
  });

  test("status values: scheduled before startsAt, closed after endsAt", async () => {
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const sch = (await s.api.createEvent({ ...good, name: "later", startsAt: later })).body;
    expect(sch.status).toBe("scheduled");
    expect((await s.api.call("GET", `/api/events/${sch.id}`)).body.status).toBe("scheduled");
    const past = new Date(Date.now() - 1000).toISOString();
    const closing = (await s.api.createEvent({ ...good, name: "closing", startsAt: new Date(Date.now() - 5000).toISOString() })).body;
    expect((await s.api.patch(closing.id, { endsAt: past })).body.status).toBe("closed");
    expect((await s.api.call("GET", `/api/events/${closing.id}`)).body.status).toBe("closed");
    expect((await s.api.stats(closing.id)).body.status).toBe("closed");
  });

  test("PATCH: each field takes effect in the reply, the stats, the Redis meta hash and MySQL", async () => {
    const id = (await s.api.createEvent({ name: "patchable", stock: 20, trafficRpm: 100, runningCapacity: 5, admitPerSecond: 3 })).body.id;
    const meta = () => s.redis.hgetall(eventKeys(s.prefix, id).meta);
    const row = async () => (await rows("SELECT * FROM coupon_events WHERE id = ?", [id]))[0];

    const cases: [string, number, string][] = [
      ["trafficRpm", 12_345, "traffic_rpm"],
      ["runningCapacity", 77, "running_capacity"],
      ["admitPerSecond", 9, "admit_per_second"],
    ];
    for (const [field, value, column] of cases) {
      const r = await s.api.patch(id, { [field]: value });
      expect(r.status).toBe(200);
      expect(r.body[field]).toBe(value);
      expect((await s.api.stats(id)).body[field]).toBe(value);
      expect((await meta())[field]).toBe(String(value));
      expect((await row())[column]).toBe(value);
    }
    // trafficRpm 0 sends everyone to the waiting room at once
    await s.api.patch(id, { trafficRpm: 0 });
    expect((await s.api.enter(id, "patched-user")).status).toBe(202);

    const endsAt = new Date(Date.now() + 7_200_000).toISOString();
    const e = await s.api.patch(id, { endsAt });
    expect(e.body.endsAt).toBe(endsAt);
    expect(Number((await meta()).endsAt)).toBe(Date.parse(endsAt));
    expect(new Date((await row()).ends_at).toISOString()).toBe(endsAt);
    const cleared = await s.api.patch(id, { endsAt: null });
    expect(cleared.body.endsAt).toBeNull();
    expect((await meta()).endsAt).toBe("0");
    expect((await row()).ends_at).toBeNull();

    // several at once; the hot-path fields stay untouched
    const both = await s.api.patch(id, { runningCapacity: 3, admitPerSecond: 1 });
    expect(both.body).toMatchObject({ runningCapacity: 3, admitPerSecond: 1, stock: 20, name: "patchable" });
    expect((await meta()).remaining).toBe("20");
  });

  test("a JSON body is understood whatever its Content-Type (fetch sends text/plain by default)", async () => {
    const r = await fetch(`${s.url}/admin/events`, { method: "POST", headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, body: JSON.stringify({ ...good, name: `${TAG} untyped` }) });
    expect(r.status).toBe(201);
    expect(((await r.json()) as { name: string }).name).toBe(`${TAG} untyped`);
  });

  test("Swagger: the UI is served and the spec lists every /api and /admin route", async () => {
    const ui = await fetch(`${s.url}/swagger`);
    expect(ui.status).toBe(200);
    expect(ui.headers.get("content-type")).toContain("text/html");
    expect(await ui.text()).toContain("<html");
    const spec = (await (await fetch(`${s.url}/swagger/json`)).json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(spec.openapi).toMatch(/^3\./);
    const listed = Object.entries(spec.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
    const routes = [
      "GET /api/events/{id}",
      "GET /api/events/{id}/challenge",
      "POST /api/events/{id}/enter",
      "GET /api/events/{id}/queue",
      "DELETE /api/events/{id}/queue",
      "POST /api/events/{id}/issue",
      "GET /api/events/{id}/coupon",
      "POST /admin/events",
      "GET /admin/events/{id}",
      "PATCH /admin/events/{id}",
      "POST /admin/events/{id}/restore",
      "POST /admin/events/{id}/release-unaccounted",
      "GET /admin/events/{id}/dead",
      "POST /admin/events/{id}/dead/{entry}/retry",
      "GET /api/me/coupons",
      "GET /admin/events",
      "POST /admin/events/{id}/pause",
      "POST /admin/events/{id}/resume",
      "POST /admin/events/{id}/close",
      "DELETE /admin/events/{id}",
      "GET /admin/events/{id}/issues",
      "GET /admin/events/{id}/history",
      "GET /admin/coupons/{code}",
      "POST /admin/coupons/{code}/redeem",
      "GET /admin/audit",
      // the shop's side (modules/redemption, modules/grants, modules/webhooks)
      "POST /admin/coupons/{code}/unredeem",
      "POST /admin/coupons/{code}/void",
      "POST /admin/events/{id}/grants",
      "GET /admin/events/{id}/webhooks",
      "GET /admin/webhooks/{id}",
      "POST /admin/webhooks/{id}/redeliver",
      // API keys (modules/keys)
      "POST /admin/keys",
      "GET /admin/keys",
      "DELETE /admin/keys/{id}",
    ];
    expect(listed.filter((r) => / \/(api|admin)\//.test(r)).sort()).toEqual(routes.sort());
    // admin routes say they need the admin token or an API key with their scope
    expect((spec.paths["/admin/events"]!.post as { security?: unknown }).security).toEqual([{ adminToken: [] }, { apiKey: [] }]);
    expect((spec.paths["/admin/events"]!.post as Record<string, unknown>)["x-required-scope"]).toBe("events:write");
  });
});

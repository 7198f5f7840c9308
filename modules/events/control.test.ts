// The operator's controls, read against the contract: the event list, pause / resume / close /
// cancel, every knob, the live numbers that explain a stalled line, and bad input on each new route.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { eventKeys } from "../../src/redis";
import { ADMIN_TOKEN, mysqlConn, NO_USER_LIMITS, pool, startServer, stopServer, token, waitFor, type Reply, type Started } from "../../scripts/testkit";
import { QueueService } from "../queue/service";
import { AdmissionScheduler } from "../queue/scheduler";
import { eventIds } from "./service";
import { globalKeys } from "../../src/redis";

setDefaultTimeout(120_000);

let s: Started;
const db = mysqlConn();
const admin = { token: ADMIN_TOKEN };
const later = (ms: number) => new Date(Date.now() + ms).toISOString();

beforeAll(async () => {
  s = await startServer({ ...NO_USER_LIMITS, QUEUE_SLOT_TTL_MS: "3600000" });
});
afterAll(async () => {
  await stopServer(s);
  await db.end();
});

async function create(body: Record<string, unknown>): Promise<number> {
  const r = await s.api.createEvent({ stock: 100, trafficRpm: 1_000_000_000, runningCapacity: 100, ...body });
  expect(r.status).toBe(201);
  return r.body.id;
}
const act = (id: number, action: "pause" | "resume" | "close") => s.api.call("POST", `/admin/events/${id}/${action}`, admin);
const cancel = (id: number) => s.api.call("DELETE", `/admin/events/${id}`, admin);
const list = (query: string) => s.api.call("GET", `/admin/events${query}`, admin);
const status = async (id: number) => (await s.api.stats(id)).body.status;

function expectError(r: Reply, code: number, error?: string) {
  expect(r.status).toBe(code);
  expect(typeof r.body?.error).toBe("string");
  expect(typeof r.body?.message).toBe("string");
  if (error) expect(r.body.error).toBe(error);
}

/** Waits until the admission scheduler of the server has ticked `n` more times. */
async function ticks(n: number) {
  for (let i = 0; i < n; i++) {
    const at = s.scheduler!.lastTick.at;
    await waitFor("a scheduler tick", async () => s.scheduler!.lastTick.at > at, 15_000, 20);
  }
}

describe("event list", () => {
  test("newest first, cursor paging, and a filter on each derived status", async () => {
    const ids: Record<string, number> = {};
    ids.scheduled = await create({ name: "list scheduled", startsAt: later(3_600_000) });
    ids.open = await create({ name: "list open" });
    ids.paused = await create({ name: "list paused" });
    expect((await act(ids.paused, "pause")).status).toBe(200);
    ids.sold_out = await create({ name: "list sold out", stock: 1 });
    await s.api.enter(ids.sold_out, "list-buyer");
    expect((await s.api.issue(ids.sold_out, "list-buyer")).status).toBe(201);
    ids.closed = await create({ name: "list closed" });
    expect((await act(ids.closed, "close")).status).toBe(200);
    ids.cancelled = await create({ name: "list cancelled", startsAt: later(3_600_000) });
    expect((await cancel(ids.cancelled)).status).toBe(200);

    for (const [st, id] of Object.entries(ids)) {
      const r = await list(`?status=${st}&limit=100`);
      expect(r.status).toBe(200);
      expect(r.body.events.every((e: { status: string }) => e.status === st)).toBe(true);
      const mine = r.body.events.find((e: { id: number }) => e.id === id);
      expect(mine).toMatchObject({ id, status: st, stock: expect.any(Number), remaining: expect.any(Number), admitPerSecond: 100, maxWaiting: 0 });
    }
    expect((await list("?status=sold_out&limit=100")).body.events.find((e: { id: number }) => e.id === ids.sold_out).remaining).toBe(0);

    // walk every page of two: ids strictly falling, nothing twice, every event of this test on some page
    const seen: number[] = [];
    let pages = 0;
    for (let after: string | null = ""; after !== null; pages++) {
      const r = await list(`?limit=2${after ? `&after=${after}` : ""}`);
      expect(r.status).toBe(200);
      expect(r.body.events.length).toBeLessThanOrEqual(2);
      seen.push(...r.body.events.map((e: { id: number }) => e.id));
      after = r.body.next;
      if (after !== null) expect(r.body.events.length).toBe(2);
    }
    expect(seen).toEqual([...seen].sort((a, b) => b - a));
    expect(new Set(seen).size).toBe(seen.length);
    for (const id of Object.values(ids)) expect(seen).toContain(id);
    const [[{ n }]] = (await db.query("SELECT COUNT(*) AS n FROM coupon_events")) as unknown as [[{ n: number }]];
    expect(seen.length).toBe(Number(n));
    console.log(`event list: ${seen.length} events in ${pages} pages of 2`);

    // a filtered list pages too
    const open: number[] = [];
    for (let after: string | null = ""; after !== null; ) {
      const r = await list(`?status=open&limit=1${after ? `&after=${after}` : ""}`);
      open.push(...r.body.events.map((e: { id: number }) => e.id));
      after = r.body.next;
    }
    // (one page holds at most 100: the shared test schema may hold more open events than that)
    expect(open.slice(0, 100)).toEqual((await list("?status=open&limit=100")).body.events.map((e: { id: number }) => e.id));
  });

  test("a fresh default page: newest first, at most 20", async () => {
    const id = await create({ name: "newest" });
    const r = await list("");
    expect(r.body.events[0].id).toBe(id);
    expect(r.body.events.length).toBeLessThanOrEqual(20);
  });
});

describe("pause, resume, close, cancel", () => {
  test("pause holds admission while the line keeps its order and still takes newcomers; resume admits in order of entry", async () => {
    const id = await create({ name: "pausable", runningCapacity: 3, admitPerSecond: 100 });
    // admitted before the pause: may still take the coupon
    expect((await s.api.enter(id, "p-early")).body.status).toBe("admitted");
    const paused = await act(id, "pause");
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ id, status: "paused" });
    expect((await s.api.call("GET", `/api/events/${id}`)).body.status).toBe("paused");

    const line = Array.from({ length: 6 }, (_, i) => `p-${id}-${i}`);
    for (const [i, u] of line.entries()) {
      const r = await s.api.enter(id, u);
      expect(r.status).toBe(202);
      expect(r.body).toMatchObject({ status: "waiting", position: i + 1 });
    }
    expect((await s.api.issue(id, "p-early")).status).toBe(201);
    await ticks(3);
    for (const [i, u] of line.entries()) expect((await s.api.poll(id, u)).body).toMatchObject({ status: "waiting", position: i + 1 });
    expect((await s.api.stats(id)).body).toMatchObject({ status: "paused", waiting: 6, running: 0, stall: "paused", issued: 1 });
    // nobody admitted means nobody can issue
    expectError(await s.api.issue(id, line[0]!), 403, "not_admitted");

    // paused is stored in MySQL: a reconciliation (rewriting Redis from MySQL) keeps it
    expect((await s.api.call("POST", `/admin/events/${id}/restore`, admin)).body.status).toBe("paused");

    const resumed = await act(id, "resume");
    expect(resumed.body.status).toBe("open");
    const state = async () => Promise.all(line.map(async (u) => (await s.api.poll(id, u)).body.status as string));
    await waitFor("the head of the line admitted", async () => (await state()).filter((x) => x === "admitted").length === 3);
    expect(await state()).toEqual(["admitted", "admitted", "admitted", "waiting", "waiting", "waiting"]);
    for (const u of line.slice(0, 3)) expect((await s.api.issue(id, u)).status).toBe(201);
    await waitFor("the rest admitted", async () => (await state()).slice(3).every((x) => x === "admitted"));
  });

  test("close ends the event now: waiters are told closed, nobody enters or issues; close is idempotent, pause and cancel are refused", async () => {
    const id = await create({ name: "closable", trafficRpm: 0, runningCapacity: 1 });
    const waiters = Array.from({ length: 4 }, (_, i) => `c-${id}-${i}`);
    for (const u of waiters) expect((await s.api.enter(id, u)).status).toBe(202);
    await waitFor("one admitted", async () => (await s.api.poll(id, waiters[0]!)).body.status === "admitted");

    const closed = await act(id, "close");
    expect(closed.status).toBe(200);
    expect(closed.body.status).toBe("closed");
    for (const u of waiters) expect((await s.api.poll(id, u)).body).toEqual({ status: "closed" });
    expectError(await s.api.enter(id, `c-${id}-late`), 409, "not_open");
    expectError(await s.api.issue(id, waiters[0]!), 409, "not_open");
    expect((await s.api.call("GET", `/api/events/${id}`)).body.status).toBe("closed");
    const [[row]] = (await db.query("SELECT closed, paused, cancelled FROM coupon_events WHERE id = ?", [id])) as [any[], unknown];
    expect(row).toEqual({ closed: 1, paused: 0, cancelled: 0 });
    // the scheduler empties the line of a closed event
    await waitFor("the line emptied", async () => (await s.api.stats(id)).body.waiting === 0);

    expect((await act(id, "close")).status).toBe(200);
    expectError(await act(id, "pause"), 409, "event_ended");
    expectError(await act(id, "resume"), 409, "event_ended");
    expectError(await cancel(id), 409, "not_scheduled");
    expect(await status(id)).toBe("closed");
    expect((await s.api.stats(id)).body.issued).toBe(0);
  });

  test("cancel: a scheduled event becomes cancelled; a started one is a 409 and unchanged", async () => {
    const id = await create({ name: "cancellable", startsAt: later(3_600_000) });
    const r = await cancel(id);
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id, status: "cancelled" });
    expect((await s.api.call("GET", `/api/events/${id}`)).body.status).toBe("cancelled");
    expectError(await s.api.enter(id, "cx-user"), 409, "not_open");
    // the contract: only a scheduled event can be cancelled — a cancelled one no longer is; nothing else can be done with it
    expectError(await cancel(id), 409, "not_scheduled");
    expectError(await act(id, "close"), 409, "event_ended");
    expectError(await act(id, "pause"), 409, "event_ended");
    expectError(await act(id, "resume"), 409, "event_ended");
    expect(await status(id)).toBe("cancelled");

    const open = await create({ name: "not cancellable" });
    await s.api.enter(open, "cx-buyer");
    expect((await s.api.issue(open, "cx-buyer")).status).toBe(201);
    const before = (await s.api.stats(open)).body;
    const refused = await cancel(open);
    expectError(refused, 409, "not_scheduled");
    expect(refused.body.message).toContain("close it instead");
    expect((await s.api.stats(open)).body).toMatchObject({ status: "open", issued: before.issued, remaining: before.remaining });
    const pausedEv = await create({ name: "paused, not cancellable" });
    await act(pausedEv, "pause");
    expectError(await cancel(pausedEv), 409, "not_scheduled");
    expect(await status(pausedEv)).toBe("paused");
  });

  test("pause of a scheduled event holds it past its start; resume opens it", async () => {
    const id = await create({ name: "starts paused", startsAt: later(1500), trafficRpm: 0 });
    expect((await act(id, "pause")).body.status).toBe("scheduled");
    await waitFor("the start", async () => (await status(id)) === "paused");
    expect((await s.api.enter(id, "sp-user")).status).toBe(202);
    await ticks(2);
    expect((await s.api.poll(id, "sp-user")).body.status).toBe("waiting");
    await act(id, "resume");
    await waitFor("admitted after resume", async () => (await s.api.poll(id, "sp-user")).body.status === "admitted");
  });
});

describe("a rested event wakes at once when reopened, whichever process changed it", () => {
  // the server ticks no scheduler: the only one is the test's, standing for another queue process
  // (its own memory, the same Redis), so every admission below is one of its ticks
  let q: Started;
  beforeAll(async () => {
    q = await startServer({ QUEUE_SCHEDULER: "off", ISSUER: "off", ...NO_USER_LIMITS });
  });
  afterAll(() => stopServer(q));

  test("closed (endsAt passed) → the scheduler rests it; endsAt cleared through the API → admitted at the very next tick", async () => {
    const id = (await q.api.createEvent({ name: "reopened", stock: 10, trafficRpm: 0, runningCapacity: 5, startsAt: new Date(Date.now() - 10_000).toISOString() })).body.id as number;
    const scheduler = new AdmissionScheduler(new QueueService(q.redis, q.prefix, q.config.queue), () => eventIds(q.redis, q.prefix), () => q.redis.get(globalKeys(q.prefix).settingsRev));
    const tick = async () => (await scheduler.tick(), scheduler.lastTick);
    const all = (await eventIds(q.redis, q.prefix)).length;
    expect((await q.api.patch(id, { endsAt: new Date(Date.now() - 1000).toISOString() })).body.status).toBe("closed");
    expect((await tick()).events).toBe(all);
    // rested: the next tick skips it (and every other ended event)
    expect((await tick()).events).toBeLessThan(all);

    expect((await q.api.patch(id, { endsAt: null })).body.status).toBe("open");
    for (const u of ["r-1", "r-2"]) expect((await q.api.enter(id, u)).status).toBe(202);
    const woke = await tick();
    expect(woke.events).toBe(all);
    expect(woke.admitted).toBe(2);
    expect((await q.api.poll(id, "r-1")).body.status).toBe("admitted");
    expect((await q.api.poll(id, "r-2")).body.status).toBe("admitted");
  });
});

describe("knobs and live numbers", () => {
  test("PATCH maxWaiting: the line takes that many, the next is told line_full; 0 lifts the limit", async () => {
    const id = await create({ name: "capped line", trafficRpm: 0, runningCapacity: 1 });
    await act(id, "pause");
    const r = await s.api.patch(id, { maxWaiting: 2 });
    expect(r.body.maxWaiting).toBe(2);
    // mw-2 keeps one token, as a page does: in a full line a token this router never verified is told
    // line_full first (the kit mints a new one per call, another string from the next second on)
    const mw2 = token("mw-2");
    const enterMw2 = () => s.api.call("POST", `/api/events/${id}/enter`, { token: mw2 });
    expect((await s.api.enter(id, "mw-1")).status).toBe(202);
    expect((await enterMw2()).status).toBe(202);
    expectError(await s.api.enter(id, "mw-3"), 410, "line_full");
    // already in line: still idempotent
    expect((await enterMw2()).body.position).toBe(2);
    expect((await s.api.patch(id, { maxWaiting: 0 })).body.maxWaiting).toBe(0);
    expect((await s.api.enter(id, "mw-3")).status).toBe(202);
  });

  test("PATCH couponValidUntil and admitPerSecond; webhookUrl needs WEBHOOK_SECRET (400, nothing changed)", async () => {
    const id = await create({ name: "knobs", startsAt: new Date(Date.now() - 60_000).toISOString() });
    const until = later(86_400_000);
    expect((await s.api.patch(id, { couponValidUntil: until, admitPerSecond: 7 })).body).toMatchObject({ couponValidUntil: until, admitPerSecond: 7 });
    expect((await s.api.stats(id)).body).toMatchObject({ couponValidUntil: until, admitPerSecond: 7 });
    expectError(await s.api.patch(id, { webhookUrl: "http://127.0.0.1:1/hook" }), 400);
    expectError(await s.api.patch(id, { couponValidUntil: "2000-01-01T00:00:00Z" }), 400);
    expect((await s.api.stats(id)).body).toMatchObject({ couponValidUntil: until, webhookUrl: null });
  });

  test("requestRate: the event's live request rate over every router; reading it adds nothing", async () => {
    const id = await create({ name: "rated" });
    for (let i = 0; i < 5; i++) expect((await s.api.stats(id)).body.requestRate).toBe(0);
    await pool(Array.from({ length: 30 }, (_, i) => `rr-${id}-${i}`), 10, (u) => s.api.enter(id, u));
    await waitFor("30 requests measured", async () => (await s.api.stats(id)).body.requestRate === 30);
    for (let i = 0; i < 5; i++) expect((await s.api.stats(id)).body.requestRate).toBe(30);
  });

  test("stall: capacity full, then admitPerSecond reached", async () => {
    const full = await create({ name: "full", trafficRpm: 0, runningCapacity: 1, admitPerSecond: 100 });
    for (const u of ["sf-1", "sf-2"]) await s.api.enter(full, u);
    await waitFor("capacity full", async () => (await s.api.stats(full)).body.stall === "capacity_full");
    expect((await s.api.stats(full)).body).toMatchObject({ running: 1, runningCapacity: 1, waiting: 1 });

    const slow = await create({ name: "slow", trafficRpm: 0, runningCapacity: 100, admitPerSecond: 1 });
    await pool(Array.from({ length: 8 }, (_, i) => `sl-${i}`), 8, (u) => s.api.enter(slow, u));
    await waitFor("admitPerSecond reached", async () => {
      const st = (await s.api.stats(slow)).body;
      return st.stall === "admit_per_second" && Math.max(st.admittedThisSecond, st.admittedLastSecond) === 1;
    });
    const st = (await s.api.stats(slow)).body;
    expect(st.running).toBeLessThan(st.runningCapacity);
  });
});

describe("bad input on the new routes: a 4xx JSON error each, and nothing changes", () => {
  test("list, controls, export: bad queries, unknown ids, no admin token", async () => {
    const id = await create({ name: "guarded", startsAt: later(3_600_000) });
    const snapshot = async () => ({
      meta: await s.redis.hgetall(eventKeys(s.prefix, id).meta),
      row: ((await db.query("SELECT * FROM coupon_events WHERE id = ?", [id])) as [any[], unknown])[0],
    });
    const before = await snapshot();
    const cases: [string, string, number, Record<string, unknown>?][] = [
      ...["limit=0", "limit=101", "limit=abc", "limit=1.5", "limit=-1", "limit=", "limit=1e2", "limit=%201", "status=bogus", "status=", "status=OPEN", "after=0", "after=abc", "after=-5", "after=99999999999", "color=red"].map(
        (q): [string, string, number] => ["GET", `/admin/events?${q}`, 400],
      ),
      ...["after=garbage!", "after=" + Buffer.from("1.x").toString("base64url"), "after=" + "A".repeat(65), "limit=0", "limit=1001", "limit=x", "page=2"].map(
        (q): [string, string, number] => ["GET", `/admin/events/${id}/issues?${q}`, 400],
      ),
      ["GET", "/admin/events/2147483647/issues", 404],
      ["GET", "/admin/events/abc/issues", 404],
      ...["pause", "resume", "close"].flatMap((a): [string, string, number][] => [
        ["POST", `/admin/events/2147483647/${a}`, 404],
        ["POST", `/admin/events/0/${a}`, 404],
        ["POST", `/admin/events/x/${a}`, 404],
      ]),
      ["DELETE", "/admin/events/2147483647", 404],
      ["DELETE", "/admin/events/-1", 404],
      ["DELETE", "/admin/events", 404],
    ];
    for (const [method, path, code] of cases) {
      const r = await s.api.call(method, path, admin);
      if (r.status !== code) console.error(`${method} ${path} -> ${r.status}`, r.body);
      expectError(r, code);
    }
    const csv = await fetch(`${s.url}/admin/events/2147483647/issues`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}`, accept: "text/csv" } });
    expectError({ status: csv.status, body: await csv.json() }, 404);

    // without the admin token: 401 before anything is looked at
    for (const [method, path] of [
      ["GET", "/admin/events"],
      ["GET", "/admin/events?limit=0"],
      ["POST", `/admin/events/${id}/pause`],
      ["POST", `/admin/events/${id}/resume`],
      ["POST", `/admin/events/${id}/close`],
      ["DELETE", `/admin/events/${id}`],
      ["GET", `/admin/events/${id}/issues`],
      ["GET", "/admin/coupons/ABCDE-ABCDE-ABCDE-ABCDE"],
      ["POST", "/admin/coupons/ABCDE-ABCDE-ABCDE-ABCDE/redeem"],
    ] as const) {
      expectError(await s.api.call(method, path), 401, "unauthorized");
      expectError(await s.api.call(method, path, { token: token("someone") }), 401, "unauthorized");
    }
    // a user route needs a user token
    expectError(await s.api.call("GET", "/api/me/coupons"), 401, "unauthorized");
    expectError(await s.api.call("GET", "/api/me/coupons", admin), 401, "unauthorized");
    expect(await snapshot()).toEqual(before);
    expect(await status(id)).toBe("scheduled");
  });
});

// The operator's numbers kept by the server: the funnel (who joined, was admitted, issued, left,
// lapsed, dropped, turned away and why), the history the admin chart draws (the same for every
// reader, bounded), and what /metrics says of them.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { eventKeys } from "../../src/redis";
import { ADMIN_TOKEN, metricValue, pool, startServer, stopServer, token, waitFor, type Started } from "../../scripts/testkit";

setDefaultTimeout(120_000);

let s: Started;
const admin = { token: ADMIN_TOKEN };

beforeAll(async () => {
  // slots lapse after 1.5 s, silent waiters drop after 3 s; the history samples every second
  s = await startServer({
    RATE_LIMIT_USER_PER_SEC: "2",
    RATE_LIMIT_USER_BURST: "4",
    RATE_LIMIT_IP_PER_SEC: "0",
    QUEUE_SLOT_TTL_MS: "1500",
    QUEUE_WAITER_TIMEOUT_MS: "3000",
    QUEUE_MAX_POLL_MS: "1000",
    HISTORY_STEP_MS: "1000",
  });
});
afterAll(async () => {
  await stopServer(s);
});

const funnel = async (id: number) => (await s.api.stats(id)).body.funnel;
const metric = (name: string, labels: Record<string, string | number>) => metricValue(s.url, name, labels);

describe("the funnel", () => {
  test("turned away: not open, line full, sold out, rate limited, counted once each, from the view and from Lua", async () => {
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const sched = (await s.api.createEvent({ name: "not yet", stock: 5, trafficRpm: 100, runningCapacity: 1, startsAt: later })).body.id;
    for (const u of ["a", "b", "c"]) expect((await s.api.enter(sched, u)).body.error).toBe("not_open");
    await waitFor("not_open counted", async () => (await funnel(sched)).turnedAway.not_open === 3, 10_000);

    const full = (await s.api.createEvent({ name: "full", stock: 5, trafficRpm: 0, runningCapacity: 1, maxWaiting: 2 })).body.id;
    // paused: the line keeps everyone it takes (nobody is admitted out of it meanwhile)
    expect((await s.api.call("POST", `/admin/events/${full}/pause`, admin)).status).toBe(200);
    for (const u of ["w1", "w2"]) expect((await s.api.enter(full, u)).status).toBe(202);
    for (const u of ["w3", "w4"]) expect((await s.api.enter(full, u)).body.error).toBe("line_full");
    await waitFor("line_full counted", async () => (await funnel(full)).turnedAway.line_full === 2, 10_000);
    expect((await funnel(full)).joined).toBe(2);

    const one = (await s.api.createEvent({ name: "one", stock: 1, trafficRpm: 100, runningCapacity: 5 })).body.id;
    expect((await s.api.enter(one, "x")).status).toBe(200);
    expect((await s.api.issue(one, "x")).status).toBe(201);
    for (const u of ["y", "z"]) expect((await s.api.enter(one, u)).body.error).toBe("sold_out");
    // a user over their rate limit on a known event (40 at once: a loaded machine that spreads them over seconds
    // still goes past a burst of 4 at 2/s)
    const HAMMER = 40;
    const codes = await Promise.all(Array.from({ length: HAMMER }, () => s.api.enter(one, "hammer").then((r) => r.status)));
    const limited = codes.filter((c) => c === 429).length;
    expect(limited).toBeGreaterThan(0);
    await waitFor("sold_out and rate_limited counted", async () => {
      const f = await funnel(one);
      return f.turnedAway.sold_out === 2 + (HAMMER - limited) && f.turnedAway.rate_limited === limited;
    }, 10_000);
    expect(await funnel(one)).toMatchObject({ issued: 1, turnedAway: { line_full: 0, not_open: 0, bot_check_failed: 0 } });
    // an id nobody created gets no funnel hash, whatever is sent to it
    await Promise.all(Array.from({ length: 8 }, () => s.api.enter(1_999_999_999, "ghost")));
    await Bun.sleep(600);
    expect(await s.redis.exists(eventKeys(s.prefix, 1_999_999_999).funnel)).toBe(0);

    // /metrics: the same numbers (the coupon role's snapshot is a couple of seconds old at most)
    await waitFor("the metrics", async () => (await metric("coupon_event_turned_away", { event_id: one, reason: "sold_out" })) === 2 + (HAMMER - limited), 10_000);
    expect(await metric("coupon_event_funnel_users", { event_id: one, stage: "issued" })).toBe(1);
  });
});

describe("the funnel's steps", () => {
  test("joined, admitted (directly and from the line), left, slots lapsed, dropped for silence: each counted once", async () => {
    // one slot; slots lapse after 1.5 s; waiters who stop polling drop after 3 s
    const id = (await s.api.createEvent({ name: "steps", stock: 50, trafficRpm: 100, runningCapacity: 1, admitPerSecond: 5 })).body.id;
    expect((await s.api.enter(id, "direct")).status).toBe(200);
    for (const u of ["w1", "w2", "silent"]) expect((await s.api.enter(id, u)).status).toBe(202);
    expect((await s.api.enter(id, "w1")).status).toBe(202); // again: the same place, not a new join
    expect((await s.api.leave(id, "w2")).status).toBe(204);
    // "direct" never issues: its slot lapses; w1 keeps polling and is admitted; "silent" stops polling
    await waitFor("w1 admitted", async () => (await s.api.poll(id, "w1")).body.status === "admitted", 20_000, 200);
    await waitFor("the silent waiter dropped, w1's slot lapsed", async () => {
      const f = await funnel(id);
      return f.droppedSilent === 1 && f.slotsLapsed >= 2;
    }, 30_000, 250);
    const f = await funnel(id);
    expect(f).toMatchObject({ joined: 4, left: 1, droppedSilent: 1, issued: 0 });
    expect(f.admitted).toBe(f.slotsLapsed);
    expect(f.admitted).toBeGreaterThanOrEqual(2);
  });
});

describe("the funnel of an on_turn event", () => {
  test("a turn is an issuance: counted once, as issued, never as admitted (at enter or by the scheduler)", async () => {
    const id = (await s.api.createEvent({ name: "turns", stock: 4, trafficRpm: 0, runningCapacity: 1, admitPerSecond: 5, claim: "on_turn" })).body.id as number;
    // three wait on a paused event, then the scheduler issues to them on their turns
    expect((await s.api.call("POST", `/admin/events/${id}/pause`, admin)).status).toBe(200);
    for (const u of ["t1", "t2", "t3"]) expect((await s.api.enter(id, u)).status).toBe(202);
    expect((await s.api.call("POST", `/admin/events/${id}/resume`, admin)).status).toBe(200);
    await waitFor("the three issued on their turns", async () => (await funnel(id)).issued === 3, 20_000, 100);
    // nobody ahead: issued at enter
    expect((await s.api.enter(id, "t4")).body.status).toBe("issued");
    // sold out: counted by the same process after the turns, so once it shows, the turns' counts were added too
    expect((await s.api.enter(id, "t5")).body.error).toBe("sold_out");
    await waitFor("the sold-out refusal counted", async () => (await funnel(id)).turnedAway.sold_out === 1, 10_000, 100);
    expect(await funnel(id)).toMatchObject({ joined: 4, admitted: 0, issued: 4, slotsLapsed: 0, droppedSilent: 0, left: 0 });
    // in /metrics the turns are their own source of the admissions counter
    expect(await metric("coupon_event_admissions_total", { event_id: id, source: "on_turn" })).toBe(4);
    expect(await metric("coupon_event_admissions_total", { event_id: id, source: "scheduler" })).toBeUndefined();
  });
});

describe("the history", () => {
  test("sampled by the server every step: the same for every reader, issued and waiting follow the event", async () => {
    const id = (await s.api.createEvent({ name: "charted", stock: 50, trafficRpm: 0, runningCapacity: 2, admitPerSecond: 2 })).body.id;
    await pool(Array.from({ length: 6 }, (_, i) => `h${i}`), 6, (u) => s.api.enter(id, u));
    await waitFor("a sample with 6 waiting", async () => {
      const r = await s.api.call("GET", `/admin/events/${id}/history?seconds=60`, admin);
      return r.body.samples.some((x: any) => x.waiting + x.running >= 6);
    }, 20_000);
    const a = await s.api.call("GET", `/admin/events/${id}/history?seconds=60`, admin);
    expect(a.status).toBe(200);
    expect(a.body.step).toBe(1);
    for (const x of a.body.samples) expect(Object.keys(x).sort()).toEqual(["admitRate", "issued", "requestRate", "running", "t", "waiting"]);
    const times = a.body.samples.map((x: any) => Date.parse(x.t));
    expect(times).toEqual([...times].sort((p, q) => p - q));
    expect(new Set(times).size).toBe(times.length);
    // a second reader (another tab, another operator) reads the same samples
    const b = await s.api.call("GET", `/admin/events/${id}/history?seconds=60`, admin);
    expect(b.body.samples.slice(0, a.body.samples.length)).toEqual(a.body.samples);
    // a long span is thinned to at most 720 points with a step that is a multiple of the sampling step
    const day = await s.api.call("GET", `/admin/events/${id}/history?seconds=86400`, admin);
    expect(day.body.step).toBe(120);
    expect(day.body.samples.length).toBeLessThanOrEqual(720);
  });

  test("bad requests: 400 for seconds out of range or not digits, 404 for no event, 401 without a token", async () => {
    const id = (await s.api.createEvent({ name: "hist-bad", stock: 5, trafficRpm: 100, runningCapacity: 1 })).body.id;
    for (const q of ["seconds=0", "seconds=86401", "seconds=-5", "seconds=1e3", "seconds=abc", "seconds=", "other=1"]) {
      const r = await s.api.call("GET", `/admin/events/${id}/history?${q}`, admin);
      expect([q, r.status, r.body.error]).toEqual([q, 400, "bad_request"]);
    }
    expect((await s.api.call("GET", `/admin/events/1999999998/history`, admin)).status).toBe(404);
    expect((await s.api.call("GET", `/admin/events/${id}/history`)).status).toBe(401);
    expect((await s.api.call("GET", `/admin/events/${id}/history`, { token: token("user") })).status).toBe(401);
  });
});

describe("operator metrics", () => {
  test("admin actions are counted by action; a failed reconciliation is exported per event", async () => {
    const before = (await metric("coupon_admin_actions_total", { action: "pause" })) ?? 0;
    const id = (await s.api.createEvent({ name: "acted", stock: 5, trafficRpm: 100, runningCapacity: 1 })).body.id;
    expect((await s.api.call("POST", `/admin/events/${id}/pause`, admin)).status).toBe(200);
    expect(await metric("coupon_admin_actions_total", { action: "pause" })).toBe(before + 1);
    expect(await metric("coupon_event_reconcile_failed", { event_id: id })).toBeUndefined();
    s.events!.reconcileFailures.set(id, "test: MySQL said no");
    expect(await metric("coupon_event_reconcile_failed", { event_id: id })).toBe(1);
    s.events!.reconcileFailures.delete(id);
  });
});

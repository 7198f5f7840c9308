// One build, four servers: every role as its own process on loopback, clients talking to the router only.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { drawOrder } from "../queue/draw";
import { ADMIN_TOKEN, checkInvariants, client, dropKeys, INTERNAL_TOKEN, mysqlConn, pool, readMetrics, spawnServer, TEST_REDIS, token, waitFor, type Proc } from "../../scripts/testkit";

// real servers and processes: generous time (no test asserts a duration)
setDefaultTimeout(120_000);

const prefix = `split${Date.now().toString(36)}`;
const db = mysqlConn();
// ISSUE_BACKLOG_MAX_AGE_MS 0: the drain test rushes 3,000 promises with every issuer stopped, which on a loaded
// machine takes longer than the default bound (after which the coupon role refuses with 503, as it should)
const env = { REDIS_KEY_PREFIX: prefix, UPSTREAM_TIMEOUT_MS: "2000", ISSUER_CLAIM_IDLE_MS: "3000", ISSUE_BACKLOG_MAX_AGE_MS: "0" };
let queue: Proc, coupon: Proc, router: Proc;
let issuers: Proc[] = [];
const procs = () => [queue, coupon, router, ...issuers];

const routerEnv = () => ({ ...env, ROLE: "router", QUEUE_URL: queue.url, COUPON_URL: coupon.url });

beforeAll(async () => {
  [queue, coupon] = await Promise.all([spawnServer({ ...env, ROLE: "queue" }), spawnServer({ ...env, ROLE: "coupon" })]);
  issuers = await Promise.all([1, 2].map((i) => spawnServer({ ...env, ROLE: "issuer", ISSUER_CONSUMER: `issuer-${i}` })));
  router = await spawnServer(routerEnv());
});

afterAll(async () => {
  await Promise.all(procs().map((p) => p?.kill("SIGKILL")));
  await dropKeys(TEST_REDIS, prefix);
  await db.end();
});

/** enter → poll (at the server's pace) → issue, all through the router. */
async function rushUser(api: ReturnType<typeof client>, id: number, user: string) {
  let r = await api.enter(id, user);
  while (r.body?.status === "waiting") {
    await Bun.sleep(Math.min(r.body.pollAfterMs, 300));
    r = await api.poll(id, user);
  }
  if (r.body?.status !== "admitted") return { user, status: r.status, via: r.body?.status ?? r.body?.error };
  const i = await api.issue(id, user);
  return { user, status: i.status, via: i.body?.status ?? i.body?.error };
}

describe("split deployment: router, queue, coupon and two issuers as separate processes", () => {
  test("a rush through the router keeps every invariant, and /metrics agrees with the stats", async () => {
    const api = client(router.url);
    const ev = await api.createEvent({ name: "split rush", stock: 300, trafficRpm: 600, runningCapacity: 60, admitPerSecond: 200 });
    expect(ev.status).toBe(201);
    const id = ev.body.id as number;
    const users = Array.from({ length: 1500 }, (_, i) => `split-${id}-${i}`);
    const results = await pool(users, 300, (u) => rushUser(api, id, u));
    const winners = results.filter((r) => r.status === 201).map((r) => r.user);
    const by: Record<string, number> = {};
    for (const r of results) by[`${r.status} ${r.via}`] = (by[`${r.status} ${r.via}`] ?? 0) + 1;
    console.log("split rush outcomes:", by);
    expect(winners.length).toBe(300);
    expect(results.every((r) => r.status < 500)).toBe(true);

    let st: any;
    const end = Date.now() + 30_000;
    do {
      await Bun.sleep(100);
      st = (await api.stats(id)).body;
    } while ((st.pending > 0 || st.persisted < 300) && Date.now() < end);
    expect(st).toMatchObject({ issued: 300, persisted: 300, pending: 0, dead: 0, remaining: 0, status: "sold_out" });
    const inv = await checkInvariants(db, id, 300, winners);
    expect(inv).toEqual({ rows: 300, duplicates: 0, overIssue: 0, lost: [], phantom: [] });

    // bodies go through byte for byte, and bad ones get the same answer as from the owner
    expect((await api.patch(id, { trafficRpm: 601 })).body.trafficRpm).toBe(601);
    const bad = await api.call("POST", "/admin/events", { token: ADMIN_TOKEN, raw: '{"name":', headers: { "content-type": "application/json" } });
    expect(bad).toMatchObject({ status: 400, body: { error: "invalid_json" } });
    const huge = await api.call("POST", "/admin/events", { token: ADMIN_TOKEN, body: { name: "x".repeat(40_000) } });
    expect(huge).toMatchObject({ status: 413, body: { error: "payload_too_large" } });

    // the user's token and the owner's status/body come back untouched
    const c = await api.coupon(id, winners[0]!);
    expect(c).toEqual({ status: 200, body: { issued: true, persisted: true, code: expect.stringMatching(/^[0-9A-Z]{5}(-[0-9A-Z]{5}){3}$/), redeemedAt: null } });
    expect((await api.call("GET", `/api/events/${id}/coupon`, { token: "garbage" })).status).toBe(401);

    const cm = await readMetrics(coupon.url);
    expect(cm.get(`coupon_issue_outcomes_total{event_id="${id}",outcome="issued"}`)).toBe(300);
    expect(cm.get(`coupon_event_issued{event_id="${id}"}`)).toBe(st.issued);
    expect(cm.get(`coupon_event_persisted{event_id="${id}"}`)).toBe(st.persisted);
    // every per-event series comes from one process only, so sum by (event_id) over all of them counts it once
    const all = await Promise.all(procs().map(async (p) => [...(await readMetrics(p.url)).keys()]));
    const owners = new Map<string, number>();
    for (const keys of all) for (const k of keys) if (k.includes(`event_id="${id}"`)) owners.set(k, (owners.get(k) ?? 0) + 1);
    expect(owners.size).toBeGreaterThan(20);
    expect([...owners].filter(([, n]) => n > 1)).toEqual([]);
    const series = (p: Proc, name: string) => all[procs().indexOf(p)]!.some((k) => k.startsWith(`${name}{event_id="${id}"`));
    expect(series(coupon, "coupon_event_stock") && series(queue, "coupon_event_admissions_total") && series(router, "coupon_door_outcomes_total")).toBe(true);
    const persistedByIssuers = (await Promise.all(issuers.map(async (p) => (await readMetrics(p.url)).get("coupon_issuer_persisted_total") ?? 0))).reduce((a, b) => a + b, 0);
    expect(persistedByIssuers).toBeGreaterThanOrEqual(300);
    const rm = await readMetrics(router.url);
    expect(rm.get('coupon_http_requests_total{method="POST",route="/api/events/:id/enter",status="200"}')! + (rm.get('coupon_http_requests_total{method="POST",route="/api/events/:id/enter",status="202"}') ?? 0)).toBeGreaterThan(0);
  });

  test("waiting tickets work across the split: the router answers polls, the coupon process takes the ticket on issue", async () => {
    const api = client(router.url);
    const id = (await api.createEvent({ name: "split tickets", stock: 5, trafficRpm: 0, runningCapacity: 5, admitPerSecond: 5 })).body.id as number;
    const e = await api.enter(id, "st1");
    expect(e.status).toBe(202);
    const ticket = e.body.ticket as string;
    let p = await api.call("GET", `/api/events/${id}/queue`, { token: ticket });
    for (const end = Date.now() + 10_000; p.body.status === "waiting" && Date.now() < end; ) {
      await Bun.sleep(200);
      p = await api.call("GET", `/api/events/${id}/queue`, { token: ticket });
    }
    expect(p.body.status).toBe("admitted");
    const other = (await api.createEvent({ name: "split tickets 2", stock: 5, trafficRpm: 0, runningCapacity: 5 })).body.id as number;
    expect((await api.call("POST", `/api/events/${other}/issue`, { token: ticket })).status).toBe(403);
    const issued = await api.call("POST", `/api/events/${id}/issue`, { token: ticket });
    expect(issued).toMatchObject({ status: 201, body: { status: "issued", userId: "st1" } });
  });

  test("on_turn through the router: `persisted` in its issued replies is the coupon process's answer (the router has no MySQL)", async () => {
    const api = client(router.url);
    const id = (await api.createEvent({ name: "split on turn", stock: 5, trafficRpm: 0, runningCapacity: 1, admitPerSecond: 5, claim: "on_turn" })).body.id as number;
    // issued by the queue process on the user's turn (at enter, or at its next tick)
    let r = await api.enter(id, "ot1");
    for (const end = Date.now() + 10_000; r.body.status === "waiting" && Date.now() < end; await Bun.sleep(200)) r = await api.poll(id, "ot1");
    expect(r.body).toMatchObject({ status: "issued", code: expect.any(String) });
    const code = r.body.code as string;
    await waitFor("the issuers to persist the row", async () => {
      const [[row]] = (await db.query("SELECT COUNT(*) AS n FROM coupon_issues WHERE event_id = ? AND user_id = ?", [id, "ot1"])) as any;
      return Number(row.n) === 1;
    }, 30_000, 200);
    expect((await api.poll(id, "ot1")).body).toMatchObject({ status: "issued", code, persisted: true });
    expect((await api.enter(id, "ot1")).body).toMatchObject({ status: "issued", code, persisted: true });
    // and so does the coupon process itself
    expect((await api.coupon(id, "ot1")).body).toMatchObject({ issued: true, persisted: true, code });
    // asked on every reply, not remembered: with the row gone from MySQL the router says false
    await db.query("DELETE FROM coupon_issues WHERE event_id = ? AND user_id = ?", [id, "ot1"]);
    expect((await api.poll(id, "ot1")).body).toMatchObject({ status: "issued", code, persisted: false });
    // the question is service-to-service: the internal token only, and never through the router
    const ask = (base: string, tok?: string) => client(base).call("POST", `/internal/events/${id}/persisted`, { token: tok, body: { userId: "ot1" } });
    expect((await ask(coupon.url)).status).toBe(401);
    expect((await ask(coupon.url, ADMIN_TOKEN)).status).toBe(401);
    expect((await ask(coupon.url, INTERNAL_TOKEN)).body).toEqual({ persisted: false });
    expect((await ask(router.url, INTERNAL_TOKEN)).status).toBe(404);
  });

  test("a pre-queue through the router: the queue process (MySQL only for the seed) draws at the start", async () => {
    const api = client(router.url);
    const iso = (ms: number) => new Date(ms).toISOString();
    const startsAt = Date.now() + 4000;
    const id = (await api.createEvent({ name: "split pre-queue", stock: 100, trafficRpm: 0, runningCapacity: 10, queueOpensAt: iso(Date.now() - 1000), startsAt: iso(startsAt) })).body.id as number;
    // paused: drawn at the start all the same, and nobody let in while the places are looked at
    expect((await api.call("POST", `/admin/events/${id}/pause`, { token: ADMIN_TOKEN })).status).toBe(200);
    const users = Array.from({ length: 40 }, (_, i) => `split-pq-${id}-${i}`);
    const entered = await pool(users, 8, (u) => api.enter(id, u));
    expect(entered.map((r) => `${r.status} ${r.body.status}`)).toEqual(users.map(() => "202 pre_queue"));
    let draw: any = null;
    for (const end = Date.now() + 30_000; !(typeof draw?.size === "number") && Date.now() < end; await Bun.sleep(200)) draw = (await api.stats(id)).body.draw;
    expect(draw).toMatchObject({ size: users.length });
    const [[row]] = (await db.query("SELECT draw_seed FROM coupon_events WHERE id = ?", [id])) as any;
    expect(row.draw_seed).toBe(draw.seed);
    const order = drawOrder(draw.seed, users);
    // each one's old ticket now answers with the drawn place (exact polls, then the router's own view)
    for (const u of [order[0]!, order[17]!, order[39]!]) {
      let p = await api.call("GET", `/api/events/${id}/queue`, { token: entered[users.indexOf(u)]!.body.ticket });
      for (const end = Date.now() + 5000; p.body.status === "pre_queue" && Date.now() < end; await Bun.sleep(100)) p = await api.poll(id, u);
      expect(p.body).toMatchObject({ status: "waiting", position: order.indexOf(u) + 1 });
    }
  });

  test("an upstream that is down gets a prompt 503 upstream_unavailable, and service resumes when it is back", async () => {
    const api = client(router.url);
    const id = (await api.createEvent({ name: "outage", stock: 10, trafficRpm: 1_000_000, runningCapacity: 100 })).body.id as number;
    expect((await api.enter(id, "o1")).status).toBe(200);

    const port = coupon.port;
    await coupon.kill("SIGKILL");
    const t0 = performance.now();
    const down = await api.issue(id, "o1");
    expect(down.status).toBe(503);
    expect(down.body.error).toBe("upstream_unavailable");
    // the public event info is the router's own (its view of the event), so it still answers
    expect((await api.call("GET", `/api/events/${id}`)).status).toBe(200);
    expect((await api.call("GET", `/api/events/${id}/coupon`, { token: token("o1") })).status).toBe(503);
    console.log(`503 while coupon is down after ${(performance.now() - t0).toFixed(0)} ms`);

    coupon = await spawnServer({ ...env, ROLE: "coupon", PORT: String(port) });
    const up = await api.issue(id, "o1");
    expect(up.status).toBe(201);

    const qport = queue.port;
    await queue.kill("SIGKILL");
    const qdown = await api.enter(id, "o2");
    expect(qdown.status).toBe(503);
    expect(qdown.body.error).toBe("upstream_unavailable");
    expect((await api.poll(id, "o2")).body.error).toBe("upstream_unavailable");
    queue = await spawnServer({ ...env, ROLE: "queue", PORT: String(qport) });
    expect((await api.enter(id, "o2")).status).toBe(200);
  });

  test("an upstream that accepts but never answers is cut off by the timeout, not waited on", async () => {
    const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const r2 = await spawnServer({ ...routerEnv(), COUPON_URL: `http://127.0.0.1:${silent.port}`, UPSTREAM_TIMEOUT_MS: "500" });
    try {
      const res = await client(r2.url).call("GET", "/api/events/1/coupon", { token: token("u") });
      expect(res.status).toBe(503);
      expect(res.body.error).toBe("upstream_unavailable");
    } finally {
      await r2.kill("SIGKILL");
      silent.stop(true);
    }
  });

  test("SIGTERM to an issuer mid-drain: it acks its batch and exits 0; nothing lost or duplicated", async () => {
    await Promise.all(issuers.map((p) => p.kill("SIGTERM")));
    const api = client(router.url);
    const id = (await api.createEvent({ name: "drain", stock: 3000, trafficRpm: 1_000_000_000, runningCapacity: 1_000_000 })).body.id as number;
    const users = Array.from({ length: 3000 }, (_, i) => `drain-${id}-${i}`);
    // on a loaded machine a few replies outlive UPSTREAM_TIMEOUT_MS: 504 outcome_unknown, and the client asks again
    // (both are safe to repeat); an issue whose first answer was 504 and whose retry says already_issued was a win
    const again = async (f: () => Promise<{ status: number; body: any }>) => {
      let r = await f();
      for (let i = 0; r.status === 504 && i < 10; i++) r = await f();
      return r;
    };
    const replies = await pool(users, 300, async (u) => {
      await again(() => api.enter(id, u));
      const first = await api.issue(id, u);
      const r = first.status === 504 ? await again(() => api.issue(id, u)) : first;
      return { u, won: r.status === 201 || (first.status === 504 && r.status === 409 && r.body.error === "already_issued") };
    });
    const winners = replies.filter((x) => x.won).map((x) => x.u);
    expect(winners.length).toBe(3000);
    expect((await api.stats(id)).body.pending).toBe(3000);

    const slow = await spawnServer({ ...env, ROLE: "issuer", ISSUER_BATCH_SIZE: "20", ISSUER_CONSUMER: "slow" });
    let st: any;
    do st = (await api.stats(id)).body;
    while (st.persisted === 0);
    const code = await slow.kill("SIGTERM");
    expect(code).toBe(0);
    expect(slow.log()).toContain("draining");
    const after = (await api.stats(id)).body;
    console.log(`issuer stopped by SIGTERM after persisting ${after.persisted} of 3000; pending ${after.pending}`);
    expect(after.persisted).toBeLessThan(3000);
    expect(after.persisted + after.pending).toBe(3000);

    issuers = [await spawnServer({ ...env, ROLE: "issuer", ISSUER_CONSUMER: "finisher" })];
    const end = Date.now() + 30_000;
    do {
      await Bun.sleep(100);
      st = (await api.stats(id)).body;
    } while (st.pending > 0 && Date.now() < end);
    expect(st).toMatchObject({ issued: 3000, persisted: 3000, pending: 0 });
    const inv = await checkInvariants(db, id, 3000, winners);
    expect(inv).toEqual({ rows: 3000, duplicates: 0, overIssue: 0, lost: [], phantom: [] });
  });

  test("SIGTERM to an all-in-one server mid-rush: in-flight requests finish, its issuer drains, exit 0", async () => {
    const aio = await spawnServer({ ...env, ROLE: "all", ISSUER_BATCH_SIZE: "50" });
    const api = client(aio.url);
    const id = (await api.createEvent({ name: "sigterm", stock: 2000, trafficRpm: 1_000_000_000, runningCapacity: 1_000_000 })).body.id as number;
    const users = Array.from({ length: 2000 }, (_, i) => `term-${id}-${i}`);
    let sent = 0;
    const rush = pool(users, 100, async (u) => {
      sent++;
      try {
        const e = await api.enter(id, u);
        if (e.status !== 200) return { u, status: e.status };
        return { u, status: (await api.issue(id, u)).status };
      } catch {
        return { u, status: 0 }; // refused: the server had stopped accepting
      }
    });
    while (sent < 600) await Bun.sleep(5);
    const code = await aio.kill("SIGTERM");
    const results = await rush;
    expect(code).toBe(0);
    expect(results.every((r) => r.status < 500)).toBe(true);
    const winners = results.filter((r) => r.status === 201).map((r) => r.u);
    const atExit = await checkInvariants(db, id, 2000, winners);
    // whatever the stopped issuer had not reached is still owed in the stream: the next issuer pays it
    const next = await spawnServer({ ...env, ROLE: "issuer", ISSUER_CONSUMER: "after-sigterm" });
    issuers.push(next);
    let inv = atExit;
    for (let i = 0; i < 200 && inv.lost.length; i++) {
      await Bun.sleep(100);
      inv = await checkInvariants(db, id, 2000, winners);
    }
    console.log(`SIGTERM mid-rush: ${winners.length} issued before the stop, ${results.filter((r) => r.status === 0).length} refused after; rows at exit ${atExit.rows}, finally ${inv.rows}, lost ${inv.lost.length}`);
    expect(winners.length).toBeGreaterThan(0);
    expect(inv).toEqual({ rows: winners.length, duplicates: 0, overIssue: 0, lost: [], phantom: [] });
  });
});

// The pre-queue and its draw: uniformly random places at the start, ahead of every later arrival,
// drawn exactly once whatever the number of schedulers, recomputable from the published seed.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { eventKeys } from "../../src/redis";
import { mysqlConn, NO_USER_LIMITS, pool, startServer, stopServer, waitFor, type Reply, type Started } from "../../scripts/testkit";
import { drawOrder, drawRanks, mysqlSeedRecord, PreQueueDraw } from "./draw";

// real servers and processes: generous time (no test asserts a duration)
setDefaultTimeout(120_000);

const db = mysqlConn();
afterAll(() => db.end());

const iso = (ms: number) => new Date(ms).toISOString();
const seqOf = (ticket: string) => JSON.parse(Buffer.from(ticket.split(".")[1]!, "base64url").toString()).seq as number;
const ticketCall = (s: Started, method: string, id: number, ticket: string) => s.api.call(method, `/api/events/${id}/${method === "POST" ? "issue" : "queue"}`, { token: ticket });

/** An event whose pre-queue is open now and which starts `leadMs` from now. */
async function preQueueEvent(s: Started, leadMs: number, extra: Record<string, unknown> = {}) {
  const startsAt = Date.now() + leadMs;
  const r = await s.api.createEvent({ name: "pre-queue", stock: 100_000, trafficRpm: 0, runningCapacity: 10, admitPerSecond: 10, queueOpensAt: iso(Date.now() - 1000), startsAt: iso(startsAt), ...extra });
  expect(r.status).toBe(201);
  return { id: r.body.id as number, startsAt };
}

async function line(s: Started, id: number): Promise<{ user: string; seq: number }[]> {
  const flat = await s.redis.zrange(eventKeys(s.prefix, id).waiting, "0", "-1", "WITHSCORES");
  const out: { user: string; seq: number }[] = [];
  for (let i = 0; i < flat.length; i += 2) out.push({ user: flat[i]!, seq: Number(flat[i + 1]) });
  return out;
}

/** Spearman's rank correlation of two rankings of the same n items (no ties). */
function spearman(a: number[], b: number[]) {
  const n = a.length;
  let d2 = 0;
  for (let i = 0; i < n; i++) d2 += (a[i]! - b[i]!) ** 2;
  return 1 - (6 * d2) / (n * (n * n - 1));
}

const liveWord = (s: Started, id: number, seq: number) => s.redis.bitfield(eventKeys(s.prefix, id).waitLive, "GET", "u32", `#${seq}`).then((r) => Number((r as number[])[0]));

describe("the pre-queue draw (scheduler off: the test draws)", () => {
  let s: Started;
  beforeAll(async () => {
    s = await startServer({ QUEUE_SCHEDULER: "off", ISSUER: "off", ...NO_USER_LIMITS });
  });
  afterAll(() => stopServer(s));

  test("1,200 pre-queued users get uniformly random places (Spearman), ahead of everyone who came later, even during the draw; the order is recomputable from the published seed", async () => {
    const N = 1200;
    const { id, startsAt } = await preQueueEvent(s, 12_000);
    // ids sort in arrival order, so an order by user id would be as visible as an order by arrival
    const users = Array.from({ length: N }, (_, i) => `pq-${id}-${String(i).padStart(5, "0")}`);
    const entered = await pool(users, 16, (u) => s.api.enter(id, u));
    const pre = users.filter((_, i) => entered[i]!.status === 202 && entered[i]!.body.status === "pre_queue");
    // a slow machine may not have pre-queued all of them before the start: the test needs most of them
    expect(pre.length).toBeGreaterThanOrEqual(1000);
    // (a copy: bun's toMatchObject with expect.any() overwrites the matched fields of what it looked at)
    const body = { ...entered[0]!.body };
    expect(body).toMatchObject({ status: "pre_queue", startsAt: iso(startsAt), remaining: 100_000, graceSeconds: 120, ticket: expect.any(String) });
    expect(body.pollAfterMs).toBeGreaterThan(0);
    const arrival = new Map(pre.map((u) => [u, seqOf(entered[users.indexOf(u)]!.body.ticket)]));

    // entering again is the same place; a poll (token or ticket) says pre_queue; nothing drawn yet
    const again = await s.api.enter(id, pre[7]!);
    expect(again.body.status).toBe("pre_queue");
    expect(seqOf(again.body.ticket)).toBe(arrival.get(pre[7]!)!);
    expect((await s.api.poll(id, pre[8]!)).body).toMatchObject({ status: "pre_queue", preQueued: expect.any(Number) });
    expect((await ticketCall(s, "GET", id, entered[users.indexOf(pre[9]!)]!.body.ticket)).body.status).toBe("pre_queue");
    expect((await s.api.stats(id)).body.draw).toBeNull();
    expect((await s.queue.tick(id)).admitted).toBe(0);
    // two leave the pre-queue: they get no place
    const leavers = [pre[3]!, pre[500]!];
    for (const u of leavers) expect((await s.api.leave(id, u)).status).toBe(204);
    const placed = pre.filter((u) => !leavers.includes(u));

    await waitFor("the start", async () => Date.now() >= startsAt + 50, 30_000, 50);
    // later arrivals before the draw: they close the pre-queue, wait behind it and are not admitted
    const late1 = Array.from({ length: 30 }, (_, i) => `late1-${id}-${i}`);
    const l1 = [] as Reply[];
    for (const u of late1) l1.push(await s.api.enter(id, u));
    expect(l1.every((r) => r.status === 202 && r.body.status === "waiting")).toBe(true);
    expect(l1[0]!.body.position).toBe(N - leavers.length + 1);
    // a pre-queued user is told the places are being drawn; the scheduler admits nobody yet and says the draw is due
    expect((await s.api.poll(id, placed[0]!)).body).toMatchObject({ status: "pre_queue" });
    const tick = await s.queue.tick(id);
    expect(tick).toMatchObject({ admitted: 0, drawDue: true });

    // the draw, with more later arrivals knocking while it runs
    const draw = new PreQueueDraw(s.redis, s.prefix, mysqlSeedRecord(s.mysql!), { leaseMs: 10_000, readChunk: 250, moveChunk: 100 });
    const late2 = Array.from({ length: 60 }, (_, i) => `late2-${id}-${i}`);
    const drawStarted = Date.now() % 2 ** 32;
    const [outcome, l2] = await Promise.all([draw.run(id), pool(late2, 4, (u) => s.api.enter(id, u))]);
    expect(outcome).toMatchObject({ status: "drawn", size: placed.length });
    expect(l2.every((r) => r.status === 202 && r.body.status === "waiting")).toBe(true);
    expect(await draw.run(id)).toEqual({ status: "already_drawn" });

    // the published seed: in the admin API, the same as MySQL's record
    const st = (await s.api.stats(id)).body;
    expect(st.draw.seed).toMatch(/^[0-9a-f]{64}$/);
    expect(st.draw).toMatchObject({ size: placed.length, durationMs: outcome.status === "drawn" ? outcome.ms.total : -1 });
    const [[row]] = (await db.query("SELECT draw_seed, drawn_at FROM coupon_events WHERE id = ?", [id])) as any;
    expect(row.draw_seed).toBe(st.draw.seed);
    expect(Date.parse(st.draw.drawnAt)).toBeGreaterThanOrEqual(startsAt);

    // the line: exactly the pre-queued users first, in the order anyone can recompute from the
    // seed and their ids, then the later arrivals in their order of arrival
    const after = await line(s, id);
    const drawn = after.slice(0, placed.length).map((x) => x.user);
    expect(drawn).toEqual(drawOrder(st.draw.seed, placed));
    // and the README's standalone audit script says the same, from the ids in any order
    const audit = Bun.spawnSync(["bun", join(import.meta.dir, "..", "..", "scripts", "draw-order.ts"), st.draw.seed], { stdin: Buffer.from([...placed].reverse().join("\n")) });
    expect(audit.stdout.toString().trim().split("\n")).toEqual(drawn);
    const rest = after.slice(placed.length).map((x) => x.user);
    expect(new Set(rest)).toEqual(new Set([...late1, ...late2, ...users.filter((u) => !pre.includes(u))]));
    expect(rest.filter((u) => late1.includes(u))).toEqual(late1);
    // the places are dense and end right before the first later arrival
    expect(after.slice(0, placed.length).every((x, i) => i === 0 || x.seq === after[i - 1]!.seq + 1)).toBe(true);
    expect(after[placed.length]!.seq).toBe(after[placed.length - 1]!.seq + 1);
    // every drawn place has a sign of life from the draw: nobody is dropped for silence before it, the grace counts from it
    for (const { seq } of after.slice(0, placed.length)) expect(await liveWord(s, id, seq)).toBeGreaterThanOrEqual(drawStarted);

    // uniform: the place says nothing about the arrival. Under a uniform draw Spearman's rho has
    // mean 0 and standard deviation 1/sqrt(n-1); |rho| < 4/sqrt(n-1) fails a fair draw with
    // probability ~6e-5, and any order by arrival (or by id) with rho ~ ±1
    const byArrival = [...placed].sort((a, b) => arrival.get(a)! - arrival.get(b)!);
    const arrivalRank = new Map(byArrival.map((u, i) => [u, i]));
    const rho = spearman(drawn.map((u) => arrivalRank.get(u)!), drawn.map((_, i) => i));
    const bound = 4 / Math.sqrt(placed.length - 1);
    console.log(`draw of ${placed.length} pre-queued users: Spearman rho(arrival, place) = ${rho.toFixed(4)} (bound ±${bound.toFixed(4)})`);
    expect(Math.abs(rho)).toBeLessThan(bound);

    // a pre-queued user's next poll (old ticket) has the drawn place and a ticket for it
    const u = drawn[41]!;
    const oldTicket = entered[users.indexOf(u)]!.body.ticket;
    // (this process's view may still think the places are being drawn for up to three flushes)
    await waitFor("the view to see the draw", async () => (await ticketCall(s, "GET", id, oldTicket)).body.status !== "pre_queue", 5000, 50);
    const p = await ticketCall(s, "GET", id, oldTicket);
    expect(p.body).toMatchObject({ status: "waiting", position: 42, running: 0, graceSeconds: 120 });
    expect(seqOf(p.body.ticket)).toBe(after[41]!.seq);
    // the leavers are out; admission starts at the head of the drawn line
    expect((await s.api.poll(id, leavers[0]!)).body.error).toBe("not_in_queue");
    expect((await s.queue.tick(id)).admitted).toBe(10);
    for (const w of drawn.slice(0, 10)) expect((await s.api.poll(id, w)).body.status).toBe("admitted");
    expect((await s.api.poll(id, drawn[10]!)).body).toMatchObject({ status: "waiting", position: 1 });
  });

  test("a drawer that stops half-way is taken over after its lease: the same seed (written once), the same order, leavers in between left out", async () => {
    const N = 400;
    const { id, startsAt } = await preQueueEvent(s, 6000);
    const users = Array.from({ length: N }, (_, i) => `tk-${id}-${i}`);
    const entered = await pool(users, 16, (u) => s.api.enter(id, u));
    const pre = users.filter((_, i) => entered[i]!.body.status === "pre_queue");
    expect(pre.length).toBeGreaterThan(300);
    await waitFor("the start", async () => Date.now() >= startsAt + 50, 30_000, 50);

    const record = mysqlSeedRecord(s.mysql!);
    const first = new PreQueueDraw(s.redis, s.prefix, record, { leaseMs: 400, readChunk: 1000, moveChunk: 50 });
    const second = new PreQueueDraw(s.redis, s.prefix, record, { leaseMs: 10_000, readChunk: 1000, moveChunk: 50 });
    const claimed = await first.claim(id);
    if ("status" in claimed) throw new Error(`not claimed: ${claimed.status}`);
    const read = await first.read(id, claimed.preEnd);
    const ranks = drawRanks(claimed.seed, read.users);
    const order = ranks.map((i) => read.users[i]!);
    expect(order).toEqual(drawOrder(claimed.seed, pre));
    const drawStarted = Date.now() % 2 ** 32;
    // the first drawer moves the last 150 places, then goes silent
    expect(await first.place(id, claimed.preEnd, read, ranks, 150)).toBe(true);
    expect(await second.run(id)).toEqual({ status: "busy" });
    // meanwhile three pre-queued users leave: one already moved, two not yet
    const gone = [order[order.length - 1]!, order[0]!, order[100]!];
    for (const u of gone) expect((await s.api.leave(id, u)).status).toBe(204);
    await Bun.sleep(500);

    // after the lease the second drawer takes over, with MySQL's seed, not a new one
    const taken = await second.run(id);
    expect(taken).toMatchObject({ status: "drawn", size: pre.length - gone.length, seed: claimed.seed });
    // the first one's late moves and finish are refused: the claim is not theirs any more
    expect(await first.place(id, claimed.preEnd, read, ranks)).toBe(false);
    expect(await first.finish(id, claimed, order.length, 0)).toBe(false);
    // a third candidate seed changes nothing: the record is written once
    expect((await record(id, "f".repeat(64), new Date())).seed).toBe(claimed.seed);

    const left = pre.filter((u) => !gone.includes(u));
    const after = await line(s, id);
    expect(after.map((x) => x.user)).toEqual(drawOrder(claimed.seed, left));
    expect(after.every((x, i) => i === 0 || x.seq === after[i - 1]!.seq + 1)).toBe(true);
    expect(after.at(-1)!.seq).toBe(2 * claimed.preEnd);
    for (const { seq } of after) expect(await liveWord(s, id, seq)).toBeGreaterThanOrEqual(drawStarted);
    expect((await s.api.stats(id)).body.draw).toMatchObject({ seed: claimed.seed, size: left.length });
  });

  test("an empty pre-queue is drawn at the start: the first user in is admitted at once, and the draw still records its seed", async () => {
    const { id, startsAt } = await preQueueEvent(s, 1500, { trafficRpm: 1_000_000 });
    await waitFor("the start", async () => Date.now() >= startsAt + 50, 30_000, 50);
    expect((await s.api.enter(id, `first-${id}`)).status).toBe(200);
    const draw = new PreQueueDraw(s.redis, s.prefix, mysqlSeedRecord(s.mysql!));
    expect(await draw.run(id)).toMatchObject({ status: "drawn", size: 0 });
    expect((await s.api.stats(id)).body.draw).toMatchObject({ size: 0, seed: expect.stringMatching(/^[0-9a-f]{64}$/) });
  });

  test("Redis loses a drawn event: rebuilt from MySQL, it is never drawn again with another seed", async () => {
    const { id, startsAt } = await preQueueEvent(s, 2000, { trafficRpm: 1_000_000 });
    for (let i = 0; i < 20; i++) expect((await s.api.enter(id, `lost-${id}-${i}`)).body.status).toBe("pre_queue");
    await waitFor("the start", async () => Date.now() >= startsAt + 50, 30_000, 50);
    const draw = new PreQueueDraw(s.redis, s.prefix, mysqlSeedRecord(s.mysql!));
    const first = await draw.run(id);
    if (first.status !== "drawn") throw new Error(`not drawn: ${first.status}`);

    // every key of the event gone (a Redis that came back empty), then rebuilt from MySQL
    const keys = await s.redis.keys(`${s.prefix}:{${id}}:*`);
    expect(keys.length).toBeGreaterThan(3);
    await s.redis.del(...keys);
    expect(await s.events!.reconcile(id)).toBeTruthy();
    // the line went with Redis; the next user is let in as on any open event, and the draw runs again with MySQL's seed
    expect((await s.api.enter(id, `after-${id}`)).status).toBe(200);
    expect(await draw.run(id)).toMatchObject({ status: "drawn", size: 0, seed: first.seed });
    expect(await s.redis.hget(eventKeys(s.prefix, id).meta, "drawSeed")).toBe(first.seed);
    expect((await s.api.stats(id)).body.draw).toMatchObject({ seed: first.seed, size: 0 });
    const [[row]] = (await db.query("SELECT draw_seed FROM coupon_events WHERE id = ?", [id])) as any;
    expect(row.draw_seed).toBe(first.seed);
  });

  test("before queueOpensAt enter is not_open; a cancelled event's pre-queue is never drawn", async () => {
    const soon = Date.now() + 60_000;
    const id = (await s.api.createEvent({ name: "later", stock: 5, trafficRpm: 0, runningCapacity: 1, queueOpensAt: iso(soon), startsAt: iso(soon + 60_000) })).body.id as number;
    const early = await s.api.enter(id, "early-bird");
    expect(early).toMatchObject({ status: 409, body: { error: "not_open" } });
    const { id: c, startsAt } = await preQueueEvent(s, 1500);
    expect((await s.api.enter(c, "c1")).body.status).toBe("pre_queue");
    expect((await s.api.call("DELETE", `/admin/events/${c}`, { token: "test-admin-token" })).status).toBe(200);
    await waitFor("the start", async () => Date.now() >= startsAt + 50, 30_000, 50);
    expect(await new PreQueueDraw(s.redis, s.prefix, mysqlSeedRecord(s.mysql!)).run(c)).toEqual({ status: "ended" });
    expect((await s.api.stats(c)).body.draw).toBeNull();
  });
});

describe("two schedulers at the start (two processes' real cron schedulers on one Redis)", () => {
  let a: Started, b: Started;
  beforeAll(async () => {
    a = await startServer({ ISSUER: "off", ...NO_USER_LIMITS });
    b = await startServer({ ISSUER: "off", REDIS_KEY_PREFIX: a.prefix });
  });
  afterAll(async () => {
    await b.stop();
    await stopServer(a);
  });

  test("both tick at the start: exactly one draws, one seed is kept, and the line is in that seed's order", async () => {
    // every claim either scheduler's drawer makes, and what it got
    // (the servers also draw events of the other tests, which their start loaded from MySQL)
    const claims: string[] = [];
    const { id, startsAt } = await preQueueEvent(a, 4000);
    for (const s of [a, b]) {
      const claim = s.draw!.claim.bind(s.draw!);
      s.draw!.claim = async (ev) => {
        const r = await claim(ev);
        if (ev === id) claims.push("status" in r ? r.status : "claimed");
        return r;
      };
    }
    const users = Array.from({ length: 300 }, (_, i) => `two-${id}-${i}`);
    const entered = await pool(users, 16, (u) => (users.indexOf(u) % 2 ? a : b).api.enter(id, u));
    const pre = users.filter((_, i) => entered[i]!.body.status === "pre_queue");
    expect(pre.length).toBeGreaterThan(200);
    await waitFor("the draw", async () => typeof (await a.api.stats(id)).body.draw?.size === "number", 30_000, 100);
    // both kept ticking well past the start
    await waitFor("a few more ticks", async () => Date.now() > startsAt + 3000, 10_000, 100);

    console.log("claims at the start:", claims.join(", "));
    expect(claims.filter((c) => c === "claimed")).toEqual(["claimed"]);
    const st = (await a.api.stats(id)).body;
    const [[row]] = (await db.query("SELECT draw_seed FROM coupon_events WHERE id = ?", [id])) as any;
    expect(row.draw_seed).toBe(st.draw.seed);
    expect(await a.redis.hget(eventKeys(a.prefix, id).meta, "drawSeed")).toBe(st.draw.seed);
    const order = drawOrder(st.draw.seed, pre);
    // the schedulers admit from the head of the drawn line (10 a second): whoever is still waiting is the rest, in order
    const rest = (await line(a, id)).map((x) => x.user);
    expect(rest).toEqual(order.slice(order.length - rest.length));
    const admitted = order.slice(0, order.length - rest.length);
    expect(admitted.length).toBeGreaterThan(0);
    for (const u of admitted.slice(0, 5)) expect((await a.api.poll(id, u)).body.status).toBe("admitted");
  });
});

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Redis } from "ioredis";
import { eventKeys } from "../../src/redis";
import { checkInvariants, mysqlConn, pool, startServer, stopServer, TEST_REDIS, waitFor, type Reply, type Started } from "../../scripts/testkit";

// real servers and processes: generous time (no test asserts a duration)
setDefaultTimeout(120_000);

const r = new Redis(TEST_REDIS);
const db = mysqlConn();
afterAll(async () => {
  r.disconnect();
  await db.end();
});

/** The waiting line in entry order (the arrival sequence each user got from Redis). */
async function lineWithSeq(s: Started, id: number): Promise<Map<string, number>> {
  const flat = await r.zrange(eventKeys(s.prefix, id).waiting, "0", "-1", "WITHSCORES");
  const seq = new Map<string, number>();
  for (let i = 0; i < flat.length; i += 2) seq.set(flat[i]!, Number(flat[i + 1]));
  return seq;
}

const liveSlots = (s: Started, id: number) => r.zcount(eventKeys(s.prefix, id).running, `(${Date.now()}`, "+inf");

function summary(xs: number[]) {
  const max = Math.max(...xs);
  return { samples: xs.length, min: Math.min(...xs), max, mean: Math.round((xs.reduce((a, b) => a + b, 0) / xs.length) * 10) / 10, atMax: xs.filter((x) => x === max).length };
}

describe("the waiting room under a crowd (real cron scheduler)", () => {
  let s: Started;
  beforeAll(async () => {
    // waiters poll at most every QUEUE_MAX_POLL_MS; the long timeout keeps a slow test machine from dropping any
    s = await startServer({ QUEUE_WAITER_TIMEOUT_MS: "300000" });
  });
  afterAll(() => stopServer(s));

  test("3,000 users enter at once, runningCapacity 100: never more than 100 running, everyone issued, admitted in order of entry", async () => {
    const CAP = 100;
    const N = 3000;
    const id = (await s.api.createEvent({ name: "crowd", stock: N, trafficRpm: 1_000_000_000, runningCapacity: CAP, admitPerSecond: 300 })).body.id as number;
    const k = eventKeys(s.prefix, id);
    const users = Array.from({ length: N }, (_, i) => `crowd-${id}-${i}`);

    const entered = await pool(users, 600, (u) => s.api.enter(id, u));
    const direct = entered.filter((e) => e.status === 200);
    const queued = users.filter((_, i) => entered[i]!.status === 202);
    expect(direct.length).toBe(CAP);
    expect(queued.length).toBe(N - CAP);
    // Entry order is the arrival sequence Redis gave each waiter. While the first 100 hold every slot
    // nobody can be admitted, so each waiter's first position is exactly its sequence number.
    const seq = await lineWithSeq(s, id);
    expect(seq.size).toBe(N - CAP);
    expect(users.every((u, i) => entered[i]!.status !== 202 || entered[i]!.body.position === seq.get(u))).toBe(true);

    let done = false;
    const capacity: number[] = [];
    let lineSamples = 0;
    let holes = 0;
    const firstSample = new Map<string, number>();
    const sampler = (async () => {
      for (let n = 0; !done; n++) {
        const res = (await r.multi().zcount(k.running, `(${Date.now()}`, "+inf").zcard(k.waiting).zrange(k.waiting, "0", "0", "WITHSCORES").get(k.waitSeq).zrange(k.running, "0", "-1").exec())!;
        const [live, card, head, maxSeq, running] = res.map(([, v]) => v) as [number, number, string[], string, string[]];
        capacity.push(live);
        // FIFO, whole line: the users still waiting must be exactly the last `card` arrivals,
        // i.e. everyone who left the line arrived before everyone still in it
        if (card > 0) {
          lineSamples++;
          if (card !== Number(maxSeq) - Number(head[1]) + 1) holes++;
        }
        for (const u of running) if (!firstSample.has(u)) firstSample.set(u, n);
        await Bun.sleep(5);
      }
    })();

    let replies: Reply[];
    try {
      // each user acts alone: polls when told to until admitted, then takes the coupon
      replies = await pool(users, N, async (u, i) => {
        let state = entered[i]!.body;
        while (state.status === "waiting") {
          await Bun.sleep(state.pollAfterMs);
          const p = await s.api.poll(id, u);
          if (p.status !== 200) throw new Error(`poll of ${u} answered ${p.status} ${JSON.stringify(p.body)}`);
          state = p.body;
        }
        if (state.status !== "admitted") throw new Error(`${u} ended as ${JSON.stringify(state)}`);
        return s.api.issue(id, u);
      });
    } finally {
      done = true;
      await sampler;
    }

    expect(replies.filter((x) => x.status === 201).length).toBe(N);
    const cap = summary(capacity);
    console.log("running-count samples (ZCOUNT of live slots):", cap);
    expect(cap.max).toBeLessThanOrEqual(CAP);

    // FIFO, per user: if a user shows up in the running set in an earlier sample than someone who
    // entered before them, that earlier entrant was admitted later (a sample is one atomic read)
    const byEntry = queued.filter((u) => firstSample.has(u)).sort((a, b) => seq.get(a)! - seq.get(b)!);
    let inversions = 0;
    for (let i = 1; i < byEntry.length; i++) if (firstSample.get(byEntry[i]!)! < firstSample.get(byEntry[i - 1]!)!) inversions++;
    const batches = new Set(byEntry.map((u) => firstSample.get(u))).size;
    console.log("admission order vs entry order:", { lineSamples, lineHoles: holes, waitersSeenRunning: byEntry.length, of: queued.length, distinctBatches: batches, inversions });
    expect(holes).toBe(0);
    expect(inversions).toBe(0);
    expect(lineSamples).toBeGreaterThan(10);
    expect(byEntry.length).toBeGreaterThan(queued.length / 2);

    const st = (await s.api.stats(id)).body;
    expect(st).toMatchObject({ issued: N, remaining: 0, waiting: 0, running: 0, status: "sold_out" });
    await waitFor("pending = 0", async () => (await s.api.stats(id)).body.pending === 0);
    const inv = await checkInvariants(db, id, N, users);
    expect(inv).toEqual({ rows: N, duplicates: 0, overIssue: 0, lost: [], phantom: [] });
  }, 240_000);

  test("the event sells out while 2,000 wait: their next poll says sold_out and the line empties", async () => {
    const STOCK = 10;
    const id = (await s.api.createEvent({ name: "sellout", stock: STOCK, trafficRpm: 0, runningCapacity: STOCK })).body.id as number;
    const users = Array.from({ length: 2020 }, (_, i) => `so-${id}-${i}`);
    const entered = await pool(users, 500, (u) => s.api.enter(id, u));
    expect(entered.every((e) => e.status === 202)).toBe(true);

    // the cron admits the head of the line; those users take the whole stock
    await waitFor("the first users admitted by the scheduler", async () => (await liveSlots(s, id)) === STOCK);
    // counted before the sale: once sold out, the scheduler may empty the line before a slow machine reads the stats
    const before = (await s.api.stats(id)).body;
    const admitted = await r.zrange(eventKeys(s.prefix, id).running, "0", "-1");
    const issued = await Promise.all(admitted.map((u) => s.api.issue(id, u)));
    expect(issued.map((x) => x.status)).toEqual(Array(STOCK).fill(201));
    expect((await s.api.stats(id)).body.status).toBe("sold_out");
    const rest = users.filter((u) => !admitted.includes(u));
    const polls = await pool(rest, 300, (u) => s.api.poll(id, u));
    const answers: Record<string, number> = {};
    for (const p of polls) answers[`${p.status} ${p.body.status}`] = (answers[`${p.status} ${p.body.status}`] ?? 0) + 1;
    console.log(`sold out with ${before.waiting} waiting; their next polls:`, answers);
    expect(before.waiting).toBeGreaterThanOrEqual(2000);
    expect(answers).toEqual({ [`200 sold_out`]: rest.length });

    await waitFor("the scheduler empties the line", async () => (await s.api.stats(id)).body.waiting === 0);
    expect((await s.api.poll(id, rest[0]!)).body).toEqual({ status: "sold_out" });
    const late = await s.api.enter(id, "latecomer");
    expect(late.status).toBe(410);
    expect((await s.api.issue(id, rest[0]!)).body.error).toBe("sold_out");
  }, 120_000);
});

describe("the waiting room, one step at a time (scheduler off, manual ticks)", () => {
  let s: Started;
  beforeAll(async () => {
    s = await startServer({ QUEUE_SCHEDULER: "off", QUEUE_WAITER_TIMEOUT_MS: "300000" });
  });
  afterAll(() => stopServer(s));

  test("low trafficRpm queues users; raised with PATCH, new users are admitted directly once nobody waits", async () => {
    const id = (await s.api.createEvent({ name: "traffic", stock: 100, trafficRpm: 3, runningCapacity: 100 })).body.id as number;
    // the router counts requests: the 1st..3rd see a rate of 0, 1, 2 (< 3); the 4th sees 3
    for (const u of ["t1", "t2", "t3"]) expect((await s.api.enter(id, u)).body.status).toBe("admitted");
    const t4 = await s.api.enter(id, "t4");
    expect(t4.status).toBe(202);
    expect(t4.body).toMatchObject({ status: "waiting", position: 1 });

    expect((await s.api.patch(id, { trafficRpm: 1_000_000 })).status).toBe(200);
    // someone is still waiting: a newcomer must not overtake them
    const t5 = await s.api.enter(id, "t5");
    expect(t5.status).toBe(202);
    expect(t5.body.position).toBe(2);

    expect((await s.queue.tick(id)).admitted).toBe(2);
    for (const u of ["t4", "t5"]) expect((await s.api.poll(id, u)).body.status).toBe("admitted");
    const t6 = await s.api.enter(id, "t6");
    expect(t6.status).toBe(200);
    expect(t6.body.status).toBe("admitted");
    expect((await s.api.stats(id)).body).toMatchObject({ waiting: 0, running: 6 });
  });

  test("direct entry is limited by capacity and traffic, not by the line's admitPerSecond budget", async () => {
    const id = (await s.api.createEvent({ name: "direct", stock: 100, trafficRpm: 1_000_000, runningCapacity: 5, admitPerSecond: 1 })).body.id as number;
    const replies = await Promise.all(Array.from({ length: 8 }, (_, i) => s.api.enter(id, `d${i}`)));
    expect(replies.filter((x) => x.status === 200).length).toBe(5);
    expect(replies.filter((x) => x.status === 202).map((x) => x.body.position).sort()).toEqual([1, 2, 3]);
    // nothing was taken from the line, so nothing counts towards its budget or its measured rate
    expect(await r.hlen(eventKeys(s.prefix, id).admitLog)).toBe(0);
  });

  test("trafficRpm 0: everyone goes through the waiting room, even into an empty event", async () => {
    const id = (await s.api.createEvent({ name: "all-wait", stock: 100, trafficRpm: 0, runningCapacity: 100 })).body.id as number;
    const first = await s.api.enter(id, "w1");
    expect(first.status).toBe(202);
    expect(first.body.position).toBe(1);
    expect((await s.queue.tick(id)).admitted).toBe(1);
    expect((await s.api.poll(id, "w1")).body.status).toBe("admitted");
    // the line is empty and 99 slots are free, still no direct entry
    const second = await s.api.enter(id, "w2");
    expect(second.status).toBe(202);
    expect(second.body.position).toBe(1);
  });

  test("skipping the queue: no slot, no coupon (403 not_admitted), and no stock is taken", async () => {
    const id = (await s.api.createEvent({ name: "skip", stock: 5, trafficRpm: 0, runningCapacity: 1 })).body.id as number;
    for (const u of ["q1", "q2"]) expect((await s.api.enter(id, u)).status).toBe(202);
    for (const u of ["outsider", "q1", "q2"]) {
      const x = await s.api.issue(id, u);
      expect(x.status).toBe(403);
      expect(x.body.error).toBe("not_admitted");
    }
    expect((await s.api.stats(id)).body).toMatchObject({ remaining: 5, issued: 0, waiting: 2 });
    await s.queue.tick(id);
    expect((await s.api.issue(id, "q2")).body.error).toBe("not_admitted"); // q1 is first in line
    expect((await s.api.issue(id, "q1")).status).toBe(201);
    expect((await s.api.stats(id)).body).toMatchObject({ remaining: 4, issued: 1 });
  });

  test("entering twice is idempotent; DELETE frees the place or the slot; unknown users get 404 not_in_queue", async () => {
    const id = (await s.api.createEvent({ name: "idem", stock: 100, trafficRpm: 0, runningCapacity: 1, admitPerSecond: 10 })).body.id as number;
    const k = eventKeys(s.prefix, id);
    for (const u of ["i1", "i2", "i3"]) await s.api.enter(id, u);
    const again = await Promise.all(Array.from({ length: 10 }, () => s.api.enter(id, "i2")));
    expect(again.every((x) => x.status === 202 && x.body.position === 2)).toBe(true);
    expect(await r.zcard(k.waiting)).toBe(3);
    expect(Number(await r.get(k.waitSeq))).toBe(3);

    await s.queue.tick(id);
    const slot = await s.api.enter(id, "i1");
    expect(slot.status).toBe(200);
    expect((await s.api.enter(id, "i1")).body).toEqual(slot.body); // same slot, same expiry
    expect((await s.api.poll(id, "i2")).body.position).toBe(1);

    const left = await s.api.leave(id, "i2");
    expect(left.status).toBe(204);
    expect((await s.api.poll(id, "i2")).status).toBe(404);
    expect((await s.api.poll(id, "i3")).body.position).toBe(1);
    expect((await s.api.leave(id, "i1")).status).toBe(204);
    expect(await liveSlots(s, id)).toBe(0);
    expect((await s.api.issue(id, "i1")).body.error).toBe("not_admitted");
    expect((await s.queue.tick(id)).admitted).toBe(1); // the freed slot goes to the next in line
    expect((await s.api.poll(id, "i3")).body.status).toBe("admitted");

    const stranger = await s.api.poll(id, "stranger");
    expect(stranger.status).toBe(404);
    expect(stranger.body.error).toBe("not_in_queue");
    expect((await s.api.leave(id, "stranger")).status).toBe(204);
    for (const x of [await s.api.poll(999_999_999, "i3"), await s.api.leave(999_999_999, "i3")]) {
      expect(x.status).toBe(404);
      expect(x.body.error).toBe("event_not_found");
    }
  });

  test("etaSeconds uses the measured admission rate; pollAfterMs grows with the position", async () => {
    // capacity 4 < admitPerSecond 10: the measured rate (4/s) differs from the configured one
    const id = (await s.api.createEvent({ name: "eta", stock: 1000, trafficRpm: 0, runningCapacity: 4, admitPerSecond: 10 })).body.id as number;
    const users = Array.from({ length: 250 }, (_, i) => `eta-${i}`);
    for (const u of users) await s.api.enter(id, u);
    // nothing measured yet: the configured admitPerSecond is the estimate
    expect((await s.api.poll(id, users[99]!)).body).toMatchObject({ position: 100, etaSeconds: 10 });

    expect((await s.queue.tick(id)).admitted).toBe(4);
    const rate = (await s.api.stats(id)).body.admitRate as number;
    expect(rate).toBe(4);
    const polls = await Promise.all([4, 5, 14, 40, 100, 249].map((i) => s.api.poll(id, users[i]!)));
    for (const p of polls) expect(p.body.etaSeconds).toBe(Math.round((p.body.position / rate) * 10) / 10);
    const waits = polls.map((p) => p.body.pollAfterMs as number);
    console.log("position -> pollAfterMs:", Object.fromEntries(polls.map((p) => [p.body.position, p.body.pollAfterMs])));
    for (let i = 1; i < waits.length; i++) expect(waits[i]!).toBeGreaterThanOrEqual(waits[i - 1]!);
    expect(waits.at(-1)!).toBeGreaterThan(waits[0]!);
    expect(waits[0]).toBe(s.config.queue.minPollMs);
    expect(waits.at(-1)).toBe(s.config.queue.maxPollMs);
  });

  test("a closed event answers closed to its waiters and its line is emptied", async () => {
    const id = (await s.api.createEvent({ name: "closing", stock: 100, trafficRpm: 0, runningCapacity: 1 })).body.id as number;
    for (const u of ["c1", "c2", "c3"]) await s.api.enter(id, u);
    expect((await s.api.patch(id, { endsAt: new Date(Date.now() + 300).toISOString() })).status).toBe(200);
    await waitFor("the event to close", async () => (await s.api.stats(id)).body.status === "closed");
    expect((await s.api.poll(id, "c2")).body).toEqual({ status: "closed" });
    expect((await s.queue.tick(id)).status).toBe("closed");
    expect((await s.api.stats(id)).body.waiting).toBe(0);
    expect((await s.api.enter(id, "c4")).body.error).toBe("not_open");
  });
});

describe("stale waiters and expired slots (short timeouts, manual ticks)", () => {
  let s: Started;
  beforeAll(async () => {
    s = await startServer({ QUEUE_SCHEDULER: "off", QUEUE_WAITER_TIMEOUT_MS: "1000", QUEUE_SLOT_TTL_MS: "1000" });
  });
  afterAll(() => stopServer(s));

  test("a waiter who stops polling is dropped and slots left unused lapse; their places go to the next users, a lapsed holder keeps the front", async () => {
    const id = (await s.api.createEvent({ name: "stale", stock: 100, trafficRpm: 0, runningCapacity: 2 })).body.id as number;
    for (const u of ["a", "b", "c", "d", "e"]) expect((await s.api.enter(id, u)).status).toBe(202);
    expect((await s.queue.tick(id)).admitted).toBe(2); // a and b hold the slots, and never use them
    expect((await s.api.poll(id, "c")).body.position).toBe(1); // c's last sign of life

    // d and e keep polling; c does not, until it has been silent for longer than the timeout
    const cLastSeen = Date.now();
    while (Date.now() - cLastSeen < 1300) {
      for (const u of ["d", "e"]) expect((await s.api.poll(id, u)).body.status).toBe("waiting");
      await Bun.sleep(200);
    }
    for (const u of ["d", "e"]) await s.api.poll(id, u);
    const t = await s.queue.tick(id);
    expect(t).toEqual({ expired: 2, stale: 1, admitted: 2, issued: 0, status: "open", drawDue: false });

    for (const u of ["d", "e"]) expect((await s.api.poll(id, u)).body.status).toBe("admitted");
    expect((await s.api.poll(id, "c")).body.error).toBe("not_in_queue");
    expect((await s.api.issue(id, "a")).body.error).toBe("not_admitted");
    // a's slot lapsed unused: back, a keeps the front (a place: d and e hold both slots) and is told when it lapsed
    const a = await s.api.poll(id, "a");
    expect(a.body).toMatchObject({ status: "waiting", position: 1, lapsedAt: expect.any(String) });
    expect((await s.api.stats(id)).body).toMatchObject({ waiting: 1, running: 2, remaining: 100 });
    // c may come back, but only at the back of the line
    const back = await s.api.enter(id, "c");
    expect(back.status).toBe(202);
    expect(back.body.position).toBe(2);
    expect(Number(await r.zscore(eventKeys(s.prefix, id).waiting, "c"))).toBe(6);
  });
});

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Redis } from "ioredis";
import { defineScripts, eventKeys } from "../../src/redis";
import { pool, startServer, stopServer, TEST_REDIS, waitFor, type Started } from "../../scripts/testkit";
import { QueueService } from "./service";

// real servers and processes: generous time (no test asserts a duration)
setDefaultTimeout(120_000);

const connections: Redis[] = [];
/** Another process's connection, with the queue's scripts loaded. */
function queueRedis() {
  const r = new Redis(TEST_REDIS);
  defineScripts(r, import.meta.dir);
  connections.push(r);
  return r;
}
afterAll(() => {
  for (const r of connections) r.disconnect();
});

describe("two schedulers at once (scheduler off in the server, two QueueService instances ticking in loops)", () => {
  let s: Started;
  beforeAll(async () => {
    s = await startServer({ QUEUE_SCHEDULER: "off", ISSUER: "off", QUEUE_WAITER_TIMEOUT_MS: "300000" });
  });
  afterAll(() => stopServer(s));

  test("no user admitted twice, capacity never exceeded, the per-second budget shared", async () => {
    const CAP = 40;
    const BUDGET = 100;
    const N = 350;
    const id = (await s.api.createEvent({ name: "two-schedulers", stock: 10_000, trafficRpm: 0, runningCapacity: CAP, admitPerSecond: BUDGET })).body.id as number;
    const k = eventKeys(s.prefix, id);
    const users = Array.from({ length: N }, (_, i) => `ts-${id}-${i}`);
    await pool(users, 100, (u) => s.api.enter(id, u));
    const r = queueRedis();
    expect(await r.zcard(k.waiting)).toBe(N);

    const schedulers = [new QueueService(queueRedis(), s.prefix, s.config.queue), new QueueService(queueRedis(), s.prefix, s.config.queue)];
    const perSecond = new Map<number, number>();
    const bySchedulers = [0, 0];
    let done = false;
    const tickLoop = async (q: QueueService, i: number) => {
      while (!done) {
        const now = Date.now();
        const { admitted } = await q.tick(id, now);
        const sec = Math.floor(now / 1000);
        perSecond.set(sec, (perSecond.get(sec) ?? 0) + admitted);
        bySchedulers[i]! += admitted;
        await Bun.sleep(1);
      }
    };
    // admitted users leave their slot soon (as if they issued), so both limits get to bind:
    // capacity at the start of a second, the budget once slots keep coming free
    const freed = new Set<string>();
    let readmitted = 0;
    const capacity: number[] = [];
    let holes = 0;
    const consumer = async () => {
      while (!done) {
        const res = (await r.multi().zrangebyscore(k.running, `(${Date.now()}`, "+inf").zcard(k.waiting).zrange(k.waiting, "0", "0", "WITHSCORES").get(k.waitSeq).exec())!;
        const [running, card, head, maxSeq] = res.map(([, v]) => v) as [string[], number, string[], string];
        capacity.push(running.length);
        if (card > 0 && card !== Number(maxSeq) - Number(head[1]) + 1) holes++;
        for (const u of running) {
          if (freed.has(u)) readmitted++;
          freed.add(u);
        }
        await Promise.all(running.map((u) => s.queue.leave(id, u)));
        if (card === 0 && running.length === 0) done = true;
        await Bun.sleep(20);
      }
    };
    const stop = setTimeout(() => (done = true), 60_000);
    await Promise.all([tickLoop(schedulers[0]!, 0), tickLoop(schedulers[1]!, 1), consumer()]);
    clearTimeout(stop);

    const total = bySchedulers[0]! + bySchedulers[1]!;
    const budget = Object.fromEntries([...perSecond].filter(([, n]) => n > 0));
    const counted = await r.hgetall(k.admitLog);
    console.log("two schedulers:", { admittedBy: bySchedulers, perSecond: budget, capacitySamples: capacity.length, maxRunning: Math.max(...capacity), readmitted, holes });
    expect(readmitted).toBe(0);
    expect(total).toBe(N);
    expect(freed.size).toBe(N);
    expect(await r.zcard(k.waiting)).toBe(0);
    expect(Math.max(...capacity)).toBeLessThanOrEqual(CAP);
    expect(holes).toBe(0);
    for (const n of perSecond.values()) expect(n).toBeLessThanOrEqual(BUDGET);
    // the budget Redis kept is exactly what the two schedulers report: nobody else admitted anyone
    expect(Object.fromEntries(Object.entries(counted).map(([sec, n]) => [sec, Number(n)]))).toEqual(budget);
    // both really raced for the same line
    expect(bySchedulers[0]).toBeGreaterThan(0);
    expect(bySchedulers[1]).toBeGreaterThan(0);
  }, 90_000);

  test("one scheduler tick walks every event", async () => {
    const ids = await Promise.all([1, 2, 3].map(async (n) => (await s.api.createEvent({ name: `walk-${n}`, stock: 10, trafficRpm: 0, runningCapacity: 5 })).body.id as number));
    for (const id of ids) for (const u of ["x", "y"]) await s.api.enter(id, `${u}${id}`);
    expect(s.scheduler).toBeNull(); // QUEUE_SCHEDULER=off: no cron here
    const { AdmissionScheduler } = await import("./scheduler");
    const sched = new AdmissionScheduler(s.queue, async () => ids);
    // a second call while a tick runs joins it instead of overlapping
    const [a, b] = [sched.tick(), sched.tick()];
    expect(a).toBe(b);
    await a;
    expect(sched.lastTick).toMatchObject({ events: 3, admitted: 6 });
    for (const id of ids) expect((await s.api.stats(id)).body).toMatchObject({ waiting: 0, running: 2 });
  });
});

describe("the real cron scheduler", () => {
  let s: Started;
  beforeAll(async () => {
    s = await startServer({ ISSUER: "off" });
  });
  afterAll(() => stopServer(s));

  test("runs by itself every second: waiters get admitted within the budget without anyone ticking", async () => {
    // budget 3 a second over a line of 9: the cron has to run at least three times
    const id = (await s.api.createEvent({ name: "cron", stock: 100, trafficRpm: 0, runningCapacity: 100, admitPerSecond: 3 })).body.id as number;
    const users = Array.from({ length: 9 }, (_, i) => `cron-${id}-${i}`);
    for (const u of users) expect((await s.api.enter(id, u)).status).toBe(202);
    await waitFor("the cron to admit everyone", async () => (await s.api.stats(id)).body.running === 9, 30_000, 200);
    expect((await s.api.stats(id)).body.waiting).toBe(0);
    const seconds = Object.values(await s.redis.hgetall(eventKeys(s.prefix, id).admitLog)).map(Number);
    expect(seconds.length).toBeGreaterThanOrEqual(3);
    expect(seconds.every((n) => n <= 3)).toBe(true);
    for (const u of users) expect((await s.api.poll(id, u)).body.status).toBe("admitted");
    expect(s.scheduler!.lastTick.events).toBeGreaterThanOrEqual(1);
  });
});

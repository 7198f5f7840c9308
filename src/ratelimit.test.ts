import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { startServer, stopServer, type Started } from "../scripts/testkit";

// real servers and processes: generous time (no test asserts a duration)
setDefaultTimeout(120_000);

let s: Started, strict: Started;
beforeAll(async () => {
  s = await startServer({ RATE_LIMIT_USER_PER_SEC: "1", RATE_LIMIT_USER_BURST: "10" });
  strict = await startServer({ RATE_LIMIT_IP_PER_SEC: "2", RATE_LIMIT_IP_BURST: "20", RATE_LIMIT_LOOPBACK: "on", RATE_LIMIT_USER_PER_SEC: "0" });
});
afterAll(async () => {
  await stopServer(s);
  await stopServer(strict);
});

describe("abuse limits", () => {
  test("one user hammering gets 429 with retryAfter; other users are not affected", async () => {
    const id = (await s.api.createEvent({ name: "abuse", stock: 100, trafficRpm: 0, runningCapacity: 1 })).body.id;
    const replies = await Promise.all(Array.from({ length: 40 }, () => s.api.enter(id, "hammer")));
    const limited = replies.filter((r) => r.status === 429);
    expect(limited.length).toBeGreaterThanOrEqual(20);
    expect(limited[0]!.body).toMatchObject({ error: "rate_limited" });
    expect(limited[0]!.body.retryAfter).toBeGreaterThan(0);
    // still one place in line, however many times they asked
    expect((await s.api.stats(id)).body.waiting).toBe(1);
    const other = await s.api.enter(id, "polite");
    expect(other.status).toBe(202);
    expect(other.body.position).toBe(2);
    // the limit is per user across enter, poll and issue
    expect((await s.api.poll(id, "hammer")).status).toBe(429);
    await Bun.sleep(Math.ceil(limited[0]!.body.retryAfter * 1000) + 50);
    expect((await s.api.poll(id, "hammer")).status).toBe(200);
  });

  test("per-IP limit caps a client that rotates user ids", async () => {
    const id = (await strict.api.createEvent({ name: "ip", stock: 100, trafficRpm: 0, runningCapacity: 1 })).body.id;
    const replies = await Promise.all(Array.from({ length: 60 }, (_, i) => strict.api.enter(id, `rot${i}`)));
    const limited = replies.filter((r) => r.status === 429).length;
    expect(limited).toBeGreaterThanOrEqual(30);
    expect(replies.every((r) => r.status === 202 || r.status === 429)).toBe(true);
    // limited requests changed nothing: only the accepted ones hold places (in line, or admitted by the scheduler)
    const st = (await strict.api.stats(id)).body;
    expect(st.waiting + st.running).toBe(60 - limited);
  });
});

// Issue #21's findings, tried as an attacker tries them: raw requests over fresh sockets against a
// real server, in one process (ROLE=all) and split (routers in front of queue, coupon and issuer
// processes). Each fails on the code the issue was filed against.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { dropKeys, rawClient, spawnServer, startServer, stopServer, TEST_REDIS, token, type Proc, type RawClient, type Started } from "../scripts/testkit";

setDefaultTimeout(300_000);

// nobody is admitted by a scheduler here: a line stays as the test built it
const ENV = { QUEUE_SCHEDULER: "off", TRUST_PROXY: "1", ADMIN_LOCKOUT_FAILURES: "10" };
const FLUSH_MS = 250;
const splitPrefix = `atk${Date.now().toString(36)}`;
let all: Started;
let queue: Proc, coupon: Proc, issuer: Proc, routerA: Proc, routerB: Proc;
const targets: { name: string; api: RawClient }[] = [];
let other: RawClient;

beforeAll(async () => {
  all = await startServer({ ...ENV, RATE_FLUSH_MS: String(FLUSH_MS) });
  const split = { ...ENV, REDIS_KEY_PREFIX: splitPrefix, RATE_FLUSH_MS: String(FLUSH_MS) };
  [queue, coupon, issuer] = await Promise.all([spawnServer({ ...split, ROLE: "queue" }), spawnServer({ ...split, ROLE: "coupon" }), spawnServer({ ...split, ROLE: "issuer" })]);
  const router = { ...split, ROLE: "router", QUEUE_URL: queue.url, COUPON_URL: coupon.url };
  [routerA, routerB] = await Promise.all([spawnServer(router), spawnServer(router)]);
  targets.push({ name: "ROLE=all", api: rawClient(Number(new URL(all.url).port)) }, { name: "split router", api: rawClient(routerA.port) });
  other = rawClient(routerB.port);
});

afterAll(async () => {
  await Promise.all([queue, coupon, issuer, routerA, routerB].map((p) => p?.kill("SIGKILL")));
  await stopServer(all);
  await dropKeys(TEST_REDIS, splitPrefix);
});

const run = Date.now().toString(36);
const flushes = (n: number) => Bun.sleep(n * FLUSH_MS + 100);

describe("a waiting ticket of a place given up never shows a better place than the truth", () => {
  /**
   * A line of 16 (nobody admitted), the attacker 11th; they leave and enter again, 16th now, and
   * keep polling with the ticket of their old place. The old code answered it from the router's
   * view: place 11 (seq − head + 1), five better than the truth.
   */
  async function stalePlace(api: RawClient, pollWith: RawClient) {
    const created = await api.createEvent({ name: "stale ticket", stock: 100, trafficRpm: 0, runningCapacity: 1, admitPerSecond: 1 });
    expect(created.status).toBe(201);
    const id = created.body.id as number;
    const user = (i: number) => `stale-${run}-${api.port}-${i}`;
    const attacker = `stale-${run}-${api.port}-attacker`;
    for (let i = 0; i < 10; i++) expect((await api.enter(id, user(i))).status).toBe(202);
    const first = await api.enter(id, attacker);
    expect([first.status, first.body.position]).toEqual([202, 11]);
    const oldTicket = first.body.ticket as string;
    for (let i = 10; i < 15; i++) expect((await api.enter(id, user(i))).status).toBe(202);
    // every router has seen the whole line: the old ticket would be answered from its view now
    await flushes(2);
    expect((await pollWith.poll(id, oldTicket)).body.position).toBe(11);

    expect((await api.leave(id, attacker)).status).toBe(204);
    const again = await api.enter(id, attacker);
    expect([again.status, again.body.position]).toEqual([202, 16]);
    return { id, oldTicket, newTicket: again.body.ticket as string };
  }

  const notBetter = (reply: { status: number; body: any }) => {
    // the exact poll answers: the true place, with a ticket for it (or a 4xx for a ticket it will not take)
    if (reply.status !== 200) return expect(reply.status).toBeOneOf([401, 404]);
    expect(reply.body).toMatchObject({ status: "waiting", position: 16 });
    expect(typeof reply.body.ticket).toBe("string");
  };

  for (const name of ["ROLE=all", "split router"])
    test(`${name}: polled at once after entering again, and again once every view has refreshed`, async () => {
      const { api } = targets.find((t) => t.name === name)!;
      const { id, oldTicket, newTicket } = await stalePlace(api, api);
      notBetter(await api.poll(id, oldTicket));
      await flushes(3);
      notBetter(await api.poll(id, oldTicket));
      // the honest ticket: its true place or, from the view, the estimate (never better: the hole the leaver left counts)
      const honest = await api.poll(id, newTicket);
      expect(honest.body.status).toBe("waiting");
      expect(honest.body.position).toBeGreaterThanOrEqual(16);
    });

  test("split: left through one router, polled through another once it has refreshed", async () => {
    const { id, oldTicket } = await stalePlace(targets[1]!.api, other);
    await flushes(3);
    notBetter(await other.poll(id, oldTicket));
  });
});

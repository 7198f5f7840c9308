// Public facts before the token (contract, "Hardening"): an enter the view refuses for everyone is
// answered without verifying the token; anything that could let the caller in verifies it first.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { signJwt } from "../../src/auth";
import { startServer, stopServer, token, waitFor, type Started } from "../../scripts/testkit";

setDefaultTimeout(120_000);
const past = (ms: number) => new Date(Date.now() - ms).toISOString();
const future = (ms: number) => new Date(Date.now() + ms).toISOString();

describe("enter answers public facts before it verifies the token", () => {
  let s: Started;
  beforeAll(async () => {
    s = await startServer({ QUEUE_SCHEDULER: "off", ISSUER: "off" });
  });
  afterAll(() => stopServer(s));
  const enter = (id: number | string, auth?: string) => s.api.call("POST", `/api/events/${id}/enter`, auth === undefined ? {} : { headers: { authorization: auth } });

  test("sold out, not open, no such event: the same answer whatever the token, and no token is remembered", async () => {
    const soldOut = (await s.api.createEvent({ name: "gone", stock: 1, trafficRpm: 1_000_000, runningCapacity: 5 })).body.id as number;
    expect((await s.api.enter(soldOut, "first")).status).toBe(200);
    expect((await s.api.issue(soldOut, "first")).status).toBe(201);
    // the router's view learns of the sale within a flush
    await waitFor("the view sees it sold out", async () => (await s.api.enter(soldOut, "first")).status === 410, 10_000, 50);
    const closed = (await s.api.createEvent({ name: "closed", stock: 5, trafficRpm: 1_000_000, runningCapacity: 5, startsAt: past(60_000), endsAt: past(1000) })).body.id as number;
    const later = (await s.api.createEvent({ name: "later", stock: 5, trafficRpm: 1_000_000, runningCapacity: 5, startsAt: future(3_600_000) })).body.id as number;
    const forged = signJwt("not-the-secret-0123456789abcdef", "mallory");
    for (const [id, status, error] of [[soldOut, 410, "sold_out"], [closed, 409, "not_open"], [later, 409, "not_open"], [999_999, 404, "event_not_found"], ["x", 404, "event_not_found"]] as const)
      for (const auth of [undefined, "Bearer junk", `Bearer ${forged}`, `Bearer ${token(`fresh-${id}`)}`]) {
        const r = await enter(id, auth);
        expect({ id, auth, status: r.status, error: r.body.error }).toEqual({ id, auth, status, error });
      }
    // nothing was verified on the way: not even the valid fresh tokens entered the cache
    for (const id of [soldOut, closed, later]) expect(s.auth.isCached(token(`fresh-${id}`))).toBe(false);
  });

  test("an open event verifies first: a missing, junk or forged token is a 401 and nobody enters", async () => {
    const open = (await s.api.createEvent({ name: "open", stock: 5, trafficRpm: 0, runningCapacity: 1 })).body.id as number;
    const forged = signJwt("not-the-secret-0123456789abcdef", "mallory");
    for (const auth of [undefined, "Bearer junk", `Bearer ${forged}`]) expect((await enter(open, auth)).status).toBe(401);
    expect((await s.api.stats(open)).body.waiting).toBe(0);
    expect((await enter(open, `Bearer ${token("honest")}`)).status).toBe(202);
  });
});

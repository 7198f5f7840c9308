// Public facts before the token (contract, "Hardening"): an enter the view refuses for everyone is
// answered without verifying the token; anything that could let the caller in verifies it first.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { signJwt } from "../../src/auth";
import { JWT_SECRET, startServer, stopServer, token, waitFor, type Started } from "../../scripts/testkit";

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

  test("a full line: line_full before the token, the same bytes whatever the token names; a holder this router knows gets their place", async () => {
    const id = (await s.api.createEvent({ name: "full", stock: 5, trafficRpm: 0, runningCapacity: 1, maxWaiting: 2 })).body.id as number;
    // each holder's token as they entered with it (a token minted a second later is another string)
    const entered = new Map(["holder-1", "holder-2"].map((u) => [u, token(u)]));
    for (const [, t] of entered) expect((await enter(id, `Bearer ${t}`)).status).toBe(202);
    await waitFor("the view knows the line is full", async () => s.view!.lookup(id)?.waiting === 2, 10_000, 20);
    const forged = (sub: string) => signJwt("not-the-secret-0123456789abcdef", sub);
    // a valid token of a holder that this router never verified (another spelling of their identity: another exp)
    const holderElsewhere = signJwt(JWT_SECRET, "holder-1", 1800);
    const fresh = token("newcomer");
    const asks: [string, string | undefined][] = [
      ["no token", undefined],
      ["junk", "Bearer junk"],
      ["forged, naming a holder", `Bearer ${forged("holder-1")}`],
      ["forged, naming nobody in line", `Bearer ${forged("nobody")}`],
      ["valid, a newcomer", `Bearer ${fresh}`],
      ["valid, a holder's token this router never verified", `Bearer ${holderElsewhere}`],
      ["a holder's own token with trailing junk", `Bearer ${entered.get("holder-2")} x`],
    ];
    const answers = new Map<string, string>();
    for (const [what, auth] of asks) {
      const res = await fetch(`${s.url}/api/events/${id}/enter`, { method: "POST", headers: auth ? { authorization: auth } : {} });
      const headers = [...res.headers].filter(([k]) => k !== "date" && k !== "x-request-id").map(([k, v]) => `${k}: ${v}`).sort().join("\n");
      answers.set(what, `${res.status}\n${headers}\n${await res.text()}`);
    }
    const first = answers.get("no token")!;
    expect(first).toContain("line_full");
    expect(first.startsWith("410\n")).toBe(true);
    for (const [what, answer] of answers) expect({ what, answer }).toEqual({ what, answer: first });
    // nothing was verified: no token entered the cache, nobody joined
    for (const t of [fresh, holderElsewhere]) expect(s.auth.isCached(t)).toBe(false);
    expect((await s.api.stats(id)).body.waiting).toBe(2);
    // the holder whose token this router verified when they entered gets their place back
    expect((await enter(id, `Bearer ${entered.get("holder-2")}`)).body).toMatchObject({ status: "waiting", position: 2 });
    expect((await enter(id, `Bearer ${entered.get("holder-1")}`)).body).toMatchObject({ status: "waiting", position: 1 });
  });

  test("an open event verifies first: a missing, junk or forged token is a 401 and nobody enters", async () => {
    const open = (await s.api.createEvent({ name: "open", stock: 5, trafficRpm: 0, runningCapacity: 1 })).body.id as number;
    const forged = signJwt("not-the-secret-0123456789abcdef", "mallory");
    for (const auth of [undefined, "Bearer junk", `Bearer ${forged}`]) expect((await enter(open, auth)).status).toBe(401);
    expect((await s.api.stats(open)).body.waiting).toBe(0);
    expect((await enter(open, `Bearer ${token("honest")}`)).status).toBe(202);
  });
});

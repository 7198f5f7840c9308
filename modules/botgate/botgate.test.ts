// The bot gate as an attacker meets it: no proof, forged, another user's or event's, expired, replayed on another router.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { solveChallenge, verifySolution, type Challenge } from "altcha-lib";
import { createHmac } from "node:crypto";
import { deriveKey } from "altcha-lib/algorithms/sha";
import { Redis } from "ioredis";
import { client, JWT_SECRET, readMetrics, spawnServer, startServer, stopServer, TEST_REDIS, token, valueOf, waitFor, type Proc, type Started } from "../../scripts/testkit";
import { BotGate } from "./gate";

setDefaultTimeout(120_000);

const r = new Redis(TEST_REDIS);
afterAll(() => r.disconnect());

/** Solves a challenge as the pages' worker does, and encodes it as the X-Bot-Proof header. */
async function solve(challenge: Challenge): Promise<string> {
  const solution = await solveChallenge({ challenge, deriveKey });
  if (!solution) throw new Error("unsolved");
  return Buffer.from(JSON.stringify({ challenge, solution })).toString("base64");
}
const decode = (proof: string) => JSON.parse(Buffer.from(proof, "base64").toString("utf8"));
const encode = (p: unknown) => Buffer.from(JSON.stringify(p)).toString("base64");

describe("the gate's own verification", () => {
  test("gives altcha-lib's verifySolution's verdict on good, tampered and forged proofs", async () => {
    const secret = "unit-secret-0123456789abcdef";
    const gate = new BotGate(secret, r, "unit");
    const derived = (label: string) => createHmac("sha256", secret).update(label).digest("hex");
    const oracle = async (p: { challenge: Challenge; solution: never }) =>
      (await verifySolution({ ...p, deriveKey, hmacSignatureSecret: derived("altcha challenge signature"), hmacKeySignatureSecret: derived("altcha key signature") }).catch(() => ({ verified: false }))).verified;
    const cases: unknown[] = [];
    for (let i = 0; i < 5; i++) {
      const good = decode(await solve(await gate.challenge(7, `u${i}`, 4)));
      cases.push(good);
      const edits: ((p: any) => void)[] = [
        (p) => (p.solution.derivedKey = p.solution.derivedKey.replace(/.$/, (c: string) => (c === "0" ? "1" : "0"))),
        (p) => (p.challenge.parameters.keyPrefix = "00"),
        (p) => (p.challenge.parameters.cost = 2),
        (p) => (p.challenge.parameters.expiresAt += 3600),
        (p) => (p.challenge.parameters.data.p = 1),
        (p) => (p.challenge.parameters.keySignature = "ab".repeat(32)),
        (p) => (p.challenge.signature = p.challenge.signature.replace(/^./, (c: string) => (c === "a" ? "b" : "a"))),
        (p) => (p.challenge.parameters.extra = "x"),
      ];
      for (const edit of edits) {
        const t = structuredClone(good);
        edit(t);
        cases.push(t);
      }
    }
    let agreed = 0;
    for (const c of cases as { challenge: Challenge & { parameters: { data: { u: string } } }; solution: never }[]) {
      const mine = (await gate.verify(7, c.challenge.parameters.data.u, encode(c))).ok;
      expect({ c, mine }).toEqual({ c, mine: await oracle(c) });
      agreed++;
    }
    expect(agreed).toBe(45);
    // and the good ones do pass
    expect((await gate.verify(7, "u0", encode(cases[0]))).ok).toBe(true);
  });
});

describe("the bot gate", () => {
  let a: Started, b: Proc;
  let gated: number, other: number;
  const bApi = () => client(b.url);
  const challenge = async (s: { call: Started["api"]["call"] }, id: number, user: string) => {
    const c = await s.call("GET", `/api/events/${id}/challenge`, { token: token(user) });
    expect(c.status).toBe(200);
    return c.body as Challenge;
  };
  const enter = (s: { call: Started["api"]["call"] }, id: number, user: string, proof?: string) =>
    s.call("POST", `/api/events/${id}/enter`, { token: token(user), headers: proof === undefined ? {} : { "x-bot-proof": proof } });

  beforeAll(async () => {
    a = await startServer({ QUEUE_SCHEDULER: "off", ISSUER: "off" });
    // a second router: its own process on the same Redis (the replay must be refused there too)
    b = await spawnServer({ QUEUE_SCHEDULER: "off", ISSUER: "off", REDIS_KEY_PREFIX: a.prefix });
    // trafficRpm 0: everyone waits in line, so nobody takes a slot or a coupon by accident
    gated = (await a.api.createEvent({ name: "gated", stock: 100, trafficRpm: 0, runningCapacity: 10, botGate: { pow: 6 } })).body.id;
    other = (await a.api.createEvent({ name: "also gated", stock: 100, trafficRpm: 0, runningCapacity: 10, botGate: { pow: 6 } })).body.id;
  });
  afterAll(async () => {
    await b.kill();
    await stopServer(a);
  });

  test("botGate is set at create, shown to the operator and the public, changed live, and refused out of range", async () => {
    expect((await a.api.stats(gated)).body.botGate).toEqual({ pow: 6 });
    expect((await a.api.call("GET", `/api/events/${gated}`)).body.botGate).toEqual({ pow: 6 });
    const open = (await a.api.createEvent({ name: "open door", stock: 5, trafficRpm: 0, runningCapacity: 1 })).body;
    expect(open.botGate).toBeNull();
    for (const bad of [{ pow: 0 }, { pow: 25 }, { pow: 1.5 }, { pow: "4" }, { pow: 4, extra: 1 }, {}, 4])
      expect((await a.api.patch(open.id, { botGate: bad })).status).toBe(400);
    // no proof needed on an open door; a challenge for it is refused
    expect((await enter(a.api, open.id, "walk-in")).status).toBe(202);
    expect((await a.api.call("GET", `/api/events/${open.id}/challenge`, { token: token("walk-in") })).body.error).toBe("no_bot_gate");
    // turned on live: refused at once on this router, within a flush on the other
    expect((await a.api.patch(open.id, { botGate: { pow: 2 } })).body.botGate).toEqual({ pow: 2 });
    expect((await enter(a.api, open.id, "newcomer")).body.error).toBe("bot_check_failed");
    await waitFor("router b sees the gate", async () => (await enter(bApi(), open.id, "newcomer2")).body?.error === "bot_check_failed", 10_000, 50);
    expect((await bApi().call("GET", `/api/events/${open.id}`)).body.botGate).toEqual({ pow: 2 });
    // ... and off again
    expect((await a.api.patch(open.id, { botGate: null })).body.botGate).toBeNull();
    expect((await enter(a.api, open.id, "newcomer")).status).toBe(202);
  });

  test("no proof, a malformed one, or a challenge without a token: refused", async () => {
    expect((await enter(a.api, gated, "bare")).body).toMatchObject({ error: "bot_check_failed" });
    expect((await enter(a.api, gated, "bare")).status).toBe(403);
    for (const junk of ["", "x", "!!!", "e30=", encode({ challenge: {}, solution: {} }), "A".repeat(5000)]) expect((await enter(a.api, gated, "junk", junk)).status).toBe(403);
    expect((await a.api.call("GET", `/api/events/${gated}/challenge`)).status).toBe(401);
    expect((await a.api.call("GET", `/api/events/999999/challenge`, { token: token("x") })).body.error).toBe("event_not_found");
    // nobody refused got into the line
    expect(await r.zscore(`${a.prefix}:{${gated}}:waiting`, "bare")).toBeNull();
  });

  test("forged proofs: a wrong solution, a changed challenge, a self-made signature", async () => {
    const proof = decode(await solve(await challenge(a.api, gated, "forger")));
    const wrongKey = structuredClone(proof);
    wrongKey.solution.derivedKey = wrongKey.solution.derivedKey.replace(/^./, (c: string) => (c === "0" ? "1" : "0"));
    const easier = structuredClone(proof);
    easier.challenge.parameters.keyPrefix = "00";
    const resigned = structuredClone(proof);
    resigned.challenge.signature = "0".repeat(64);
    const unsigned = structuredClone(proof);
    delete unsigned.challenge.signature;
    for (const p of [wrongKey, easier, resigned, unsigned]) expect((await enter(a.api, gated, "forger", encode(p))).body.error).toBe("bot_check_failed");
    // the untouched proof passes: it was each change that was refused
    expect((await enter(a.api, gated, "forger", encode(proof))).status).toBe(202);
  });

  test("another user's or another event's proof is refused; the user's own works once", async () => {
    const mine = await solve(await challenge(a.api, gated, "alice"));
    expect((await enter(a.api, gated, "mallory", mine)).body.error).toBe("bot_check_failed");
    expect((await enter(a.api, other, "alice", mine)).body.error).toBe("bot_check_failed");
    // a binding edited to the thief's name breaks the signature
    const stolen = decode(mine);
    stolen.challenge.parameters.data.u = "mallory";
    expect((await enter(a.api, gated, "mallory", encode(stolen))).body.error).toBe("bot_check_failed");
    expect((await enter(a.api, gated, "alice", mine)).status).toBe(202);
    // in line now: no new proof needed
    expect((await enter(a.api, gated, "alice")).status).toBe(202);
    expect((await enter(bApi(), gated, "alice")).status).toBe(202);
  });

  test("an expired challenge is refused, even solved", async () => {
    const gate = new BotGate(`bot-gate:${JWT_SECRET}`, r, a.prefix);
    const old = await gate.challenge(gated, "late", 6, Date.now() - 301_000);
    expect((await enter(a.api, gated, "late", await solve(old))).body.error).toBe("bot_check_failed");
    // the same made now, with the same key, passes: it was the age that was refused
    expect((await enter(a.api, gated, "late", await solve(await gate.challenge(gated, "late", 6)))).status).toBe(202);
  });

  test("a proof is single-use across router processes: replayed on the second router after leaving the line", async () => {
    const proof = await solve(await challenge(bApi(), gated, "bob"));
    expect((await enter(a.api, gated, "bob", proof)).status).toBe(202);
    expect((await a.api.call("DELETE", `/api/events/${gated}/queue`, { token: token("bob") })).status).toBe(204);
    expect((await enter(bApi(), gated, "bob", proof)).body.error).toBe("bot_check_failed");
    expect((await enter(a.api, gated, "bob", proof)).body.error).toBe("bot_check_failed");
    // a fresh one gets bob back in
    expect((await enter(bApi(), gated, "bob", await solve(await challenge(bApi(), gated, "bob")))).status).toBe(202);
  });

  test("the same proof sent to both routers at once lets the user in once, never a second user", async () => {
    const proof = await solve(await challenge(a.api, gated, "twin"));
    const replies = await Promise.all([enter(a.api, gated, "twin", proof), enter(bApi(), gated, "twin", proof)]);
    // one spent it; the other either saw twin in line already (202) or not yet (403): never two places
    expect(replies.map((x) => x.status)).toContain(202);
    expect(await r.zcard(`${a.prefix}:{${gated}}:waiting`)).toBeGreaterThan(0);
    expect(await r.zscore(`${a.prefix}:{${gated}}:waiting`, "twin")).not.toBeNull();
  });

  test("refusals are counted: the metric by reason, the event's door outcomes and its funnel", async () => {
    const metrics = await readMetrics(a.url);
    const uncounted = ["missing", "malformed", "mismatch", "invalid", "expired", "replayed", "passed", "known"].filter((result) => !(valueOf(metrics, "coupon_bot_checks_total", { result })! >= 1));
    expect(uncounted).toEqual([]);
    expect(valueOf(metrics, "coupon_door_outcomes_total", { event_id: gated, outcome: "bot_check_failed" })).toBeGreaterThanOrEqual(1);
    await waitFor("the funnel count is flushed", async () => Number(await r.hget(`${a.prefix}:{${gated}}:funnel`, "bot_check_failed")) > 5, 10_000, 50);
  });
});

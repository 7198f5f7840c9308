// Waiting tickets: the signature checked as a user token's is (synchronous HMAC, one spelling, HS256
// only), the claims by jose. Every forgery an attacker could try with or without the ticket key fails.
import { describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { JWT_SECRET } from "../../scripts/testkit";
import { TICKET_AUD, TICKET_TYP, Tickets } from "./ticket";

const KEY = createHmac("sha256", JWT_SECRET).update("coupon-ticket-v1").digest();
const b64 = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
const nowS = () => Math.floor(Date.now() / 1000);
const HEADER = { alg: "HS256", typ: TICKET_TYP };
const CLAIMS = () => ({ sub: "alice", aud: TICKET_AUD, ev: 7, seq: 3, jat: nowS(), iat: nowS(), exp: nowS() + 600 });
/** A ticket with any header and claims, HMAC-signed with `key` and `hash` (or unsigned). */
function ticket(header: Record<string, unknown> = HEADER, claims: Record<string, unknown> = CLAIMS(), key: Buffer | string = KEY, hash: "sha256" | "sha512" | null = "sha256") {
  const signing = `${b64(header)}.${b64(claims)}`;
  return `${signing}.${hash ? createHmac(hash, key).update(signing).digest("base64url") : ""}`;
}
const fresh = () => new Tickets(JWT_SECRET);

describe("waiting tickets", () => {
  test("a ticket it signed verifies (synchronously) to its claims, and is remembered", () => {
    const t = fresh();
    const joinedAt = Date.now() - 5000;
    const signed = t.sign({ user: "alice", eventId: 7, seq: 3, joinedAt, endsAt: Date.now() + 60_000 });
    const claims = t.verify(signed);
    expect(claims).toMatchObject({ user: "alice", eventId: 7, seq: 3, joinedAt: Math.floor(joinedAt / 1000) * 1000 });
    expect(t.cached(signed)).toEqual(claims!);
    // a hand-made ticket with the right key and shape is as good
    expect(fresh().verify(ticket())).toMatchObject({ user: "alice", eventId: 7, seq: 3 });
  });

  test("one ticket, one spelling: re-encoded, padded or garbage-inside signatures and parts are refused", () => {
    const good = ticket();
    const [h, p, sig] = good.split(".") as [string, string, string];
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const spareBits = sig.slice(0, -1) + alphabet[alphabet.indexOf(sig.at(-1)!) ^ 1];
    const spellings = [`${h}.${p}.${sig}!!`, `${h}.${p}.${sig}=`, `${h}.${p}.${sig.slice(0, 10)}***${sig.slice(10)}`, `${h}.${p}.${spareBits}`, `${h}.${p}=.${sig}`, `${h}=.${p}.${sig}`, `${h}.${p}.${sig}%`, `${good}.`, ` ${good}`];
    // checked on a process that never saw the genuine one, and on one that verified it first
    const seen = fresh();
    expect(seen.verify(good)).not.toBeNull();
    for (const v of spellings) for (const [who, t] of [["fresh", fresh()], ["seen", seen]] as const) expect({ v, who, claims: t.verify(v) }).toEqual({ v, who, claims: null });
  });

  test("only HS256 with the ticket key and the ticket typ: other algorithms, keys, typ and crit are refused", () => {
    const cases: Record<string, string> = {
      "alg none": ticket({ alg: "none", typ: TICKET_TYP }, CLAIMS(), KEY, null),
      "alg HS512": ticket({ alg: "HS512", typ: TICKET_TYP }, CLAIMS(), KEY, "sha512"),
      "alg RS256 (HMAC-signed)": ticket({ alg: "RS256", typ: TICKET_TYP }),
      "no alg": ticket({ typ: TICKET_TYP }),
      "a user token's typ": ticket({ alg: "HS256", typ: "JWT" }),
      "no typ": ticket({ alg: "HS256" }),
      "crit": ticket({ ...HEADER, crit: ["b64"], b64: false }),
      "header not an object": `${b64("[1]")}.${b64(CLAIMS())}.${createHmac("sha256", KEY).update(`${b64("[1]")}.${b64(CLAIMS())}`).digest("base64url")}`,
      "signed with the user-token secret": ticket(HEADER, CLAIMS(), JWT_SECRET),
      "signed with another secret's ticket key": ticket(HEADER, CLAIMS(), createHmac("sha256", "another-secret-0123456789abcdef").update("coupon-ticket-v1").digest()),
      "signature cut short": ticket().slice(0, -4),
      "over 2 KiB": ticket(HEADER, { ...CLAIMS(), pad: "x".repeat(2048) }),
    };
    for (const [what, t] of Object.entries(cases)) expect({ what, claims: fresh().verify(t) }).toEqual({ what, claims: null });
  });

  test("claims: aud, exp, nbf and the ticket's own fields are checked", () => {
    const c = CLAIMS();
    const bad: Record<string, Record<string, unknown>> = {
      "no exp": { ...c, exp: undefined },
      "exp a string": { ...c, exp: String(c.exp) },
      "expired a minute ago": { ...c, exp: nowS() - 60 },
      "nbf in the future": { ...c, nbf: nowS() + 60 },
      "nbf not a number": { ...c, nbf: "soon" },
      "no aud": { ...c, aud: undefined },
      "another aud": { ...c, aud: "coupon-user" },
      "no sub": { ...c, sub: undefined },
      "sub not a user id": { ...c, sub: "../../admin" },
      "event 0": { ...c, ev: 0 },
      "event a string": { ...c, ev: "7" },
      "seq negative": { ...c, seq: -1 },
      "seq fractional": { ...c, seq: 1.5 },
      "no jat": { ...c, jat: undefined },
    };
    for (const [what, claims] of Object.entries(bad)) expect({ what, claims: fresh().verify(ticket(HEADER, claims)) }).toEqual({ what, claims: null });
    // the same claims, properly formed, verify
    expect(fresh().verify(ticket(HEADER, { ...c, nbf: nowS() - 60, aud: [TICKET_AUD, "other"] }))).toMatchObject({ user: "alice" });
  });

  test("an expired ticket is refused also once remembered; a remembered one is matched on the whole token", () => {
    const t = fresh();
    const now = Date.now();
    const signed = t.sign({ user: "bob", eventId: 1, seq: 1, joinedAt: now, endsAt: now + 2000 });
    expect(t.verify(signed, now)).not.toBeNull();
    expect(t.verify(signed, now + 3000)).toBeNull();
    // same signature, other claims: the cache is keyed by the signature but compares the whole token
    const [h, , sig] = signed.split(".") as [string, string, string];
    expect(t.verify(`${h}.${b64({ ...CLAIMS(), sub: "thief", ev: 1 })}.${sig}`, now)).toBeNull();
  });
});

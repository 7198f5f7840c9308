// User tokens: verified by jose, one spelling per token, short-lived, and remembered in a bounded LRU
// that only verified tokens ever enter.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { createHmac } from "node:crypto";
import { JWT_SECRET, startServer, stopServer, token, type Started } from "../scripts/testkit";
import { CLOCK_TOLERANCE_S, createAuth, isCanonicalJwt, jwtVerifier, MAX_TOKEN_TTL_S, signJwt } from "./auth";

setDefaultTimeout(120_000);

const b64 = (v: unknown) => Buffer.from(typeof v === "string" ? v : JSON.stringify(v)).toString("base64url");
const nowS = () => Math.floor(Date.now() / 1000);
/** A token with any header and claims, HMAC-signed with `hash` (or unsigned). */
function jwt(header: Record<string, unknown>, claims: Record<string, unknown>, secret = JWT_SECRET, hash: "sha256" | "sha512" | null = "sha256") {
  const signing = `${b64(header)}.${b64(claims)}`;
  return `${signing}.${hash ? createHmac(hash, secret).update(signing).digest("base64url") : ""}`;
}
const HS256 = { alg: "HS256", typ: "JWT" };
const valid = (claims: Record<string, unknown> = {}) => jwt(HS256, { sub: "alice", exp: nowS() + 600, ...claims });

const verify = jwtVerifier({ secret: JWT_SECRET });

/** Spellings of `t` that a lenient base64url decoder reads as the same bytes. */
function respellings(t: string): string[] {
  const [h, p, sig] = t.split(".") as [string, string, string];
  // the last character of a 32-byte signature carries 2 unused bits: flip one of them
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  const last = alphabet.indexOf(sig.at(-1)!);
  const spareBits = sig.slice(0, -1) + alphabet[last ^ 1];
  return [`${h}.${p}.${sig}!!`, `${h}.${p}.${sig}=`, `${h}.${p}.${sig.slice(0, 10)}***${sig.slice(10)}`, `${h}.${p}.${spareBits}`, `${h}.${p}=.${sig}`, `${h}=.${p}.${sig}`, `${h}.${p}.${sig}%`];
}

describe("user tokens are verified by jose", () => {
  test("a valid HS256 token names its user", async () => {
    expect(await verify(valid())).toMatchObject({ sub: "alice" });
    expect(await verify(signJwt(JWT_SECRET, "bob_1-2", 60))).toMatchObject({ sub: "bob_1-2" });
  });

  test("one token, one spelling: re-encoded, padded or garbage-inside signatures are refused", async () => {
    const t = valid();
    for (const v of respellings(t)) {
      const sig = v.split(".")[2]!;
      // each spelling still decodes to the genuine signature (or header/payload): lenient decoding would accept it
      if (v.startsWith(t.split(".").slice(0, 2).join("."))) expect(Buffer.from(sig, "base64url").equals(Buffer.from(t.split(".")[2]!, "base64url"))).toBe(true);
      expect({ v, canonical: isCanonicalJwt(v), claims: await verify(v) }).toEqual({ v, canonical: false, claims: null });
    }
  });

  test("only HS256: alg none, HS512 and RS256 headers are refused", async () => {
    const claims = { sub: "alice", exp: nowS() + 600 };
    expect(await verify(jwt({ alg: "none", typ: "JWT" }, claims, JWT_SECRET, null))).toBeNull();
    expect(await verify(jwt({ alg: "HS512", typ: "JWT" }, claims, JWT_SECRET, "sha512"))).toBeNull();
    expect(await verify(jwt({ alg: "RS256", typ: "JWT" }, claims))).toBeNull();
    expect(await verify(jwt({ typ: "JWT" }, claims))).toBeNull();
    expect(await verify(jwt(HS256, claims, "another-secret-0123456789"))).toBeNull();
  });

  test("exp: required, whole seconds, not past, at most 30 days ahead", async () => {
    const bad: [string, Record<string, unknown>][] = [
      ["missing", { exp: undefined }],
      ["in milliseconds", { exp: Date.now() + 600_000 }],
      ["1e308", { exp: 1e308 }],
      ["31 days ahead", { exp: nowS() + 31 * 86400 }],
      ["a string", { exp: String(nowS() + 600) }],
      ["fractional", { exp: nowS() + 600.5 }],
      ["a minute ago", { exp: nowS() - 60 }],
    ];
    for (const [what, claims] of bad) expect({ what, claims: await verify(valid(claims)) }).toEqual({ what, claims: null });
    expect(await verify(valid({ exp: nowS() + MAX_TOKEN_TTL_S - 60 }))).toMatchObject({ sub: "alice" });
    // a shop clock a little behind ours is forgiven
    expect(await verify(valid({ exp: nowS() - 1 }))).toMatchObject({ sub: "alice" });
  });

  test("nbf is honoured, with a small clock tolerance", async () => {
    expect(await verify(valid({ nbf: nowS() + 60 }))).toBeNull();
    expect(await verify(valid({ nbf: nowS() + CLOCK_TOLERANCE_S - 2 }))).toMatchObject({ sub: "alice" });
    expect(await verify(valid({ nbf: nowS() - 60 }))).toMatchObject({ sub: "alice" });
    expect(await verify(valid({ nbf: "soon" }))).toBeNull();
  });

  test("iss and aud are required when AUTH_JWT_ISSUER / AUTH_JWT_AUDIENCE are set", async () => {
    const strict = jwtVerifier({ secret: JWT_SECRET, issuer: "https://shop.example", audience: "coupons" });
    expect(await strict(valid())).toBeNull();
    expect(await strict(valid({ iss: "https://shop.example" }))).toBeNull();
    expect(await strict(valid({ aud: "coupons" }))).toBeNull();
    expect(await strict(valid({ iss: "https://evil.example", aud: "coupons" }))).toBeNull();
    expect(await strict(valid({ iss: "https://shop.example", aud: "other" }))).toBeNull();
    expect(await strict(valid({ iss: "https://shop.example", aud: "coupons" }))).toMatchObject({ sub: "alice" });
    expect(await strict(valid({ iss: "https://shop.example", aud: ["other", "coupons"] }))).toMatchObject({ sub: "alice" });
  });

  test("sub must be a user id", async () => {
    for (const sub of ["", "../../admin", "a".repeat(65), "a b", 42, null]) expect({ sub, claims: await verify(valid({ sub })) }).toEqual({ sub, claims: null });
  });
});

describe("verified tokens are remembered in a bounded cache", () => {
  const header = (t: string) => `Bearer ${t}`;

  test("when full, idle tokens go first; the ones in use stay, however many others arrive", async () => {
    const auth = createAuth({ secret: JWT_SECRET, adminToken: "admin-token-123", cacheSize: 6 });
    const active = token("active");
    const idle = token("idle");
    await auth.authenticate(header(active));
    await auth.authenticate(header(idle));
    for (let i = 0; i < 200; i++) {
      // the active user polls between every newcomer; the idle one never comes back
      expect(auth.user(header(active))).toBe("active");
      await auth.authenticate(header(token(`churn${i}`)));
      expect(auth.cacheSize()).toBeLessThanOrEqual(6);
    }
    expect(auth.isCached(active)).toBe(true);
    expect(auth.isCached(idle)).toBe(false);
    expect(() => auth.user(header(idle))).toThrow("invalid or expired token");
    // still a valid token: verified again on its next request, and remembered again
    await auth.authenticate(header(idle));
    expect(auth.user(header(idle))).toBe("idle");
  });

  test("a flood of junk, forgeries and re-spellings never enters the cache, so it evicts nobody", async () => {
    const auth = createAuth({ secret: JWT_SECRET, adminToken: "admin-token-123", cacheSize: 4 });
    const honest = ["h1", "h2", "h3", "h4"].map((u) => token(u));
    for (const t of honest) await auth.authenticate(header(t));
    const junk: string[] = [];
    for (let i = 0; i < 1000; i++) {
      junk.push(...respellings(honest[i % 4]!));
      junk.push(jwt(HS256, { sub: `forged${i}`, exp: nowS() + 600 }, "not-the-secret-0123456789"));
      junk.push(jwt(HS256, { sub: `old${i}`, exp: nowS() - 3600 }));
      junk.push(`${b64({ alg: "HS256" })}.${b64({ sub: `x${i}` })}.${"A".repeat(43)}`);
    }
    for (const t of junk) await auth.authenticate(header(t));
    expect(auth.cacheSize()).toBe(4);
    expect(honest.map((t, i) => auth.user(header(t)) === `h${i + 1}`)).toEqual([true, true, true, true]);
    expect(junk.filter((t) => auth.userOrNull(header(t)) !== null)).toEqual([]);
  });
});

describe("through the server", () => {
  let s: Started, strict: Started;
  beforeAll(async () => {
    s = await startServer();
    strict = await startServer({ AUTH_JWT_ISSUER: "https://shop.example", AUTH_JWT_AUDIENCE: "coupons" });
  });
  afterAll(async () => {
    await stopServer(s);
    await stopServer(strict);
  });

  test("2,000 re-spelled copies of one valid token: every one 401, and none of them is remembered", async () => {
    const id = (await s.api.createEvent({ name: "respelled", stock: 10, trafficRpm: 1_000_000, runningCapacity: 100 })).body.id;
    const t = token(`respell-${id}`);
    expect((await s.api.call("POST", `/api/events/${id}/enter`, { token: t })).status).toBe(200);
    const cached = s.auth.cacheSize();
    const [h, p, sig] = t.split(".");
    // every one of these decodes to the genuine signature
    const copies = Array.from({ length: 2000 }, (_, i) => `${h}.${p}.${sig}${"!".repeat(1 + (i % 40))}${"=".repeat(i % 3)}${"*".repeat(Math.floor(i / 40))}`);
    const statuses = new Set<number>();
    for (const c of copies) statuses.add((await s.api.call("GET", `/api/events/${id}/coupon`, { token: c })).status);
    expect([...statuses]).toEqual([401]);
    expect(s.auth.cacheSize()).toBe(cached);
  });

  test("AUTH_JWT_ISSUER / AUTH_JWT_AUDIENCE: a token from elsewhere is a 401", async () => {
    const id = (await strict.api.createEvent({ name: "iss aud", stock: 10, trafficRpm: 1_000_000, runningCapacity: 100 })).body.id;
    const enter = (t: string) => strict.api.call("POST", `/api/events/${id}/enter`, { token: t });
    expect((await enter(token("no-iss"))).body).toMatchObject({ error: "unauthorized" });
    expect((await enter(signJwt(JWT_SECRET, "wrong-aud", 600, { iss: "https://shop.example", aud: "other" }))).status).toBe(401);
    expect((await enter(signJwt(JWT_SECRET, "right", 600, { iss: "https://shop.example", aud: "coupons" }))).status).toBe(200);
  });
});

// The shop's brand on the pages (issue #22): set at create and by PATCH, checked as an attacker
// would send it, carried by the public event info (router view included), audited; and who may
// frame the pages (EMBED_ORIGINS).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ADMIN_TOKEN, startServer, stopServer, waitFor, type Started } from "../../scripts/testkit";

let s: Started;
let framed: Started;
beforeAll(async () => {
  s = await startServer();
  framed = await startServer({ EMBED_ORIGINS: "https://shop.example,https://m.shop.example:8443" });
});
afterAll(async () => {
  await stopServer(s);
  await stopServer(framed);
});

const BRAND = { shopName: "무신사 Musinsa", logoUrl: "https://cdn.shop.example/logo.svg", accentColor: "#E4002B", returnUrl: "https://shop.example/sale?from=coupon" };
const base = { name: "Branded", stock: 5, trafficRpm: 100, runningCapacity: 5 };

describe("brand", () => {
  test("set at create, shown in the public event info and the admin view; PATCH changes and clears it", async () => {
    const c = await s.api.createEvent({ ...base, brand: BRAND });
    expect(c.status).toBe(201);
    // the colour is kept in lower case, URLs as the URL parser writes them
    const kept = { ...BRAND, accentColor: "#e4002b" };
    expect(c.body.brand).toEqual(kept);
    const id = c.body.id;
    const pub = await s.api.call("GET", `/api/events/${id}`);
    expect(pub.body).toMatchObject({ brand: kept, couponValidUntil: null, paused: false });

    // the router's view sees the change at once (this process made it) and so does every other within a flush
    const p = await s.api.patch(id, { brand: { shopName: "Other shop" } });
    expect(p.status).toBe(200);
    expect(p.body.brand).toEqual({ shopName: "Other shop", logoUrl: null, accentColor: null, returnUrl: null });
    await waitFor("the public info to show the new brand", async () => (await s.api.call("GET", `/api/events/${id}`)).body.brand?.shopName === "Other shop", 10_000);
    expect((await s.api.patch(id, { brand: null })).body.brand).toBeNull();
    await waitFor("the brand to be gone", async () => (await s.api.call("GET", `/api/events/${id}`)).body.brand === null, 10_000);
    expect((await s.api.stats(id)).body.brand).toBeNull();

    // an event without one has null
    const plain = await s.api.createEvent(base);
    expect(plain.body.brand).toBeNull();
    expect((await s.api.call("GET", `/api/events/${plain.body.id}`)).body.brand).toBeNull();
  });

  test("survives Redis losing the event (rebuilt from MySQL)", async () => {
    const id = (await s.api.createEvent({ ...base, brand: BRAND })).body.id;
    await s.redis.del(`${s.prefix}:{${id}}:meta`);
    await waitFor("the event rebuilt with its brand", async () => (await s.api.call("GET", `/api/events/${id}`)).body.brand?.shopName === BRAND.shopName, 15_000);
  });

  test("bad brands are a 400 and change nothing", async () => {
    const id = (await s.api.createEvent({ ...base, brand: BRAND })).body.id;
    const bad: unknown[] = [
      { ...BRAND, logoUrl: "http://cdn.shop.example/logo.svg" },
      { ...BRAND, logoUrl: "javascript:alert(1)" },
      { ...BRAND, returnUrl: "https://user:pw@shop.example/" },
      { ...BRAND, returnUrl: "https:///" },
      { ...BRAND, returnUrl: "data:text/html,<script>alert(1)</script>" },
      { ...BRAND, returnUrl: "//shop.example" },
      { ...BRAND, accentColor: "red" },
      { ...BRAND, accentColor: "#e4002" },
      { ...BRAND, accentColor: "#e4002b; background:url(x)" },
      { ...BRAND, shopName: "" },
      { ...BRAND, shopName: "   " },
      { ...BRAND, shopName: "line\nbreak" },
      { ...BRAND, shopName: "evil\u202eetirovaf" },
      { ...BRAND, shopName: "x".repeat(81) },
      { ...BRAND, extra: 1 },
      { logoUrl: BRAND.logoUrl },
      "Musinsa",
      [BRAND],
      42,
    ];
    for (const brand of bad) {
      const patch = await s.api.patch(id, { brand });
      expect([patch.status, patch.body.error, JSON.stringify(brand)]).toEqual([400, "bad_request", JSON.stringify(brand)]);
      const create = await s.api.createEvent({ ...base, brand });
      expect([create.status, JSON.stringify(brand)]).toEqual([400, JSON.stringify(brand)]);
    }
    expect((await s.api.call("GET", `/api/events/${id}`)).body.brand).toEqual({ ...BRAND, accentColor: "#e4002b" });
  });

  test("a brand change is audited, before and after", async () => {
    const id = (await s.api.createEvent({ ...base, brand: BRAND })).body.id;
    expect((await s.api.patch(id, { brand: { ...BRAND, accentColor: "#000000" } })).status).toBe(200);
    const audit = await s.api.call("GET", `/admin/audit?eventId=${id}`, { token: ADMIN_TOKEN });
    const patch = audit.body.entries.find((e: any) => e.action === "patch");
    expect(patch.before.brand.accentColor).toBe("#e4002b");
    expect(patch.after.brand.accentColor).toBe("#000000");
  });
});

describe("framing", () => {
  test("without EMBED_ORIGINS nobody may frame the pages", async () => {
    for (const path of ["/events/1", "/events/1/waiting", "/admin"]) {
      const res = await fetch(`${s.url}${path}`);
      expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
      expect(res.headers.get("x-frame-options")).toBe("DENY");
    }
  });
  test("with EMBED_ORIGINS exactly those origins may frame the user pages; the admin page never", async () => {
    for (const path of ["/events/1", "/events/1/waiting"]) {
      const res = await fetch(`${framed.url}${path}`);
      expect(res.headers.get("content-security-policy")).toContain("frame-ancestors https://shop.example https://m.shop.example:8443");
      expect(res.headers.get("x-frame-options")).toBeNull();
    }
    const admin = await fetch(`${framed.url}/admin`);
    expect(admin.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    expect(admin.headers.get("x-frame-options")).toBe("DENY");
  });
});

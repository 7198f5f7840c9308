// A shop, end to end, against a real server: it creates its event with an Idempotency-Key (twice:
// one event), runs a rush, redeems with retries (409 pending until the row is persisted), unredeems
// a cancelled order, voids, grants a make-good; its HTTPS endpoint receives every webhook type and
// checks each with the `standardwebhooks` package's own Webhook.verify, which also rejects a replayed
// delivery; the endpoint goes down for a while and what it missed is redelivered from the admin API.
// A schema of its own: an event with a webhookUrl makes an issuer without WEBHOOK_SECRET refuse to start.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, setSystemTime, test } from "bun:test";
import { ADMIN_TOKEN, NO_USER_LIMITS, pool, startServer, stopServer, waitFor, type Started } from "../../scripts/testkit";
import { receiver, webhookTestFile } from "./receiver";

setDefaultTimeout(180_000);

// the Standard Webhooks form of the secret: whsec_ + base64 of the key's bytes
const SECRET = `whsec_${Buffer.from("a shop's webhook key, 32 bytes!!").toString("base64")}`;
const { tls, env } = webhookTestFile("shop", SECRET);
const hook = receiver(tls, SECRET);
let s: Started;

type Res = { status: number; body: any; headers: Headers };
async function admin(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Res> {
  const res = await fetch(s.url + path, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json", ...headers }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: await res.json(), headers: res.headers };
}

/** What a shop's checkout does: redeem, and on 409 pending wait Retry-After and try again. */
async function redeemWithRetries(code: string, orderId: string, log: number[]) {
  for (;;) {
    const r = await admin("POST", `/admin/coupons/${code}/redeem`, { orderId });
    log.push(r.status);
    if (r.status !== 409 || r.body.error !== "pending") return r;
    const wait = Number(r.headers.get("retry-after"));
    expect(wait).toBe(1);
    await Bun.sleep(wait * 1000);
  }
}

const statusChanges = () => hook.ofType("event.status_changed").map((p) => `${p.data.previous}→${p.data.status}`);

describe("a shop, end to end", () => {
  beforeAll(async () => {
    // a failed delivery waits a long backoff: only a redeliver brings it sooner
    const backoff = { WEBHOOK_RETRY_BASE_MS: "120000", WEBHOOK_RETRY_MAX_MS: "120000" };
    s = await startServer({ ...env, ...NO_USER_LIMITS, RATE_LIMIT_ADMIN_PER_SEC: "0", ...backoff });
  });
  afterAll(async () => {
    hook.stop();
    if (s) await stopServer(s);
  });
  test("create ×2 with one key, rush, redeem with retries, unredeem, void, grant; every webhook verified; replays rejected; missed deliveries redelivered", async () => {
    // 1. create, retried with the same Idempotency-Key: one event
    const body = { name: "shop e2e", stock: 20, trafficRpm: 0, runningCapacity: 8, admitPerSecond: 50, webhookUrl: hook.url };
    const [a, b] = [await admin("POST", "/admin/events", body, { "idempotency-key": "shop-create-1" }), await admin("POST", "/admin/events", body, { "idempotency-key": "shop-create-1" })];
    expect(a.status).toBe(201);
    expect(b).toMatchObject({ status: 201, body: a.body });
    const id = a.body.id as number;
    expect((await admin("GET", "/admin/events?limit=100")).body.events.filter((e: any) => e.name === "shop e2e").length).toBe(1);
    // the watcher has seen the event open before the rush (its first look is recorded, not announced)
    await waitFor("status recorded", async () => {
      const [[row]] = (await s.mysql!.pool.query("SELECT webhook_status FROM coupon_events WHERE id = ?", [id])) as any;
      return row.webhook_status === "open";
    });

    // 2. the rush: 60 users through the waiting room for 20 coupons
    const codes = new Map<string, string>();
    const users = Array.from({ length: 60 }, (_, i) => `shopper-${i}`);
    await pool(users, 30, async (u) => {
      for (let r = await s.api.enter(id, u); ; r = await s.api.poll(id, u)) {
        if (r.body?.status === "admitted") break;
        if (r.status >= 400 || r.body?.status === "sold_out" || r.body?.status === "closed") return;
        await Bun.sleep(r.body?.pollAfterMs ?? 200);
      }
      const issued = await s.api.issue(id, u);
      if (issued.status === 201) codes.set(u, issued.body.code);
    });
    expect(codes.size).toBe(20);
    await waitFor("every winner announced", async () => hook.ofType("coupon.issued").flatMap((p) => p.data.issues).length >= 20);
    await waitFor("sold out announced", async () => statusChanges().includes("open→sold_out"));

    // 3. a make-good on a sold-out event: raise the stock (announced), then grant, while the issuer is
    //    stopped so the code is promised but not persisted: the checkout's redeem meets 409 pending
    expect((await s.api.patch(id, { stock: 21 })).status).toBe(200);
    await waitFor("reopened announced", async () => statusChanges().includes("sold_out→open"));
    await s.issuer!.stop();
    const grant = await admin("POST", `/admin/events/${id}/grants`, { userId: "support-ticket-77", reason: "parcel lost" }, { "idempotency-key": "grant-77" });
    expect(grant.status).toBe(201);
    const granted = grant.body.code as string;
    const log: number[] = [];
    const restart = setTimeout(() => s.issuer!.start(), 2500);
    const redeemed = await redeemWithRetries(granted, "order-77", log);
    clearTimeout(restart);
    s.issuer!.start();
    expect(redeemed.status).toBe(200);
    expect(log[0]).toBe(409);
    expect(log.filter((c) => c === 409).length).toBeGreaterThanOrEqual(2);
    console.log(`shop: redeem of a fresh grant answered ${log.join(", ")}`);
    // the grant's retry with its key: the same reply, nothing granted twice
    expect((await admin("POST", `/admin/events/${id}/grants`, { userId: "support-ticket-77", reason: "parcel lost" }, { "idempotency-key": "grant-77" })).body).toEqual(grant.body);

    // 4. redeem a rush winner (with a retry of the same order), cancel the order, void another
    const [[u1, c1], [u2, c2]] = [...codes.entries()] as [[string, string], [string, string]];
    expect((await redeemWithRetries(c1, "order-1", [])).status).toBe(200);
    expect((await admin("POST", `/admin/coupons/${c1}/redeem`, { orderId: "order-1" })).status).toBe(200);
    expect((await admin("POST", `/admin/coupons/${c1}/unredeem`, { orderId: "order-1" })).body).toMatchObject({ code: c1, redeemedAt: null });
    expect((await admin("POST", `/admin/coupons/${c2}/void`, { reason: "duplicate account" })).status).toBe(200);
    expect((await admin("POST", `/admin/coupons/${c2}/redeem`, { orderId: "order-2" })).body.error).toBe("voided");
    await waitFor("redeemed, unredeemed and voided delivered", async () =>
      ["coupon.redeemed", "coupon.unredeemed", "coupon.voided"].every((t) => hook.ofType(t).length > 0),
    );

    // 5. the endpoint goes down; a void made meanwhile fails to arrive and waits its (long) backoff
    hook.down();
    const [, c3] = [...codes.entries()][2]!;
    expect((await admin("POST", `/admin/coupons/${c3}/void`, { reason: "while the shop was down" })).status).toBe(200);
    let missed: any = null;
    await waitFor("the delivery failed", async () => {
      const page = (await admin("GET", `/admin/events/${id}/webhooks?limit=500`)).body;
      missed = page.deliveries.find((d: any) => d.type === "coupon.voided" && d.status === "retrying");
      return !!missed;
    });
    expect(missed).toMatchObject({ attempts: 1, deliveredAt: null, lastError: expect.any(String) });
    expect(Date.parse(missed.nextAttemptAt) - Date.now()).toBeGreaterThan(30_000);
    // back up; an operator redelivers now instead of waiting out the backoff
    hook.up();
    const before = hook.received.length;
    const redeliver = await admin("POST", `/admin/webhooks/${missed.webhookId}/redeliver`);
    expect(redeliver.status).toBe(202);
    // due now, whatever the backoff said
    expect(redeliver.body).toMatchObject({ id: missed.id, status: "retrying", deliveredAt: null });
    expect(Date.parse(redeliver.body.nextAttemptAt)).toBeLessThanOrEqual(Date.now());
    await waitFor("redelivered", async () => hook.received.slice(before).some((r) => r.id === missed.webhookId));
    expect((await admin("GET", `/admin/webhooks/${missed.id}`)).body).toMatchObject({ status: "delivered", attempts: 2, payload: { type: "coupon.voided", data: { code: c3, reason: "while the shop was down" } } });
    // a delivered one may be sent again too, with the same webhook-id (receivers deduplicate on it)
    const again = hook.received.length;
    expect((await admin("POST", `/admin/webhooks/${missed.id}/redeliver`)).status).toBe(202);
    await waitFor("sent again", async () => hook.received.slice(again).some((r) => r.id === missed.webhookId));

    // 6. close: announced
    expect((await admin("POST", `/admin/events/${id}/close`)).status).toBe(200);
    await waitFor("closed announced", async () => statusChanges().some((c) => c.endsWith("→closed")));

    // every delivery verified by Webhook.verify, every type seen, payloads as documented
    expect(hook.received.every((r) => r.verified)).toBe(true);
    for (const type of ["coupon.issued", "coupon.redeemed", "coupon.unredeemed", "coupon.voided", "event.status_changed"]) expect({ type, n: hook.ofType(type).length > 0 }).toEqual({ type, n: true });
    const issued = new Map(hook.ofType("coupon.issued").flatMap((p) => p.data.issues.map((i: any) => [i.userId, i.code])));
    for (const [u, code] of codes) expect(issued.get(u)).toBe(code);
    expect(issued.get("support-ticket-77")).toBe(granted);
    expect(hook.ofType("coupon.redeemed").map((p) => p.data)).toEqual(expect.arrayContaining([{ eventId: id, userId: u1, code: c1, orderId: "order-1" }, { eventId: id, userId: "support-ticket-77", code: granted, orderId: "order-77" }]));
    expect(hook.ofType("coupon.unredeemed").map((p) => p.data)).toEqual([{ eventId: id, userId: u1, code: c1, orderId: "order-1" }]);
    expect(hook.ofType("coupon.voided").map((p) => p.data)).toEqual(expect.arrayContaining([{ eventId: id, userId: u2, code: c2, reason: "duplicate account" }]));
    expect(statusChanges().slice(0, 2)).toEqual(["open→sold_out", "sold_out→open"]);
    for (const p of hook.received.map((r) => r.payload)) expect(Number.isNaN(Date.parse(p.timestamp))).toBe(false);
    console.log(`shop: ${hook.received.length} deliveries received, types ${[...new Set(hook.received.map((r) => r.payload.type))].join(", ")}; status changes ${statusChanges().join(", ")}`);

    // a replayed delivery is rejected by Webhook.verify: its timestamp too old once 5 minutes have passed …
    const sample = hook.received.find((r) => r.payload.type === "coupon.voided")!;
    const headers = { "webhook-id": sample.id, "webhook-timestamp": sample.timestamp, "webhook-signature": sample.signature };
    expect(hook.webhook.verify(sample.raw, headers)).toEqual(sample.payload);
    setSystemTime(new Date(Date.now() + 6 * 60_000));
    try {
      expect(() => hook.webhook.verify(sample.raw, headers)).toThrow(/too old/);
    } finally {
      setSystemTime();
    }
    // … and with a fresh timestamp written in, or another body, the signature no longer matches
    expect(() => hook.webhook.verify(sample.raw, { ...headers, "webhook-timestamp": String(Number(sample.timestamp) + 7) })).toThrow(/signature/);
    expect(() => hook.webhook.verify(sample.raw.replace(sample.payload.data.code, c1), headers)).toThrow(/signature/);

    // the delivery log pages, oldest first
    const first = (await admin("GET", `/admin/events/${id}/webhooks?limit=2`)).body;
    expect(first.deliveries.length).toBe(2);
    const second = (await admin("GET", `/admin/events/${id}/webhooks?limit=2&after=${first.next}`)).body;
    expect(second.deliveries[0].id).toBeGreaterThan(first.deliveries[1].id);
    expect((await admin("GET", `/admin/events/${id}/webhooks?limit=0`)).status).toBe(400);
    expect((await admin("GET", "/admin/webhooks/msg_999999999")).status).toBe(404);
    expect((await admin("POST", "/admin/webhooks/nope/redeliver")).status).toBe(404);
    expect((await admin("GET", "/admin/events/99999999/webhooks")).status).toBe(404);
    expect((await s.api.call("GET", `/admin/events/${id}/webhooks`)).status).toBe(401);
  });

  test("the OpenAPI document names each webhook payload (x-webhooks, schemas a generator can use)", async () => {
    const spec = await (await fetch(`${s.url}/swagger/json`)).json();
    expect(Object.keys(spec["x-webhooks"]).sort()).toEqual(["coupon.issued", "coupon.redeemed", "coupon.unredeemed", "coupon.voided", "event.status_changed"]);
    for (const name of ["WebhookCouponIssued", "WebhookCouponRedeemed", "WebhookCouponUnredeemed", "WebhookCouponVoided", "WebhookEventStatusChanged", "WebhookDelivery", "Granted"])
      expect({ name, known: !!spec.components.schemas[name] }).toEqual({ name, known: true });
    expect(spec["x-webhooks"]["coupon.voided"].post.requestBody.content["application/json"].schema).toEqual({ $ref: "#/components/schemas/WebhookCouponVoided" });
    expect(spec.components.schemas.WebhookCouponIssued.properties.type).toMatchObject({ enum: ["coupon.issued"] });
  });

  test("a webhookUrl changed to a working endpoint gets what is owed now, not after the backoff", async () => {
    const dead = receiver(tls, SECRET);
    dead.down();
    const id = (await admin("POST", "/admin/events", { name: "moved endpoint", stock: 2, trafficRpm: 1_000_000, runningCapacity: 10, webhookUrl: dead.url })).body.id as number;
    await s.api.enter(id, "mover");
    expect((await s.api.issue(id, "mover")).status).toBe(201);
    await waitFor("a failed attempt", async () => (await admin("GET", `/admin/events/${id}/webhooks`)).body.deliveries.some((d: any) => d.status === "retrying"));
    const before = hook.received.length;
    expect((await s.api.patch(id, { webhookUrl: hook.url })).status).toBe(200);
    await waitFor("delivered to the new address", async () => hook.received.slice(before).some((r) => r.payload?.type === "coupon.issued" && r.payload.data.eventId === id), 30_000);
    dead.stop();
  });
});

// The admin page's webhook section in a browser: a delivery that failed while the shop's endpoint
// was down shows as failing, with why; "Redeliver now" sends it at once (its backoff is long) and
// the page shows it delivered. A schema of its own (events with a webhookUrl).
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { ADMIN_TOKEN, startServer, stopServer, waitFor, type Started } from "../../scripts/testkit";
import { browserPages, seeText } from "../web/browser-kit";
import { receiver, webhookTestFile } from "./receiver";

setDefaultTimeout(120_000);

const SECRET = "admin-page-webhook-secret-0123";
const { tls, env } = webhookTestFile("hookpage", SECRET);
const hook = receiver(tls, SECRET);
const { open } = browserPages("admin-webhooks");
let s: Started;

describe("admin page: webhook deliveries", () => {
  beforeAll(async () => {
    s = await startServer({ ...env, WEBHOOK_RETRY_BASE_MS: "300000", WEBHOOK_RETRY_MAX_MS: "300000" });
  });
  afterAll(async () => {
    hook.stop();
    if (s) await stopServer(s);
  });

  test("a failing delivery says why; Redeliver now sends it and the page shows it delivered", async () => {
    hook.down();
    const id = (await s.api.createEvent({ name: "hooked page", stock: 3, trafficRpm: 1_000_000, runningCapacity: 10, webhookUrl: hook.url })).body.id as number;
    await s.api.enter(id, "page-user");
    expect((await s.api.issue(id, "page-user")).status).toBe(201);
    await waitFor("a failed attempt", async () => (await s.api.call("GET", `/admin/events/${id}/webhooks`, { token: ADMIN_TOKEN })).body.deliveries.some((d: any) => d.status === "retrying"));

    const page = await open(`${s.url}/admin#event-${id}`);
    await page.getByLabel("ADMIN_TOKEN").fill(ADMIN_TOKEN);
    await page.getByRole("button", { name: "Sign in" }).click();
    await seeText(page, "#hooks-summary", /1 failing/);
    await seeText(page, "#hooks-list", /coupon\.issued: failing, will retry after 1 attempt; next try .* — .+/);
    hook.up();
    await page.getByRole("button", { name: /^Redeliver now: msg_\d+ coupon\.issued$/ }).click();
    await seeText(page, "#hooks-status", /is being sent now/);
    await seeText(page, "#hooks-list", /coupon\.issued: delivered after 2 attempts/);
    expect(hook.received.filter((r) => r.payload?.type === "coupon.issued" && r.verified).length).toBe(1);
    await page.getByRole("button", { name: /^Send again: msg_\d+ coupon\.issued$/ }).click();
    await waitFor("sent again", async () => hook.received.filter((r) => r.payload?.type === "coupon.issued").length === 2);
  });
});

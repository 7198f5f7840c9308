// The admin page's API keys section and the managed event's audit trail, in a browser.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ADMIN_TOKEN, startServer, stopServer, type Started } from "../../scripts/testkit";
import { browserPages, seeText } from "./browser-kit";

let s: Started;
const { open, shot } = browserPages("admin-keys");

beforeAll(async () => {
  s = await startServer();
});
afterAll(() => stopServer(s));

describe("admin page: keys and audit", () => {
  test("create a key with two scopes (shown once, and it works with just them), see it listed, revoke it; the event's audit trail names who did what", async () => {
    const id = (await s.api.createEvent({ name: "Audited on the page", stock: 5, trafficRpm: 100, runningCapacity: 5 })).body.id as number;
    const page = await open(`${s.url}/admin#event-${id}`);
    page.on("dialog", (d) => void d.accept());
    await page.getByLabel("ADMIN_TOKEN").fill(ADMIN_TOKEN);
    await page.getByRole("button", { name: "Sign in" }).click();
    await seeText(page, "#token-status", /^Signed in/);

    const name = `page-key-${Date.now().toString(36)}`;
    await page.locator("#key-name").fill(name);
    await page.getByLabel("events:read").check();
    await page.getByLabel("events:write").check();
    await page.getByRole("button", { name: "Create key" }).click();
    await seeText(page, "#keys-status", /created\. Copy it now/);
    const key = (await page.locator("#new-key").textContent())!;
    expect(key).toMatch(/^cpk_/);
    await seeText(page, "#key-rows", new RegExp(`${name}events:read, events:write`));
    // the key does what its scopes allow, and no more
    expect((await s.api.call("POST", `/admin/events/${id}/pause`, { token: key })).status).toBe(200);
    expect((await s.api.call("GET", "/admin/keys", { token: key })).status).toBe(403);
    await page.getByRole("button", { name: "I have copied it" }).click();
    expect(await page.locator("#new-key").textContent()).toBe("");
    await shot(page, "keys");

    // the audit trail of the managed event: the pause by the key, the create by root
    await seeText(page, "#audit-rows", new RegExp(`${name}pause`));
    await seeText(page, "#audit-rows", /rootcreate/);

    await page.getByRole("button", { name: `Revoke ${name}` }).click();
    await seeText(page, "#keys-status", new RegExp(`"${name}" revoked`));
    expect(await page.locator("#key-rows").textContent()).not.toContain(name);
    expect((await s.api.call("GET", "/admin/events", { token: key })).status).toBe(401);
  }, 120_000);
});

// The admin page in a browser: sign-in, the event list from the server, create, every setting,
// the controls with the stall reason, the live chart, dead letters, the winners' file, signing out.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ADMIN_TOKEN, pool, startServer, stopServer, waitFor, type Started } from "../../scripts/testkit";
import { eventKeys } from "../../src/redis";
import { newCode } from "../coupon/code";
import { browserPages, driveLine, fitsWidth, seeText } from "./browser-kit";

let s: Started;
const { open, shot } = browserPages("admin");

beforeAll(async () => {
  s = await startServer();
});
afterAll(() => stopServer(s));


describe("admin page", () => {
  /** Opens /admin in a fresh context (nothing in sessionStorage) and signs in. */
  async function signedIn(opts: { phone?: boolean; hash?: string } = {}) {
    const page = await open(`${s.url}/admin${opts.hash ?? ""}`, opts);
    // close and cancel ask first
    page.on("dialog", (d) => void d.accept());
    await page.getByLabel("ADMIN_TOKEN").fill(ADMIN_TOKEN);
    await page.getByRole("button", { name: "Sign in" }).click();
    await seeText(page, "#token-status", /^Signed in/);
    return page;
  }
  const row = (id: number) => `#event-rows tr[data-id="${id}"]`;

  test("a wrong token is refused; a fresh tab lists the events from the server; the filter and Manage work", async () => {
    const page = await open(`${s.url}/admin`);
    await page.getByLabel("ADMIN_TOKEN").fill("not-the-token");
    await page.getByRole("button", { name: "Sign in" }).click();
    await seeText(page, "#token-status", /rejected/);
    expect(await page.locator("#event-rows tr").count()).toBe(0);

    const open1 = await s.api.newEvent({ name: "Listed open", stock: 30, trafficRpm: 100, runningCapacity: 5 });
    const paused = await s.api.newEvent({ name: "Listed paused", stock: 20, trafficRpm: 100, runningCapacity: 5 });
    expect((await s.api.call("POST", `/admin/events/${paused}/pause`, { token: ADMIN_TOKEN })).status).toBe(200);

    const fresh = await signedIn();
    expect(await fresh.evaluate(() => Object.keys(sessionStorage))).toEqual(["coupon.adminToken"]);
    await seeText(fresh, `${row(open1)} td:nth-child(2)`, /^Listed open$/);
    await seeText(fresh, `${row(open1)} .badge`, /^open$/);
    await seeText(fresh, `${row(paused)} .badge`, /^paused$/);
    await seeText(fresh, `${row(open1)} td:nth-child(4)`, /^30 of 30$/);
    // newest first
    const ids = await fresh.locator("#event-rows tr").evaluateAll((trs) => trs.map((tr) => Number((tr as HTMLElement).dataset.id)));
    expect(ids).toEqual([...ids].sort((a, b) => b - a));

    await fresh.getByLabel("Show").selectOption("paused");
    await fresh.waitForFunction(() => [...document.querySelectorAll("#event-rows .badge")].every((b) => b.textContent === "paused"));
    expect(await fresh.locator(row(open1)).count()).toBe(0);
    await fresh.getByRole("button", { name: `Manage #${paused} Listed paused` }).click();
    await seeText(fresh, "#detail-title", new RegExp(`^#${paused} Listed paused$`));
    await seeText(fresh, "#detail-status", /^paused$/);
    expect(fresh.url()).toEndWith(`#event-${paused}`);
    // a reload comes back to the same event
    await fresh.reload();
    await seeText(fresh, "#detail-title", new RegExp(`^#${paused} Listed paused$`));
  }, 60_000);

  test("create with every field; every knob edited and saved; a webhook without the server's secret is refused", async () => {
    const page = await signedIn({ phone: true });
    const local = (ms: number) => {
      const d = new Date(Date.now() + ms);
      const p = (n: number) => String(n).padStart(2, "0");
      return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
    };
    const form = page.locator("#create-form");
    await form.getByLabel("Name").fill("Made in the browser");
    await form.getByLabel("Stock").fill("50");
    await form.getByLabel("Traffic (requests/min)").fill("600");
    await form.getByLabel("Running capacity").fill("5");
    await form.getByLabel("Admit per second").fill("3");
    await form.getByLabel("Max waiting").fill("1000");
    await form.getByLabel("Queue opens at").fill(local(3_600_000));
    await form.getByLabel("Starts at").fill(local(7_200_000));
    await form.getByLabel("Ends at").fill(local(10_800_000));
    await form.getByLabel("Coupons valid until").fill(local(86_400_000));
    await page.getByRole("button", { name: "Create event" }).click();
    await seeText(page, "#create-status", /^Created event #\d+/);
    const id = Number(/#(\d+)/.exec((await page.locator("#create-status").textContent())!)![1]);
    const created = (await s.api.stats(id)).body;
    expect(created).toMatchObject({ name: "Made in the browser", stock: 50, trafficRpm: 600, runningCapacity: 5, admitPerSecond: 3, maxWaiting: 1000, status: "scheduled" });
    for (const [f, ms] of [["queueOpensAt", 3_600_000], ["startsAt", 7_200_000], ["endsAt", 10_800_000], ["couponValidUntil", 86_400_000]] as const)
      expect(Math.abs(Date.parse(created[f]) - (Date.now() + ms))).toBeLessThan(120_000);
    // the new event opens in the detail view, its knobs filled in
    await seeText(page, "#detail-title", new RegExp(`^#${id} Made in the browser$`));
    const knobs = page.locator("#knobs");
    await page.waitForFunction(() => (document.querySelector("#k-admitPerSecond") as HTMLInputElement).value === "3");

    await knobs.getByLabel("Traffic (requests/min)").fill("1200");
    await knobs.getByLabel("Running capacity").fill("7");
    await knobs.getByLabel("Admit per second").fill("4");
    await knobs.getByLabel("Max waiting").fill("0");
    await knobs.getByLabel("Ends at").fill("");
    await knobs.getByLabel("Coupons valid until").fill(local(172_800_000));
    await page.getByRole("button", { name: "Save settings" }).click();
    await seeText(page, "#knobs-status", /^Saved: /);
    const saved = (await s.api.stats(id)).body;
    expect(saved).toMatchObject({ trafficRpm: 1200, runningCapacity: 7, admitPerSecond: 4, maxWaiting: 0, endsAt: null, queueOpensAt: created.queueOpensAt, startsAt: created.startsAt });
    expect(Math.abs(Date.parse(saved.couponValidUntil) - (Date.now() + 172_800_000))).toBeLessThan(120_000);

    // nothing changed: nothing sent
    await page.getByRole("button", { name: "Save settings" }).click();
    await seeText(page, "#knobs-status", /^Nothing changed/);
    // this server has no WEBHOOK_SECRET: the API refuses, the page says why, nothing changes
    await knobs.getByLabel("Webhook URL").fill("https://shop.example/hooks/coupons");
    await page.getByRole("button", { name: "Save settings" }).click();
    await seeText(page, "#knobs-status", /WEBHOOK_SECRET/);
    expect((await s.api.stats(id)).body).toMatchObject({ webhookUrl: null, trafficRpm: 1200 });
    expect(await fitsWidth(page)).toBe(true);
    await shot(page, "admin-knobs-phone");

    // cancel (it has not started): the confirm is accepted, the status follows
    await page.getByRole("button", { name: "Cancel event" }).click();
    await seeText(page, "#detail-status", /^cancelled$/);
    expect((await s.api.stats(id)).body.status).toBe("cancelled");
  }, 60_000);

  test("pause, resume and close from the page: the stall reason says why nobody is admitted", async () => {
    const id = await s.api.newEvent({ name: "Steered", stock: 100, trafficRpm: 0, runningCapacity: 1, admitPerSecond: 10 });
    const crowd = Array.from({ length: 3 }, (_, i) => `web-steer-${id}-${i}`);
    for (const u of crowd) expect((await s.api.enter(id, u)).status).toBe(202);
    const page = await signedIn({ hash: `#event-${id}` });
    await seeText(page, "#detail-title", new RegExp(`^#${id} Steered$`));
    await seeText(page, "#stall", /^Capacity full: 1 of 1 slots held; 2 waiting\.$/);
    await seeText(page, "#rate-text", /^Request rate \d+\/min of trafficRpm 0$/);
    await seeText(page, "#rate-note", /everyone goes through the waiting room/);

    await page.getByRole("button", { name: "Pause", exact: true }).click();
    await seeText(page, "#action-status", /^Paused/);
    await seeText(page, "#detail-status", /^paused$/);
    await seeText(page, "#stall", /^Paused: nobody new is admitted; 2 waiting keep their places\.$/);
    expect(await page.getByRole("button", { name: "Pause", exact: true }).isDisabled()).toBe(true);
    expect(await page.getByRole("button", { name: "Cancel event" }).isDisabled()).toBe(true);
    // the head of the line issues: its slot is not handed on while paused
    const head = crowd[0]!;
    expect((await s.api.issue(id, head)).status).toBe(201);
    await seeText(page, '#detail [data-stat="running"]', /^0 of 1$/);
    await seeText(page, "#stall", /^Paused/);
    expect((await s.api.poll(id, crowd[1]!)).body).toMatchObject({ status: "waiting", position: 1 });

    await page.getByRole("button", { name: "Resume", exact: true }).click();
    await seeText(page, "#detail-status", /^open$/);
    await waitFor("the next in line admitted", async () => (await s.api.poll(id, crowd[1]!)).body.status === "admitted", 15_000);
    await seeText(page, "#stall", /^Capacity full: 1 of 1 slots held; 1 waiting\.$/);
    await shot(page, "admin-steered");

    await page.getByRole("button", { name: "Close now" }).click();
    await seeText(page, "#detail-status", /^closed$/);
    await seeText(page, "#stall", /^The event is closed/);
    expect((await s.api.poll(id, crowd[2]!)).body).toEqual({ status: "closed" });
    for (const b of ["Pause", "Resume", "Close now", "Cancel event"]) expect(await page.getByRole("button", { name: b, exact: true }).isDisabled()).toBe(true);
  }, 60_000);

  // the page said "Nobody waiting." for an event that refused every sale
  test("units gone with no user anywhere: the stall line says so and names the call that sells them again", async () => {
    const id = await s.api.newEvent({ name: "Unaccounted", stock: 10, trafficRpm: 1_000_000_000, runningCapacity: 100 });
    const u = `web-ua-${id}`;
    expect((await s.api.enter(id, u), await s.api.issue(id, u)).status).toBe(201);
    await s.redis.hset(eventKeys(s.prefix, id).meta, "remaining", "6");
    const page = await signedIn({ hash: `#event-${id}` });
    await seeText(page, "#detail-title", new RegExp(`^#${id} Unaccounted$`));
    await seeText(page, "#stall", new RegExp(`^3 units are gone with no user for them in Redis, MySQL or the streams: nothing is sold, so that none is sold twice\\. To sell them again: POST /admin/events/${id}/release-unaccounted; or close the event \\(runbook: CouponUnitsUnaccounted\\)\\.$`));
    expect(await page.locator("#stall").getAttribute("data-kind")).toBe("warn");
    await shot(page, "admin-unaccounted");
    expect((await s.api.call("POST", `/admin/events/${id}/release-unaccounted`, { token: ADMIN_TOKEN })).body.unaccounted).toBe(0);
    await seeText(page, "#stall", /^Nobody waiting\.$/);
  }, 60_000);

  test("the live chart draws issued per second, waiting and admissions from the line", async () => {
    const id = await s.api.newEvent({ name: "Charted", stock: 1000, trafficRpm: 0, runningCapacity: 4, admitPerSecond: 4 });
    const page = await signedIn({ hash: `#event-${id}` });
    await seeText(page, "#detail-title", /Charted/);
    const crowd = Array.from({ length: 40 }, (_, i) => `web-chart-${id}-${i}`);
    await pool(crowd, 8, (u) => s.api.enter(id, u));
    const line = driveLine(s.api, id, crowd, 100);
    // a series "moved" once its line rises off the floor (y < 58 in the 0..60 box)
    const rose = (series: string) =>
      page.evaluate((k) => {
        const pts = document.querySelector(`.chart[data-series="${k}"] polyline`)!.getAttribute("points")!.trim();
        return pts ? pts.split(" ").filter((p) => Number(p.split(",")[1]) < 57.9).length : 0;
      }, series);
    try {
      await waitFor("every series drawn", async () => (await rose("issued")) > 0 && (await rose("waiting")) > 0 && (await rose("admitted")) > 0, 60_000, 250);
    } finally {
      await line.stop();
    }
    const points = await page.locator('.chart[data-series="waiting"] polyline').getAttribute("points");
    expect(points!.split(" ").length).toBeGreaterThan(1);
    for (const k of ["issued", "waiting", "admitted"]) {
      const label = await page.locator(`.chart[data-series="${k}"] svg`).getAttribute("aria-label");
      expect(label).toMatch(/over the last \d+ seconds: now [\d.,]+, peak [\d.,]+$/);
      expect(Number((await page.locator(`.chart[data-series="${k}"] .chart-peak`).textContent())!.replace(/[^\d.]/g, ""))).toBeGreaterThan(0);
    }
    await shot(page, "admin-chart");
  }, 90_000);

  test("dead letters are listed with their reason; Retry sends one back and it is stored", async () => {
    const id = await s.api.newEvent({ name: "With a dead letter", stock: 10, trafficRpm: 100, runningCapacity: 5 });
    const k = eventKeys(s.prefix, id);
    // what the issuer leaves when MySQL refused an entry: its original fields plus why
    await s.redis.xadd(k.dead, "*", "e", String(id), "u", "web-dead-user", "t", String(Date.now()), "c", newCode(), "ep", "0", "source", "1-1", "reason", "over_stock", "deadAt", String(Date.now()));
    const page = await signedIn({ hash: `#event-${id}` });
    await seeText(page, "#dead-summary", /^1 issuance could not be stored/);
    await seeText(page, "#dead-list li span", /^web-dead-user — over_stock/);
    await page.getByRole("button", { name: "Retry web-dead-user" }).click();
    await seeText(page, "#dead-status", /^Sent web-dead-user back to the issuer/);
    await waitFor("stored", async () => (await s.api.stats(id)).body.persisted === 1, 15_000);
    await seeText(page, "#dead-summary", /^None/);
  }, 60_000);

  test("Download winners sends the tab's token and saves the CSV; after Forget token every section asks to sign in", async () => {
    const id = await s.api.newEvent({ name: "Winners to download", stock: 5, trafficRpm: 1_000_000_000, runningCapacity: 5 });
    await s.api.storedCoupons(id, ["web-csv-winner"]);
    const page = await signedIn({ hash: `#event-${id}` });
    await seeText(page, "#detail-title", /Winners to download$/);
    const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download winners (CSV)" }).click()]);
    expect(download.suggestedFilename()).toBe(`event-${id}-winners.csv`);
    const csv = await Bun.file((await download.path())!).text();
    expect(csv.split("\r\n").slice(0, 2)).toEqual(["userId,code,issuedAt,redeemedAt,orderId", expect.stringMatching(/^web-csv-winner,/)]);
    await seeText(page, "#csv-status", /^Downloaded\.$/);

    await page.getByRole("button", { name: "Forget token" }).click();
    expect(await page.evaluate(() => Object.keys(sessionStorage))).toEqual([]);
    await page.getByRole("button", { name: "Download winners (CSV)" }).click();
    await seeText(page, "#csv-status", /^Sign in with the admin token first\.$/);
    await page.getByRole("button", { name: "Show message" }).click();
    await seeText(page, "#message-status", /^Sign in with the admin token first\.$/);
    // the audit trail hides itself at its next refresh
    await page.waitForFunction(() => (document.querySelector("#audit") as HTMLElement).hidden, undefined, { timeout: 15_000 });
  }, 60_000);
});

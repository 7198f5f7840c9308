import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, BrowserContext, Page } from "playwright-core";
import { ADMIN_TOKEN, pool, startServer, stopServer, token, waitFor, type Started } from "../../scripts/testkit";
import { CSP } from ".";
import { driveLine, launchChromium, PHONE, seeText } from "./browser-kit";
import { eventKeys } from "../../src/redis";
import { newCode } from "../coupon/code";

const shots = mkdtempSync(join(tmpdir(), "coupon-web-"));
let s: Started;
let browser: Browser;
const contexts: BrowserContext[] = [];
const problems: string[] = [];

beforeAll(async () => {
  s = await startServer();
  browser = await launchChromium();
  console.log("screenshots in", shots);
}, 30_000);
afterAll(async () => {
  await browser?.close();
  await stopServer(s);
});
afterEach(async () => {
  await Promise.all(contexts.splice(0).map((c) => c.close()));
  // a CSP violation or an uncaught script error fails the test that caused it
  expect(problems.splice(0)).toEqual([]);
});

async function open(url: string, opts: { phone?: boolean } = {}): Promise<Page> {
  const ctx = await browser.newContext({ ...(opts.phone ? PHONE : { viewport: { width: 1024, height: 768 } }), permissions: ["clipboard-read", "clipboard-write"] });
  contexts.push(ctx);
  const page = await ctx.newPage();
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  // a 4xx answer to fetch is logged as "Failed to load resource", and 4xx answers are part of the flow
  page.on("console", (m) => m.type() === "error" && !m.text().startsWith("Failed to load resource") && problems.push(m.text()));
  await page.goto(url);
  return page;
}


async function createEvent(body: Record<string, unknown>): Promise<number> {
  const r = await s.api.createEvent(body);
  expect(r.status).toBe(201);
  return r.body.id;
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
const fitsWidth = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
const getCoupon = (page: Page) => page.getByRole("button", { name: "Get coupon" });

describe("event page", () => {
  test("low traffic: the user presses Get coupon and is told it is issued; the stock updates live", async () => {
    const id = await createEvent({ name: "Spring sale", stock: 10, trafficRpm: 1_000_000_000, runningCapacity: 100 });
    const user = `web-low-${id}`;
    const jwt = token(user);
    const page = await open(`${s.url}/events/${id}?token=${jwt}`);
    await seeText(page, "h1", /^Spring sale$/);
    // the token moved from the address bar into this tab's sessionStorage
    expect(page.url()).toBe(`${s.url}/events/${id}`);
    expect(await page.evaluate(() => sessionStorage.getItem("coupon.token"))).toBe(jwt);
    await seeText(page, "#remaining", /^10$/);

    await getCoupon(page).click();
    await seeText(page, "#result", /^Coupon issued/);
    expect(await page.getByRole("status").filter({ hasText: "Coupon issued" }).count()).toBe(1);
    const mine = (await s.api.coupon(id, user)).body;
    expect(mine.issued).toBe(true);
    // the winner sees the code, and copies it with one press
    const region = page.getByRole("region", { name: "Your coupon code" });
    await seeText(page, "#coupon-code", new RegExp(`^${mine.code}$`));
    await region.getByRole("button", { name: "Copy code" }).click();
    await seeText(page, "#copy-status", /^Copied/);
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(mine.code);
    await seeText(page, "#remaining", /^9$/);
    expect(await getCoupon(page).isDisabled()).toBe(true);
    // someone else's coupon shows up without a reload
    await s.api.enter(id, `web-other-${id}`);
    expect((await s.api.issue(id, `web-other-${id}`)).status).toBe(201);
    await seeText(page, "#remaining", /^8$/, 10_000);
    await shot(page, "event-issued");

    await page.reload();
    await seeText(page, "#result", /^Already issued/);
    await seeText(page, "#coupon-code", new RegExp(`^${mine.code}$`));
    expect(await getCoupon(page).isDisabled()).toBe(true);
    expect((await s.api.stats(id)).body).toMatchObject({ issued: 2, remaining: 8 });
  }, 60_000);

  test("a sold-out event says sold out and offers no button to press", async () => {
    const id = await createEvent({ name: "Gone in a second", stock: 1, trafficRpm: 1_000_000_000, runningCapacity: 10 });
    expect((await s.api.enter(id, `web-first-${id}`)).status).toBe(200);
    expect((await s.api.issue(id, `web-first-${id}`)).status).toBe(201);

    const page = await open(`${s.url}/events/${id}?token=${token(`web-late-${id}`)}`, { phone: true });
    await seeText(page, "#result", /^Sold out/);
    await seeText(page, "#event-status", /^Sold out$/);
    await seeText(page, "#remaining", /^0$/);
    expect(await getCoupon(page).isDisabled()).toBe(true);
    expect(await fitsWidth(page)).toBe(true);
    await shot(page, "event-sold-out-phone");
  }, 60_000);

  test("a scheduled event says not open yet; an event closed while the page is open says so", async () => {
    const later = await createEvent({ name: "Tomorrow", stock: 5, trafficRpm: 100, runningCapacity: 5, startsAt: new Date(Date.now() + 86_400_000).toISOString() });
    const page = await open(`${s.url}/events/${later}?token=${token(`web-early-${later}`)}`);
    await seeText(page, "#result", /^Not open yet/);
    expect(await getCoupon(page).isDisabled()).toBe(true);

    // endsAt must come after startsAt
    const id = await createEvent({ name: "Closing soon", stock: 5, trafficRpm: 100, runningCapacity: 5, startsAt: new Date(Date.now() - 5000).toISOString() });
    await page.goto(`${s.url}/events/${id}`);
    await seeText(page, "#event-status", /^Open$/);
    expect((await s.api.patch(id, { endsAt: new Date(Date.now() - 1000).toISOString() })).status).toBe(200);
    await seeText(page, "#result", /^Not open: this event has closed/, 10_000);
    expect(await getCoupon(page).isDisabled()).toBe(true);
  }, 60_000);

  test("a paused event says so and still lets the user join the line; a cancelled one says it will not take place", async () => {
    const id = await createEvent({ name: "Held", stock: 5, trafficRpm: 1_000_000_000, runningCapacity: 5 });
    expect((await s.api.call("POST", `/admin/events/${id}/pause`, { token: ADMIN_TOKEN })).status).toBe(200);
    const user = `web-paused-${id}`;
    const page = await open(`${s.url}/events/${id}?token=${token(user)}`);
    await seeText(page, "#event-status", /^Paused$/);
    await seeText(page, "#result", /^Paused for a moment/);
    await getCoupon(page).click();
    await page.waitForURL(`${s.url}/events/${id}/waiting`);
    await seeText(page, "#position", /^1$/);
    expect((await s.api.poll(id, user)).body).toMatchObject({ status: "waiting", position: 1 });

    const later = await createEvent({ name: "Called off", stock: 5, trafficRpm: 100, runningCapacity: 5, startsAt: new Date(Date.now() + 86_400_000).toISOString() });
    expect((await s.api.call("DELETE", `/admin/events/${later}`, { token: ADMIN_TOKEN })).status).toBe(200);
    await page.goto(`${s.url}/events/${later}`);
    await seeText(page, "#event-status", /^Cancelled$/);
    await seeText(page, "#result", /^Cancelled: this event will not take place/);
    expect(await getCoupon(page).isDisabled()).toBe(true);
  }, 60_000);

  test("an event whose coupons run out while the user waits: the waiting room says sold out", async () => {
    const id = await createEvent({ name: "Last one", stock: 1, trafficRpm: 0, runningCapacity: 1 });
    const first = `web-ahead-${id}`;
    expect((await s.api.enter(id, first)).status).toBe(202);
    await waitFor("the first user admitted", async () => (await s.api.poll(id, first)).body.status === "admitted", 15_000);

    const page = await open(`${s.url}/events/${id}?token=${token(`web-behind-${id}`)}`);
    await seeText(page, "#event-status", /^Open$/);
    await getCoupon(page).click();
    await page.waitForURL(`${s.url}/events/${id}/waiting`);
    await seeText(page, "#position", /^1$/);

    expect((await s.api.issue(id, first)).status).toBe(201);
    await seeText(page, "#message", /^Sold out/);
    expect(await page.getByRole("link", { name: "Back to the event" }).isVisible()).toBe(true);
    await shot(page, "waiting-sold-out");
  }, 60_000);

  test("a user who leaves the line goes back to the event page and is out of the line", async () => {
    const id = await createEvent({ name: "Changed my mind", stock: 5, trafficRpm: 0, runningCapacity: 1 });
    const first = `web-holder-${id}`;
    expect((await s.api.enter(id, first)).status).toBe(202);
    await waitFor("the first user admitted", async () => (await s.api.poll(id, first)).body.status === "admitted", 15_000);

    const user = `web-leaver-${id}`;
    const page = await open(`${s.url}/events/${id}?token=${token(user)}`);
    await getCoupon(page).click();
    await page.waitForURL(`${s.url}/events/${id}/waiting`);
    await seeText(page, "#position", /^1$/);
    await page.getByRole("button", { name: "Leave the line" }).click();
    await page.waitForURL(`${s.url}/events/${id}`);
    expect((await s.api.poll(id, user)).body.error).toBe("not_in_queue");
  }, 60_000);
});

describe("waiting room under a flood", () => {
  test("a browser user lands in line, watches the position fall, is admitted, returns and gets a coupon", async () => {
    const id = await createEvent({ name: "Flash sale", stock: 1000, trafficRpm: 0, runningCapacity: 4 });
    const crowd = Array.from({ length: 40 }, (_, i) => `web-crowd-${id}-${i}`);
    const entered = await pool(crowd, 8, (u) => s.api.enter(id, u));
    expect(entered.every((r) => r.status === 202)).toBe(true);

    const user = `web-phone-${id}`;
    const page = await open(`${s.url}/events/${id}?token=${token(user)}`, { phone: true });
    await seeText(page, "#event-status", /^Open$/);
    await getCoupon(page).click();
    await page.waitForURL(`${s.url}/events/${id}/waiting`);
    await seeText(page, "#position", /^\d+$/);
    expect(await page.getByRole("progressbar", { name: "Progress to the front" }).count()).toBe(1);
    expect(await fitsWidth(page)).toBe(true);
    await shot(page, "waiting-room-phone");

    // the crowd ahead moves only now: each admitted crowd user takes a coupon, freeing a slot
    const line = driveLine(s.api, id, crowd);
    const seen: number[] = [];
    try {
      const back = `${s.url}/events/${id}`;
      const end = Date.now() + 90_000;
      while (page.url() !== back) {
        if (Date.now() > end) throw new Error(`never admitted; positions seen: ${seen.join(", ")}`);
        // the page may navigate away between two looks
        const text = await page.locator("#position").textContent({ timeout: 500 }).catch(() => null);
        const n = Number(text);
        if (text && Number.isInteger(n) && n > 0 && seen.at(-1) !== n) seen.push(n);
        await Bun.sleep(100);
      }
    } finally {
      await line.stop();
    }
    console.log("positions seen in the waiting room:", seen.join(" → "));
    expect(seen[0]!).toBeGreaterThan(1);
    expect(seen.some((p, i) => i > 0 && p < seen[i - 1]!)).toBe(true);

    // back on the event page, told it is their turn, with focus on the button
    await seeText(page, "#result", /^It is your turn/);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("get-coupon");
    await getCoupon(page).click();
    await seeText(page, "#result", /^Coupon issued/);
    expect((await s.api.coupon(id, user)).body.issued).toBe(true);
    await shot(page, "event-after-waiting-phone");
  }, 120_000);
});

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

    const open1 = await createEvent({ name: "Listed open", stock: 30, trafficRpm: 100, runningCapacity: 5 });
    const paused = await createEvent({ name: "Listed paused", stock: 20, trafficRpm: 100, runningCapacity: 5 });
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
    const id = await createEvent({ name: "Steered", stock: 100, trafficRpm: 0, runningCapacity: 1, admitPerSecond: 10 });
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

  test("the live chart draws issued per second, waiting and admissions from the line", async () => {
    const id = await createEvent({ name: "Charted", stock: 1000, trafficRpm: 0, runningCapacity: 4, admitPerSecond: 4 });
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
    const id = await createEvent({ name: "With a dead letter", stock: 10, trafficRpm: 100, runningCapacity: 5 });
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
});

describe("serving", () => {
  test("pages and assets have their content types and a strict CSP; unknown names are 404", async () => {
    for (const [path, type] of [
      ["/events/1", "text/html"],
      ["/events/1/waiting", "text/html"],
      ["/admin", "text/html"],
      ["/assets/event.js", "text/javascript"],
      ["/assets/app.css", "text/css"],
    ] as const) {
      const res = await fetch(s.url + path);
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toStartWith(type);
      expect(res.headers.get("content-security-policy")).toBe(CSP);
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      await res.body?.cancel();
    }
    for (const path of ["/events/abc", "/events/0/waiting", "/assets/nope.js", "/assets/event.html", "/assets/..%2Findex.ts"]) {
      const res = await fetch(s.url + path);
      expect(res.status).toBe(404);
      await res.body?.cancel();
    }
    expect(CSP).toContain("script-src 'self'");
    expect(CSP).not.toContain("unsafe-inline");
  }, 60_000);

  test("demo tokens exist only in development", async () => {
    expect((await s.api.call("POST", "/dev/token")).status).toBe(404);

    const dev = await startServer({ NODE_ENV: "development" });
    try {
      const id = (await dev.api.createEvent({ name: "Try it", stock: 5, trafficRpm: 1_000_000_000, runningCapacity: 10 })).body.id;
      // no ?token: the page mints a demo identity when the button is pressed
      const page = await open(`${dev.url}/events/${id}`);
      await getCoupon(page).click();
      await seeText(page, "#result", /^Coupon issued/);
      const jwt = await page.evaluate(() => sessionStorage.getItem("coupon.token"));
      const sub = JSON.parse(Buffer.from(jwt!.split(".")[1]!, "base64url").toString()).sub;
      expect(sub).toStartWith("demo-");
      expect((await dev.api.coupon(id, sub)).body.issued).toBe(true);
    } finally {
      await stopServer(dev);
    }
  }, 60_000);

  test("without any token outside development, the page says a personal link is needed", async () => {
    const id = await createEvent({ name: "Members only", stock: 5, trafficRpm: 1_000_000_000, runningCapacity: 10 });
    const page = await open(`${s.url}/events/${id}`);
    await getCoupon(page).click();
    await seeText(page, "#result", /personal link/);
    expect((await s.api.stats(id)).body.issued).toBe(0);
  }, 60_000);
});

describe("who is signed in", () => {
  const stored = (page: Page) => page.evaluate(() => sessionStorage.getItem("coupon.token"));

  test("the pages say who the tab is signed in as", async () => {
    const id = await createEvent({ name: "Whoami", stock: 5, trafficRpm: 0, runningCapacity: 1 });
    const page = await open(`${s.url}/events/${id}?token=${token("web-alice")}`);
    await seeText(page, "#who", /^Signed in as web-alice$/);
    await page.goto(`${s.url}/events/${id}/waiting`);
    await seeText(page, "#who", /^Signed in as web-alice$/);
  }, 60_000);

  test("a link for another user asks before switching the tab; staying keeps the tab's user", async () => {
    const id = await createEvent({ name: "Two accounts", stock: 5, trafficRpm: 1_000_000_000, runningCapacity: 10 });
    const mine = token("web-owner");
    const page = await open(`${s.url}/events/${id}?token=${mine}`);
    await seeText(page, "#who", /^Signed in as web-owner$/);

    // someone sends a link with their own token, to make this tab take a coupon into their account
    const theirs = token("web-stranger");
    await page.goto(`${s.url}/events/${id}?token=${theirs}`);
    const dialog = page.getByRole("dialog", { name: "Switch account?" });
    await dialog.waitFor();
    expect(await dialog.textContent()).toContain("This tab is signed in as web-owner. The link you opened is for web-stranger.");
    // nothing happens on the page's behalf while the question is open, and the token left the address bar
    expect(page.url()).toBe(`${s.url}/events/${id}`);
    expect(await stored(page)).toBe(mine);
    await shot(page, "switch-account");
    await dialog.getByRole("button", { name: "Stay signed in as web-owner" }).click();
    await seeText(page, "#who", /^Signed in as web-owner$/);
    expect(await stored(page)).toBe(mine);
    await seeText(page, "#event-name", /^Two accounts$/);

    // Escape is "stay" too
    await page.goto(`${s.url}/events/${id}?token=${theirs}`);
    await dialog.waitFor();
    await page.keyboard.press("Escape");
    await seeText(page, "#event-name", /^Two accounts$/);
    expect(await stored(page)).toBe(mine);

    // and switching when the person says so
    await page.goto(`${s.url}/events/${id}?token=${theirs}`);
    await dialog.getByRole("button", { name: "Switch to web-stranger" }).click();
    await seeText(page, "#who", /^Signed in as web-stranger$/);
    await seeText(page, "#event-name", /^Two accounts$/);
    expect(await stored(page)).toBe(theirs);

    // a fresh link for the same user just replaces the token, without asking
    const fresher = token("web-stranger", 7200);
    await page.goto(`${s.url}/events/${id}?token=${fresher}`);
    await seeText(page, "#event-name", /^Two accounts$/);
    expect(await dialog.count()).toBe(0);
    expect(await stored(page)).toBe(fresher);
  }, 60_000);
});

describe("API docs", () => {
  test("/swagger renders offline: every request stays on this origin and the CSP blocks nothing", async () => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    contexts.push(ctx);
    const elsewhere: string[] = [];
    const fetched: string[] = [];
    // no internet: anything for another origin fails, and is remembered
    await ctx.route("**/*", (route) => {
      const url = route.request().url();
      if (url.startsWith(`${s.url}/`)) {
        fetched.push(url.slice(s.url.length));
        return route.continue();
      }
      elsewhere.push(url);
      return route.abort();
    });
    const page = await ctx.newPage();
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("console", (m) => m.type() === "error" && problems.push(m.text()));
    await page.goto(`${s.url}/swagger`);
    await seeText(page, ".swagger-ui .info .title", /massive coupon/);
    await page.locator(".opblock-summary-path", { hasText: "/api/events/{id}/enter" }).first().waitFor();
    await page.locator(".opblock-summary-path", { hasText: "/admin/events/{id}/dead/{entry}/retry" }).first().waitFor();
    // opening an operation and the sign-in dialog renders most of the UI's parts
    await page.locator(".opblock-summary", { hasText: "/admin/events/{id}/restore" }).first().click();
    await page.getByRole("button", { name: "Try it out" }).first().click();
    await page.getByRole("button", { name: /Authorize/ }).first().click();
    await page.locator(".auth-container input").first().waitFor();
    await shot(page, "swagger");
    expect(elsewhere).toEqual([]);
    expect(fetched).toEqual(expect.arrayContaining(["/swagger", "/swagger/assets/swagger-ui.css", "/swagger/assets/swagger-ui-bundle.js", "/swagger/assets/init.js", "/swagger/json"]));
  }, 60_000);
});

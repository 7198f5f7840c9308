// The operator's day in a browser: the admin page at 1280×800 with its controls in view, the funnel
// with ghost slots named as such, the chart drawn from the server's history (the same after a
// reload), and live edits as the crowd sees them: a postponed start on the event page, a raised
// stock reopening a sold-out event, the operator's message in the waiting room within 2 s (and never wiped
// by a read of the stored one, however the two interleave).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Page } from "playwright-core";
import { ADMIN_TOKEN, NO_USER_LIMITS, startServer, stopServer, token, waitFor, type Started } from "../../scripts/testkit";
import { browserPages, seeText } from "./browser-kit";

let s: Started;
const kit = browserPages("operator");
const admin = { token: ADMIN_TOKEN };
const iso = (ms: number) => new Date(ms).toISOString();

beforeAll(async () => {
  // slots outlive the tests (a ghost slot stays one); the history samples every second; users poll freely
  s = await startServer({ HISTORY_STEP_MS: "1000", QUEUE_SLOT_TTL_MS: "600000", QUEUE_WAITER_TIMEOUT_MS: "4000", QUEUE_MAX_POLL_MS: "1000", ...NO_USER_LIMITS });
});
afterAll(() => stopServer(s));

/**
 * A laptop-sized tab (1280×800), signed in to the admin page, managing event `id`; `slowEventMs` delays
 * each read of the event as a loaded server would.
 */
async function laptopAdmin(id: number, slowEventMs = 0): Promise<Page> {
  const { ctx, page } = await kit.context({ viewport: { width: 1280, height: 800 } });
  if (slowEventMs > 0) {
    await ctx.route(`${s.url}/admin/events/${id}`, async (route) => {
      await Bun.sleep(slowEventMs);
      await route.continue();
    });
  }
  page.on("dialog", (d) => void d.accept());
  await page.goto(`${s.url}/admin#event-${id}`);
  await page.getByLabel("ADMIN_TOKEN").fill(ADMIN_TOKEN);
  await page.getByRole("button", { name: "Sign in" }).click();
  await seeText(page, "#detail-title", new RegExp(`^#${id} `));
  return page;
}

/** Whether the element is wholly inside the viewport. */
const inView = (page: Page, selector: string) =>
  page.locator(selector).evaluate((el) => {
    const r = el.getBoundingClientRect();
    return r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth && r.width > 0;
  });

async function userPage(url: string): Promise<Page> {
  const { page } = await kit.context({ viewport: { width: 390, height: 844 }, locale: "en-GB" });
  await page.goto(url);
  return page;
}

describe("the operator's day", () => {
  test("1280×800: Pause, Resume and Close in view, also scrolled down; the funnel counts the crowd", async () => {
    const id = (await s.api.createEvent({ name: "Laptop drop", stock: 1, trafficRpm: 100, runningCapacity: 5 })).body.id as number;
    expect((await s.api.enter(id, "winner")).status).toBe(200);
    expect((await s.api.issue(id, "winner")).status).toBe(201);
    for (const u of ["late-1", "late-2"]) expect((await s.api.enter(id, u)).body.error).toBe("sold_out");
    const page = await laptopAdmin(id);
    for (const b of ["#do-pause", "#do-resume", "#do-close"]) expect(await inView(page, b)).toBe(true);
    await page.locator("#chart-heading").scrollIntoViewIfNeeded();
    await page.locator("#knobs").scrollIntoViewIfNeeded();
    for (const b of ["#do-pause", "#do-resume", "#do-close"]) expect(await inView(page, b)).toBe(true);
    await seeText(page, '#funnel [data-funnel="issued"]', /^1$/);
    await seeText(page, "#funnel-away", /sold out 2\b/);
    // live edits from the form: only what changed is sent; the controls stay in view meanwhile
    await page.locator("#k-slotSeconds").fill("300");
    await page.locator("#k-name").fill("Laptop drop, renamed");
    await page.getByRole("button", { name: "Save settings" }).click();
    await seeText(page, "#knobs-status", /^Saved: /);
    expect((await s.api.stats(id)).body).toMatchObject({ slotSeconds: 300, name: "Laptop drop, renamed", stock: 1 });
    for (const b of ["#do-pause", "#do-resume", "#do-close"]) expect(await inView(page, b)).toBe(true);
    await kit.shot(page, "laptop-controls");
  });

  test("ghost slots are named as such: users admitted from the line who never came back", async () => {
    // one slot; the first user takes it directly and stays; two more wait, one of them quits
    const id = (await s.api.createEvent({ name: "Ghosts", stock: 50, trafficRpm: 100, runningCapacity: 2, admitPerSecond: 2 })).body.id as number;
    expect((await s.api.enter(id, "present")).status).toBe(200);
    expect((await s.api.enter(id, "present-2")).status).toBe(200);
    for (const u of ["quitter", "stayer"]) expect((await s.api.enter(id, u)).status).toBe(202);
    // the two slots free; the line's head is admitted by the scheduler: "quitter" never polls again
    for (const u of ["present", "present-2"]) expect((await s.api.leave(id, u)).status).toBe(204);
    await waitFor("both admitted from the line", async () => (await s.api.stats(id)).body.running === 2, 20_000);
    expect((await s.api.poll(id, "stayer")).body.status).toBe("admitted");
    await waitFor("one ghost slot", async () => (await s.api.stats(id)).body.ghostSlots === 1, 20_000);
    // a third waiter makes the stall visible: capacity full, one of the two slots a ghost
    expect((await s.api.enter(id, "next")).status).toBe(202);
    const page = await laptopAdmin(id);
    await seeText(page, "#stall", /Capacity full: 2 of 2 slots held \(1 is a ghost slot: held by users who stopped polling, freed when it lapses\); 1 waiting\./, 20_000);
    await seeText(page, "#funnel-rest", /left: 2 · ghost slots now: 1/);
    expect(await page.locator('#detail dd[data-stat="ghostSlots"]').textContent()).toBe("1");
    await kit.shot(page, "ghost-slots");
  });

  test("the chart is drawn from the server's history: a reload shows the same curve at once", async () => {
    const id = (await s.api.createEvent({ name: "Charted", stock: 100, trafficRpm: 100, runningCapacity: 50 })).body.id as number;
    for (let i = 0; i < 12; i++) {
      await s.api.enter(id, `c${i}`);
      await s.api.issue(id, `c${i}`);
      await Bun.sleep(300);
    }
    await waitFor("samples on the server", async () => (await s.api.call("GET", `/admin/events/${id}/history?seconds=300`, admin)).body.samples.length >= 4, 20_000);
    const page = await laptopAdmin(id);
    const points = () => page.locator('.chart[data-series="issued"] polyline').getAttribute("points").then((p) => (p ?? "").trim().split(/\s+/).filter(Boolean).length);
    await waitFor("the chart drawn", async () => (await points()) >= 4, 15_000, 100);
    await page.reload();
    // signed in already (this tab's sessionStorage): the curve is back before a new sample could be taken here
    const t0 = Date.now();
    await waitFor("the chart after the reload", async () => (await points()) >= 4, 15_000, 50);
    console.log(`chart back ${Date.now() - t0} ms after the reload with ${await points()} points`);
    expect(await page.locator(".chart[data-series='issued'] .chart-peak").textContent()).not.toBe("(peak 0)");
  });

  test("a postponed event counts down to its new start on the event page", async () => {
    const id = (await s.api.createEvent({ name: "Moving drop", stock: 5, trafficRpm: 100, runningCapacity: 5, startsAt: iso(Date.now() + 10 * 60_000) })).body.id as number;
    const page = await userPage(`${s.url}/events/${id}?token=${token(`mover-${id}`)}`);
    await seeText(page, "#countdown", /^Starts in (9|10):\d\d$/);
    const later = Date.now() + 2 * 3_600_000 + 5 * 60_000;
    expect((await s.api.patch(id, { startsAt: iso(later) })).status).toBe(200);
    await seeText(page, "#countdown", /^Starts in 2:0[45]:\d\d$/, 20_000);
    // and brought forward: it opens then, on its own
    expect((await s.api.patch(id, { startsAt: iso(Date.now() + 6000) })).status).toBe(200);
    await seeText(page, "#countdown", /^Starts in 0:0\d$/, 20_000);
    await waitFor("the button on", async () => await page.locator("#get-coupon").isEnabled(), 30_000, 100);
  });

  test("a raised stock reopens a sold-out event on the event page", async () => {
    const id = (await s.api.createEvent({ name: "Restocked", stock: 1, trafficRpm: 100, runningCapacity: 5 })).body.id as number;
    expect((await s.api.enter(id, "first")).status).toBe(200);
    expect((await s.api.issue(id, "first")).status).toBe(201);
    const page = await userPage(`${s.url}/events/${id}?token=${token(`second-${id}`)}`);
    await seeText(page, "#event-status", /sold out/i);
    expect(await page.locator("#get-coupon").isDisabled()).toBe(true);
    expect((await s.api.patch(id, { stock: 3 })).status).toBe(200);
    await seeText(page, "#event-status", /open/i, 20_000);
    await seeText(page, "#remaining", /^2$/);
    await waitFor("the button on", async () => await page.locator("#get-coupon").isEnabled(), 20_000, 100);
    await page.locator("#get-coupon").click();
    await seeText(page, "#coupon-code", /\S/, 20_000);
  });

  test("words typed before the page's first read of the stored message are kept, whenever that read starts", async () => {
    const id = (await s.api.createEvent({ name: "Typed early", stock: 5, trafficRpm: 0, runningCapacity: 1 })).body.id as number;
    expect((await s.api.patch(id, { message: "stored before" })).status).toBe(200);
    const { page } = await kit.context({ viewport: { width: 1280, height: 800 } });
    // the page's timers run only when the test moves the clock: the read starts after the typing, for sure
    await page.clock.install();
    await page.goto(`${s.url}/admin#event-${id}`);
    await page.getByLabel("ADMIN_TOKEN").fill(ADMIN_TOKEN);
    await page.getByRole("button", { name: "Sign in" }).click();
    await seeText(page, "#detail-title", new RegExp(`^#${id} `));
    const typed = "Typed before the page looked";
    await page.locator("#op-message").fill(typed);
    // every read the moved clock starts (the detail's refreshes and the message's first read) answered and handled
    let open = 0;
    page.on("request", (r) => r.url().startsWith(`${s.url}/admin/`) && open++);
    page.on("requestfinished", (r) => r.url().startsWith(`${s.url}/admin/`) && open--);
    await page.clock.runFor(2500);
    await waitFor("the reads answered", async () => open === 0, 10_000, 20);
    await Bun.sleep(300);
    expect(await page.locator("#op-message").inputValue()).toBe(typed);
    // another event's message is still shown there: the draft belonged to this one
    const other = (await s.api.createEvent({ name: "Other", stock: 5, trafficRpm: 0, runningCapacity: 1 })).body.id as number;
    expect((await s.api.patch(other, { message: "the other one" })).status).toBe(200);
    await page.evaluate((o) => (location.hash = `#event-${o}`), other);
    await waitFor("the other event's message", async () => {
      await page.clock.runFor(500);
      return (await page.locator("#op-message").inputValue()) === "the other one";
    }, 10_000);
  });

  test("the operator's message appears in the waiting room within 2 s, written on the admin page", async () => {
    const id = (await s.api.createEvent({ name: "Told", stock: 5, trafficRpm: 0, runningCapacity: 1, admitPerSecond: 1 })).body.id as number;
    // the only slot is held: whoever comes next waits
    expect((await s.api.enter(id, "holder")).status).toBe(202);
    await waitFor("the holder admitted", async () => (await s.api.poll(id, "holder")).body.status === "admitted", 20_000);
    const user = `waiter-${id}`;
    const page = await userPage(`${s.url}/events/${id}?token=${token(user)}`);
    await page.locator("#get-coupon").click();
    await page.waitForURL(`${s.url}/events/${id}/waiting`);
    await seeText(page, "#heading", /in line/i);
    // a loaded server: the page's first read of the stored message (REFRESH_MS after the detail shows) answers after
    // the operator has started typing, and must not wipe what they typed
    const adminPage = await laptopAdmin(id, 1500);
    const text = "We are fixing a problem; your places are kept. <b>Thank you</b>";
    await adminPage.locator("#op-message").fill(text);
    await Bun.sleep(4000);
    expect(await adminPage.locator("#op-message").inputValue()).toBe(text);
    await adminPage.getByRole("button", { name: "Show message" }).click();
    await seeText(adminPage, "#message-status", /Shown to everyone waiting/);
    const t0 = Date.now();
    await waitFor("the message in the waiting room", async () => ((await page.locator("#notice").textContent()) ?? "").includes(text), 10_000, 25);
    const ms = Date.now() - t0;
    console.log(`message in the waiting room ${ms} ms after it was saved`);
    expect(ms).toBeLessThanOrEqual(2000);
    // plain text: the markup is shown, not rendered
    expect(await page.locator("#notice b").count()).toBe(0);
    await adminPage.getByRole("button", { name: "Clear message" }).click();
    await waitFor("the message gone", async () => !((await page.locator("#notice").textContent()) ?? "").includes(text), 10_000, 50);
  });
});

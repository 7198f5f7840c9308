// The opening in a browser at phone size (390×844): countdown by the server's clock, the button
// turned on by a timer, the pre-queue and its draw, the waiting room with chances, a lost place,
// and a shop token that expires while the user waits.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Page } from "playwright-core";
import { NO_USER_LIMITS, pool, startServer, stopServer, token, waitFor, type Started } from "../../scripts/testkit";
import { drawOrder } from "../queue/draw";
import { browserPages, driveLine, fitsWidth, seeText } from "./browser-kit";

const kit = browserPages("opening");
const { shot } = kit;
const phone = () => kit.phone({ timezoneId: "Europe/Berlin" });

const iso = (ms: number) => new Date(ms).toISOString();
const theButton = (page: Page) => page.locator("#get-coupon");

describe("the opening (real cron scheduler)", () => {
  let s: Started;
  beforeAll(async () => {
    s = await startServer(NO_USER_LIMITS);
  });
  afterAll(() => stopServer(s));

  test("countdown → pre-queue → draw → waiting with chances → admitted → issued", async () => {
    const t0 = Date.now();
    // wide enough for a page that takes seconds to load on a loaded machine
    const opens = t0 + 20_000;
    const starts = t0 + 35_000;
    const id = (await s.api.createEvent({ name: "Midnight drop", stock: 20, trafficRpm: 0, runningCapacity: 2, admitPerSecond: 2, queueOpensAt: iso(opens), startsAt: iso(starts) })).body.id as number;
    // paused before the start: the draw still happens at the start, but nobody is let in until resume
    expect((await s.api.call("POST", `/admin/events/${id}/pause`, { token: "test-admin-token" })).status).toBe(200);
    const user = `phone-${id}`;
    const { page } = await phone();
    await page.goto(`${s.url}/events/${id}?token=${token(user)}`);

    // before the pre-queue opens: the start with its time zone, a countdown, a button that is off
    await seeText(page, "#event-status", /^Opens \d\d:\d\d:\d\d \(Europe\/Berlin, UTC\+1\)$/);
    await seeText(page, "#countdown", /^Pre-queue opens in 0:[01]\d · starts in 0:[23]\d$/);
    await seeText(page, "#result", /^Not open yet: the pre-queue opens at \d\d:\d\d:\d\d \(Europe\/Berlin, UTC\+1\)\.$/);
    await seeText(page, "#pre-note", /drawn at random, ahead of everyone who comes later/);
    expect(await theButton(page).isDisabled()).toBe(true);
    expect(await page.locator("#countdown").getAttribute("role")).toBe("timer");
    await shot(page, "countdown");
    // from now on the page cannot refresh the event: only its timer can turn the button on
    await page.route(`**/api/events/${id}`, (route) => route.abort());
    await waitFor("the button to turn on at the pre-queue's opening", async () => !(await theButton(page).isDisabled()), 40_000, 50);
    expect(Date.now()).toBeGreaterThanOrEqual(opens - 1000);
    expect(await theButton(page).textContent()).toBe("Join the pre-queue");
    await seeText(page, "#result", /^The pre-queue is open: press Join the pre-queue\.$/);
    await page.unroute(`**/api/events/${id}`);

    // a crowd pre-queues through the API; the phone joins too
    const crowd = Array.from({ length: 12 }, (_, i) => `crowd-${id}-${i}`);
    const entered = await pool(crowd, 6, (u) => s.api.enter(id, u));
    expect(entered.every((r) => r.status === 202 && r.body.status === "pre_queue")).toBe(true);
    await page.getByRole("button", { name: "Join the pre-queue" }).click();
    await page.waitForURL(`${s.url}/events/${id}/waiting`);
    await seeText(page, "#heading", /^You are in the pre-queue$/);
    await seeText(page, "#pre-text", /^The event starts at \d\d:\d\d:\d\d \(Europe\/Berlin, UTC\+1\)\. Then everyone in the pre-queue gets a place drawn at random/);
    await seeText(page, "#pre-countdown", /^Starts in 0:\d\d$/);
    await seeText(page, "#pre-chances", /^20 coupons · 13 people in the pre-queue$/);
    await seeText(page, "#grace", /^You can leave this page for up to 2 minutes and keep your place\.$/);
    expect(await page.getByRole("timer").count()).toBe(1);
    expect(await fitsWidth(page)).toBe(true);
    await shot(page, "pre-queue");

    // the start: the scheduler draws; paused, so everyone waits at their drawn place
    await seeText(page, "#heading", /^You are in line$/, 30_000);
    const seed = (await s.api.stats(id)).body.draw.seed as string;
    const place = drawOrder(seed, [...crowd, user]).indexOf(user) + 1;
    // the operator sees the draw on the admin page: what anyone needs to recompute the order
    const admin = await (await phone()).ctx.newPage();
    await admin.goto(`${s.url}/admin#event-${id}`);
    await admin.getByLabel("ADMIN_TOKEN").fill("test-admin-token");
    await admin.getByRole("button", { name: "Sign in" }).click();
    await seeText(admin, "#draw", new RegExp(`^Pre-queue drawn at .+: ${crowd.length + 1} places, seed ${seed}$`));
    await admin.close();
    await seeText(page, "#position", new RegExp(`^${place}$`));
    await seeText(page, "#chances", new RegExp(`^20 coupons left · ${place - 1} ${place === 2 ? "person" : "people"} ahead of you$`));
    // paused before the start: the page says so, not "unknown"
    await seeText(page, "#eta", /^unknown while the event is paused$/);
    await seeText(page, "#notice", /^Paused: nobody is let in until the event resumes\. Your place is kept\.$/);
    expect(await page.locator("#odds").textContent()).toBe("");
    expect(await fitsWidth(page)).toBe(true);
    await shot(page, "waiting-chances");

    // resumed: the crowd takes its coupons as it is let in, and the phone's turn comes
    expect((await s.api.call("POST", `/admin/events/${id}/resume`, { token: "test-admin-token" })).status).toBe(200);
    const line = driveLine(s.api, id, crowd);
    try {
      await page.waitForURL(`${s.url}/events/${id}`, { timeout: 60_000 });
    } finally {
      await line.stop();
    }
    await seeText(page, "#result", /^It is your turn/);
    await page.getByRole("button", { name: "Get coupon" }).click();
    await seeText(page, "#result", /^Coupon issued/);
    const mine = (await s.api.coupon(id, user)).body;
    await seeText(page, "#coupon-code", new RegExp(`^${mine.code}$`));
    await shot(page, "issued");
  }, 180_000);

  test("without a pre-queue the button turns on at the start by the page's timer", async () => {
    const starts = Date.now() + 15_000;
    const id = (await s.api.createEvent({ name: "On the dot", stock: 5, trafficRpm: 1_000_000, runningCapacity: 5, startsAt: iso(starts) })).body.id as number;
    const { page } = await phone();
    await page.goto(`${s.url}/events/${id}?token=${token(`dot-${id}`)}`);
    await seeText(page, "#countdown", /^Starts in 0:[01]\d$/);
    await seeText(page, "#result", /^Not open yet: the event opens at/);
    expect(await theButton(page).isDisabled()).toBe(true);
    await page.route(`**/api/events/${id}`, (route) => route.abort());
    await waitFor("the button to turn on at the start", async () => !(await theButton(page).isDisabled()), 40_000, 50);
    expect(Date.now()).toBeGreaterThanOrEqual(starts - 1000);
    await seeText(page, "#result", /^Open now: press Get coupon\.$/);
    expect(await page.locator("#countdown").isHidden()).toBe(true);
    await page.unroute(`**/api/events/${id}`);
    await page.getByRole("button", { name: "Get coupon" }).click();
    await seeText(page, "#result", /^Coupon issued/);
  }, 60_000);

  test("a shop token that expires while the user waits: the page carries on with the ticket to the coupon", async () => {
    const id = (await s.api.createEvent({ name: "Short token", stock: 5, trafficRpm: 0, runningCapacity: 1 })).body.id as number;
    const holder = `holder-${id}`;
    expect((await s.api.enter(id, holder)).status).toBe(202);
    await waitFor("the holder admitted", async () => (await s.api.poll(id, holder)).body.status === "admitted", 15_000);

    const jwt = token(`brief-${id}`, 2);
    const { page } = await phone();
    await page.goto(`${s.url}/events/${id}?token=${jwt}`);
    await page.getByRole("button", { name: "Get coupon" }).click();
    await page.waitForURL(`${s.url}/events/${id}/waiting`);
    await seeText(page, "#position", /^1$/);
    await seeText(page, "#chances", /^5 coupons left · 1 person ahead of you$/);
    // the token lapses (2 s, plus the clock skew the server forgives) while the page keeps polling
    await waitFor("the shop's token to expire", async () => (await s.api.call("GET", "/api/me/coupons", { token: jwt })).status === 401, 20_000, 250);
    await Bun.sleep(1500);
    await seeText(page, "#position", /^1$/);

    expect((await s.api.issue(id, holder)).status).toBe(201);
    await page.waitForURL(`${s.url}/events/${id}`, { timeout: 30_000 });
    await seeText(page, "#result", /^It is your turn/);
    await page.getByRole("button", { name: "Get coupon" }).click();
    await seeText(page, "#result", /^Coupon issued/);
    await seeText(page, "#coupon-code", /-/);
    expect((await s.api.coupon(id, `brief-${id}`)).body.issued).toBe(true);
  }, 90_000);
});

describe("a lost place (QUEUE_WAITER_TIMEOUT_MS=3000)", () => {
  let s: Started;
  beforeAll(async () => {
    s = await startServer({ ...NO_USER_LIMITS, QUEUE_WAITER_TIMEOUT_MS: "3000", QUEUE_MAX_POLL_MS: "1000" });
  });
  afterAll(() => stopServer(s));

  test("offline past the grace while the line reaches them: told the place is lost and why, never put back silently; a button joins again", async () => {
    const id = (await s.api.createEvent({ name: "Last one", stock: 1, trafficRpm: 0, runningCapacity: 1, admitPerSecond: 5 })).body.id as number;
    const holder = `holder-${id}`;
    expect((await s.api.enter(id, holder)).status).toBe(202);
    await waitFor("the holder admitted", async () => (await s.api.poll(id, holder)).body.status === "admitted", 15_000);

    const user = `offline-${id}`;
    const { ctx, page } = await phone();
    await page.goto(`${s.url}/events/${id}?token=${token(user)}`);
    await page.getByRole("button", { name: "Get coupon" }).click();
    await page.waitForURL(`${s.url}/events/${id}/waiting`);
    await seeText(page, "#position", /^1$/);
    // the slot holder is ahead, and there is one coupon: the page says it may run out
    await seeText(page, "#chances", /^1 coupon left · 1 person ahead of you$/);
    await seeText(page, "#odds", /^It will very likely sell out before your turn: 1 person is ahead of you for 1 coupon\. You can stay in case some are not taken, or leave now\.$/);
    await seeText(page, "#grace", /^You can leave this page for up to 3 seconds and keep your place\.$/);

    // the phone loses its signal; meanwhile the holder gives up the slot and the line reaches the user
    await ctx.setOffline(true);
    await seeText(page, "#stale-heard", /^No connection: last heard from the server \d+ s ago \(\d\d:\d\d:\d\d\)\. The numbers below are from then\.$/);
    await seeText(page, "#stale-kept", /^Your place is still kept for 0:0\d\. This page keeps trying\.$|^The server has not seen this page for more than 3 seconds/);
    await Bun.sleep(3500);
    expect((await s.api.leave(id, holder)).status).toBe(204);
    await waitFor("the silent user dropped", async () => (await s.api.stats(id)).body.waiting === 0, 15_000);
    await ctx.setOffline(false);

    await seeText(page, "#heading", /^You lost your place$/);
    await seeText(page, "#message", /^You lost your place because the server did not see this page for more than 3 seconds \(it was away for about \d+ seconds\) and the line reached you in the meantime\. You can join the line again, at the back\.$/);
    const again = page.getByRole("button", { name: "Join the line again" });
    expect(await again.isVisible()).toBe(true);
    await shot(page, "place-lost");
    // nothing re-queued the user behind their back
    await Bun.sleep(1500);
    expect((await s.api.poll(id, user)).body.error).toBe("not_in_queue");

    await again.click();
    await waitFor("back in the line (or let in)", async () => ["waiting", "admitted"].includes((await s.api.poll(id, user)).body.status), 15_000);
  }, 90_000);
});

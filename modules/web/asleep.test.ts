// A locked phone through its turn (issue #20): the page is frozen (CDP Page lifecycle "frozen" and
// Debugger.pause: no script, no timer runs) while the line reaches the user, then wakes up. On an
// on_turn event it shows the coupon the platform issued meanwhile (and so does the event page opened
// afresh later); on a manual event it says the turn ran out while away and that the user kept the
// front, then gives the turn back. The last test locks two phones for three minutes at once.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { CDPSession, Page } from "playwright-core";
import { ADMIN_TOKEN, NO_USER_LIMITS, startServer, stopServer, token, waitFor, type Started } from "../../scripts/testkit";
import { browserPages, seeText } from "./browser-kit";

const kit = browserPages("asleep");
let s: Started;
beforeAll(async () => {
  s = await startServer(NO_USER_LIMITS);
}, 30_000);
afterAll(() => stopServer(s));

/** A phone in Seoul (the pages' times say Asia/Seoul) on `url`. */
async function open(url: string) {
  const p = await kit.phone();
  await p.page.goto(url);
  return p;
}

/**
 * Locks the phone: the page is frozen as a phone freezes a background tab (Page lifecycle "frozen")
 * and, since headless Chromium still runs a frozen page's timers, held in the debugger too: no script,
 * no timer runs until `wake`. The pause takes hold at the next statement the page runs (its polls and
 * refreshes run every few seconds): waited for.
 */
async function lock(page: Page): Promise<CDPSession> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Debugger.enable");
  await cdp.send("Page.setWebLifecycleState", { state: "frozen" });
  const paused = new Promise<void>((resolve) => cdp.once("Debugger.paused", () => resolve()));
  await cdp.send("Debugger.pause");
  await Promise.race([paused, Bun.sleep(30_000).then(() => Promise.reject(new Error("the page never paused")))]);
  return cdp;
}
/** Unlocks it: scripts run again, the page is active and told it is visible again. */
async function wake(page: Page, cdp: CDPSession) {
  await cdp.send("Debugger.resume");
  await cdp.send("Debugger.disable");
  await cdp.send("Page.setWebLifecycleState", { state: "active" });
  // a timer that ran first may already have moved the page on (a navigation): the new page starts awake
  await page.evaluate(() => document.dispatchEvent(new Event("visibilitychange"))).catch((e) => {
    if (!/Execution context was destroyed/.test(String(e))) throw e;
  });
}

const admin = (path: string) => s.api.call("POST", path, { token: ADMIN_TOKEN });

describe("a locked phone through its turn", () => {
  test("on_turn: the coupon was issued while the page slept; awake, the page shows it, and a fresh tab later shows it too", async () => {
    const id = (await s.api.createEvent({ name: "Claimed for you", stock: 5, trafficRpm: 0, runningCapacity: 1, claim: "on_turn", couponValidUntil: "2027-01-31T14:59:00Z" })).body.id as number;
    expect((await admin(`/admin/events/${id}/pause`)).status).toBe(200);
    expect((await s.api.enter(id, `ahead-${id}`)).status).toBe(202);
    const user = `sleeper-${id}`;
    const { page } = await open(`${s.url}/events/${id}?token=${token(user)}`);
    await seeText(page, "#claim-note", /issued to you automatically when your turn comes, even if you close the page/);
    await page.getByRole("button", { name: "Get coupon" }).click();
    await page.waitForURL(`${s.url}/events/${id}/waiting`);
    await seeText(page, "#position", /^2$/);
    await seeText(page, "#keep-open", /^When your turn comes the coupon is issued to you automatically, even if you close this page/);
    await seeText(page, "#grace", /^You can close this page: your place is kept until your turn\.$/);

    const cdp = await lock(page);
    expect((await admin(`/admin/events/${id}/resume`)).status).toBe(200);
    await waitFor("the platform to issue the sleeper's coupon", async () => (await s.api.coupon(id, user)).body.issued === true, 30_000);
    const code = (await s.api.coupon(id, user)).body.code as string;

    await wake(page, cdp);
    await page.waitForURL(`${s.url}/events/${id}`, { timeout: 30_000 });
    await seeText(page, "#result", /^Coupon issued: your turn came and the coupon is yours\.$/);
    await seeText(page, "#coupon-code", new RegExp(`^${code}$`));
    await seeText(page, "#validity", /^Valid until /);

    // the page was closed instead: the event page opened later (a new tab) shows the coupon
    const later = await open(`${s.url}/events/${id}?token=${token(user)}`);
    await seeText(later.page, "#result", /^Already issued/);
    await seeText(later.page, "#coupon-code", new RegExp(`^${code}$`));
    expect(await later.page.getByRole("button", { name: "Get coupon" }).isDisabled()).toBe(true);
  }, 180_000);

  test("manual: the turn ran out while the page slept; awake, it says so and that the front is kept, then the turn comes back and the coupon is taken", async () => {
    const id = (await s.api.createEvent({ name: "Press in time", stock: 5, trafficRpm: 0, runningCapacity: 1, slotSeconds: 20 })).body.id as number;
    expect((await admin(`/admin/events/${id}/pause`)).status).toBe(200);
    const user = `dozer-${id}`;
    const behind = `behind-${id}`;
    const { page } = await open(`${s.url}/events/${id}?token=${token(user)}`);
    await page.getByRole("button", { name: "Get coupon" }).click();
    await page.waitForURL(`${s.url}/events/${id}/waiting`);
    await seeText(page, "#position", /^1$/);
    expect((await s.api.enter(id, behind)).body).toMatchObject({ status: "waiting", position: 2 });

    const cdp = await lock(page);
    expect((await admin(`/admin/events/${id}/resume`)).status).toBe(200);
    // the sleeper's turn comes and its 20 s run out: the one slot passes to the user behind
    await waitFor("the slot to lapse and pass on", async () => (await s.api.poll(id, behind)).body.status === "admitted", 60_000, 500);

    await wake(page, cdp);
    // told, not moved: the front is kept (the only slot is held by the user behind)
    await seeText(page, "#lapsed-note", /^Your turn came while this page was away and ran out at \d\d:\d\d:\d\d \(Asia\/Seoul, UTC\+9\)\. You keep your place at the front/, 30_000);
    await seeText(page, "#position", /^1$/);
    expect(page.url()).toBe(`${s.url}/events/${id}/waiting`);

    // the slot frees: the sleeper gets the turn back before anyone who came later
    expect((await s.api.issue(id, behind)).status).toBe(201);
    await page.waitForURL(`${s.url}/events/${id}`, { timeout: 30_000 });
    await seeText(page, "#result", /^Your turn ran out at \d\d:\d\d:\d\d \(Asia\/Seoul, UTC\+9\) before the coupon was taken, and you kept the front of the line: it is your turn again\./);
    await seeText(page, "#slot", /^Your turn: \d+:\d\d left to press Get coupon$/);
    await page.getByRole("button", { name: "Get coupon" }).click();
    await seeText(page, "#result", /^Coupon issued/);
    expect((await s.api.coupon(id, user)).body.issued).toBe(true);
  }, 180_000);

  test("manual, on the event page: a turn that runs out is told and offered back (never a silent re-entry), and taking it back asks the server", async () => {
    const id = (await s.api.createEvent({ name: "Missed it", stock: 5, trafficRpm: 0, runningCapacity: 1, slotSeconds: 20 })).body.id as number;
    const user = `misser-${id}`;
    const { page } = await open(`${s.url}/events/${id}?token=${token(user)}`);
    await page.getByRole("button", { name: "Get coupon" }).click();
    await waitFor("the turn on the event page", async () => page.url() === `${s.url}/events/${id}`, 30_000, 100);
    await seeText(page, "#slot", /^Your turn: 0:\d\d left to press Get coupon$/);
    // the user does not press; the turn runs out on the page's own clock
    await seeText(page, "#result", /^Your turn ran out at \d\d:\d\d:\d\d \(Asia\/Seoul, UTC\+9\) before the coupon was taken\./, 30_000);
    expect(await page.getByRole("button", { name: "Get coupon" }).isDisabled()).toBe(true);
    expect(await page.getByRole("button", { name: "Take my turn back" }).isVisible()).toBe(true);
    // the page entered nobody anew meanwhile: the user is still the one who lapsed at the front
    await page.getByRole("button", { name: "Take my turn back" }).click();
    await seeText(page, "#result", /you kept the front of the line: it is your turn again/);
    await page.getByRole("button", { name: "Get coupon" }).click();
    await seeText(page, "#result", /^Coupon issued/);
  }, 180_000);
});

describe("two phones locked for three minutes through their turns, at once", () => {
  test("on_turn: awake, the page shows the coupon issued meanwhile and its validity; manual: it says the turn was missed, offers the front back, and taking it admits the user before everyone who came later", async () => {
    const LOCKED_MS = 180_000;
    // on_turn: the claimer waits behind one user on a paused event
    const onTurn = (await s.api.createEvent({ name: "Yours while you slept", stock: 5, trafficRpm: 0, runningCapacity: 1, claim: "on_turn", couponValidUntil: "2027-01-31T14:59:00Z" })).body.id as number;
    expect((await admin(`/admin/events/${onTurn}/pause`)).status).toBe(200);
    expect((await s.api.enter(onTurn, `ahead-${onTurn}`)).status).toBe(202);
    const claimer = `claimer-${onTurn}`;
    const a = (await open(`${s.url}/events/${onTurn}?token=${token(claimer)}`)).page;
    await a.getByRole("button", { name: "Get coupon" }).click();
    await a.waitForURL(`${s.url}/events/${onTurn}/waiting`);
    await seeText(a, "#position", /^2$/);

    // manual: the presser's turn comes (a 60 s slot, far shorter than the lock) and the event page counts it down
    const manual = (await s.api.createEvent({ name: "Missed while asleep", stock: 5, trafficRpm: 0, runningCapacity: 1, slotSeconds: 60 })).body.id as number;
    expect((await admin(`/admin/events/${manual}/pause`)).status).toBe(200);
    const presser = `presser-${manual}`;
    const m = (await open(`${s.url}/events/${manual}?token=${token(presser)}`)).page;
    await m.getByRole("button", { name: "Get coupon" }).click();
    await m.waitForURL(`${s.url}/events/${manual}/waiting`);
    await seeText(m, "#position", /^1$/);
    expect((await admin(`/admin/events/${manual}/resume`)).status).toBe(200);
    await m.waitForURL(`${s.url}/events/${manual}`, { timeout: 30_000 });
    await seeText(m, "#slot", /^Your turn: 0:[0-5]\d left to press Get coupon$/);
    await Promise.all([kit.shot(a, "locked-on-turn-before"), kit.shot(m, "locked-manual-before")]);

    const [ca, cm] = await Promise.all([lock(a), lock(m)]);
    const lockedAt = Date.now();
    // while both sleep: the on_turn line moves and the platform issues the claimer's coupon
    expect((await admin(`/admin/events/${onTurn}/resume`)).status).toBe(200);
    await waitFor("the platform to issue the claimer's coupon", async () => (await s.api.coupon(onTurn, claimer)).body.issued === true, 60_000, 500);
    const code = (await s.api.coupon(onTurn, claimer)).body.code as string;
    // the presser's slot runs out unused; near the end of the lock three people come: the free slot
    // goes to the first (the presser is not back to claim it), the other two wait behind
    await Bun.sleep(lockedAt + LOCKED_MS - 20_000 - Date.now());
    const [first, second, third] = ["first", "second", "third"].map((n) => `${n}-${manual}`);
    expect((await s.api.enter(manual, first!)).status).toBe(202);
    await waitFor("the free slot to go to the first", async () => (await s.api.poll(manual, first!)).body.status === "admitted", 10_000, 200);
    expect((await s.api.enter(manual, second!)).body).toMatchObject({ status: "waiting", position: 1 });
    expect((await s.api.enter(manual, third!)).body).toMatchObject({ status: "waiting", position: 2 });
    await Bun.sleep(lockedAt + LOCKED_MS - Date.now());
    await Promise.all([wake(a, ca), wake(m, cm)]);
    console.log(`both pages locked for ${((Date.now() - lockedAt) / 1000).toFixed(0)} s`);

    // on_turn: the coupon, with how long it is valid
    await a.waitForURL(`${s.url}/events/${onTurn}`, { timeout: 30_000 });
    await seeText(a, "#result", /^Coupon issued: your turn came and the coupon is yours\.$/);
    await seeText(a, "#coupon-code", new RegExp(`^${code}$`));
    await seeText(a, "#validity", /^Valid until 31 January 2027 at 23:59 \(Asia\/Seoul, UTC\+9\)$/);

    // manual: told that the turn was missed, and offered the front back; nothing was done silently
    await seeText(m, "#result", /^Your turn ran out at \d\d:\d\d:\d\d \(Asia\/Seoul, UTC\+9\) before the coupon was taken\. Press Take my turn back/);
    expect(await m.getByRole("button", { name: "Get coupon" }).isDisabled()).toBe(true);
    expect(await m.getByRole("button", { name: "Take my turn back" }).isVisible()).toBe(true);
    expect((await s.api.poll(manual, second!)).body).toMatchObject({ status: "waiting", position: 1 });
    await Promise.all([kit.shot(a, "locked-on-turn-after"), kit.shot(m, "locked-manual-after")]);

    // taking it back: the presser is at the front again, ahead of the two who came later
    await m.getByRole("button", { name: "Take my turn back" }).click();
    await m.waitForURL(`${s.url}/events/${manual}/waiting`);
    await seeText(m, "#position", /^1$/);
    await seeText(m, "#lapsed-note", /^Your turn came while this page was away and ran out at \d\d:\d\d:\d\d \(Asia\/Seoul, UTC\+9\)\. You keep your place at the front/);
    expect((await s.api.poll(manual, second!)).body).toMatchObject({ status: "waiting", position: 2 });
    expect((await s.api.poll(manual, third!)).body).toMatchObject({ status: "waiting", position: 3 });
    await kit.shot(m, "locked-manual-taken-back");

    // the slot frees: the turn is the presser's, not the second's
    expect((await s.api.issue(manual, first!)).status).toBe(201);
    await m.waitForURL(`${s.url}/events/${manual}`, { timeout: 30_000 });
    await seeText(m, "#result", /it is your turn again\. Press Get coupon before/);
    expect((await s.api.poll(manual, second!)).body).toMatchObject({ status: "waiting", position: 1 });
    await m.getByRole("button", { name: "Get coupon" }).click();
    await seeText(m, "#result", /^Coupon issued/);
    expect((await s.api.coupon(manual, presser)).body.issued).toBe(true);
    await kit.shot(m, "locked-manual-issued");
  }, 300_000);
});

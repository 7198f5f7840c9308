import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Page } from "playwright-core";
import { ADMIN_TOKEN, pool, startServer, stopServer, token, waitFor, type Started } from "../../scripts/testkit";
import { CSP } from ".";
import { browserPages, driveLine, fitsWidth, seeText } from "./browser-kit";

let s: Started;
const web = browserPages("web");
const { open, shot, problems } = web;

beforeAll(async () => {
  s = await startServer();
});
afterAll(() => stopServer(s));

const getCoupon = (page: Page) => page.getByRole("button", { name: "Get coupon" });

describe("event page", () => {
  test("low traffic: the user presses Get coupon and is told it is issued; the stock updates live", async () => {
    const id = await s.api.newEvent({ name: "Spring sale", stock: 10, trafficRpm: 1_000_000_000, runningCapacity: 100 });
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
    const id = await s.api.newEvent({ name: "Gone in a second", stock: 1, trafficRpm: 1_000_000_000, runningCapacity: 10 });
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
    const later = await s.api.newEvent({ name: "Tomorrow", stock: 5, trafficRpm: 100, runningCapacity: 5, startsAt: new Date(Date.now() + 86_400_000).toISOString() });
    const page = await open(`${s.url}/events/${later}?token=${token(`web-early-${later}`)}`);
    await seeText(page, "#result", /^Not open yet/);
    expect(await getCoupon(page).isDisabled()).toBe(true);

    // endsAt must come after startsAt
    const id = await s.api.newEvent({ name: "Closing soon", stock: 5, trafficRpm: 100, runningCapacity: 5, startsAt: new Date(Date.now() - 5000).toISOString() });
    await page.goto(`${s.url}/events/${id}`);
    await seeText(page, "#event-status", /^Open$/);
    expect((await s.api.patch(id, { endsAt: new Date(Date.now() - 1000).toISOString() })).status).toBe(200);
    await seeText(page, "#result", /^Not open: this event has closed/, 10_000);
    expect(await getCoupon(page).isDisabled()).toBe(true);
  }, 60_000);

  test("a paused event says so and still lets the user join the line; a cancelled one says it will not take place", async () => {
    const id = await s.api.newEvent({ name: "Held", stock: 5, trafficRpm: 1_000_000_000, runningCapacity: 5 });
    expect((await s.api.call("POST", `/admin/events/${id}/pause`, { token: ADMIN_TOKEN })).status).toBe(200);
    const user = `web-paused-${id}`;
    const page = await open(`${s.url}/events/${id}?token=${token(user)}`);
    await seeText(page, "#event-status", /^Paused$/);
    await seeText(page, "#result", /^Paused for a moment/);
    await getCoupon(page).click();
    await page.waitForURL(`${s.url}/events/${id}/waiting`);
    await seeText(page, "#position", /^1$/);
    expect((await s.api.poll(id, user)).body).toMatchObject({ status: "waiting", position: 1 });

    const later = await s.api.newEvent({ name: "Called off", stock: 5, trafficRpm: 100, runningCapacity: 5, startsAt: new Date(Date.now() + 86_400_000).toISOString() });
    expect((await s.api.call("DELETE", `/admin/events/${later}`, { token: ADMIN_TOKEN })).status).toBe(200);
    await page.goto(`${s.url}/events/${later}`);
    await seeText(page, "#event-status", /^Cancelled$/);
    await seeText(page, "#result", /^Cancelled: this event will not take place/);
    expect(await getCoupon(page).isDisabled()).toBe(true);
  }, 60_000);

  test("an event whose coupons run out while the user waits: the waiting room says sold out", async () => {
    const id = await s.api.newEvent({ name: "Last one", stock: 1, trafficRpm: 0, runningCapacity: 1 });
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
    const id = await s.api.newEvent({ name: "Changed my mind", stock: 5, trafficRpm: 0, runningCapacity: 1 });
    const first = `web-holder-${id}`;
    expect((await s.api.enter(id, first)).status).toBe(202);
    await waitFor("the first user admitted", async () => (await s.api.poll(id, first)).body.status === "admitted", 15_000);

    const user = `web-leaver-${id}`;
    const page = await open(`${s.url}/events/${id}?token=${token(user)}`);
    await getCoupon(page).click();
    await page.waitForURL(`${s.url}/events/${id}/waiting`);
    await seeText(page, "#position", /^1$/);
    // leaving asks once, in the page; staying is the default
    await page.getByRole("button", { name: "Leave the line" }).click();
    await seeText(page, "#confirm-text", /^Leave the line\? You give up place 1\. If you come back later, you join at the back\.$/);
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Stay in line");
    await page.getByRole("button", { name: "Stay in line" }).click();
    expect((await s.api.poll(id, user)).body.status).toBe("waiting");
    await page.getByRole("button", { name: "Leave the line" }).click();
    await page.getByRole("button", { name: "Yes, leave the line" }).click();
    await page.waitForURL(`${s.url}/events/${id}`);
    expect((await s.api.poll(id, user)).body.error).toBe("not_in_queue");
  }, 60_000);
});

describe("waiting room under a flood", () => {
  test("a browser user lands in line, watches the position fall, is admitted, returns and gets a coupon", async () => {
    const id = await s.api.newEvent({ name: "Flash sale", stock: 1000, trafficRpm: 0, runningCapacity: 4 });
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
      if (type !== "text/html") {
        await res.body?.cancel();
        continue;
      }
      // the head every page shares: each script, stylesheet and preload it names is served
      const html = await res.text();
      expect(html).toMatch(/^<!doctype html>\n<html lang="en">\n<head>\n  <meta charset="utf-8">/);
      const refs = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
      expect(refs).toContain("/assets/app.css");
      for (const ref of refs) {
        const asset = await fetch(s.url + ref);
        await asset.body?.cancel();
        expect({ ref, status: asset.status }).toEqual({ ref, status: 200 });
      }
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
    const id = await s.api.newEvent({ name: "Members only", stock: 5, trafficRpm: 1_000_000_000, runningCapacity: 10 });
    const page = await open(`${s.url}/events/${id}`);
    await getCoupon(page).click();
    await seeText(page, "#result", /personal link/);
    expect((await s.api.stats(id)).body.issued).toBe(0);
  }, 60_000);
});

describe("who is signed in", () => {
  const stored = (page: Page) => page.evaluate(() => sessionStorage.getItem("coupon.token"));

  test("the pages say who the tab is signed in as", async () => {
    const id = await s.api.newEvent({ name: "Whoami", stock: 5, trafficRpm: 0, runningCapacity: 1 });
    const page = await open(`${s.url}/events/${id}?token=${token("web-alice")}`);
    await seeText(page, "#who", /^Signed in as web-alice$/);
    await page.goto(`${s.url}/events/${id}/waiting`);
    await seeText(page, "#who", /^Signed in as web-alice$/);
  }, 60_000);

  test("a link for another user asks before switching the tab; staying keeps the tab's user", async () => {
    const id = await s.api.newEvent({ name: "Two accounts", stock: 5, trafficRpm: 1_000_000_000, runningCapacity: 10 });
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
    const { ctx, page } = await web.context({ viewport: { width: 1280, height: 900 } });
    // here a failed load is a problem too: nothing the page asks for may be refused
    page.on("console", (m) => m.type() === "error" && m.text().startsWith("Failed to load resource") && problems.push(m.text()));
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

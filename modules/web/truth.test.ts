// Pages that tell the truth (issue #20, item 3) and the shop's pages in Korean (issue #22), in
// Chromium at phone size (390×844) against a real server: each situation of the issue's list.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Page } from "playwright-core";
import { ADMIN_TOKEN, NO_USER_LIMITS, startServer, stopServer, token, waitFor, type Started } from "../../scripts/testkit";
import { BRAND, browserPages, fitsWidth, seeText, type PhoneOptions } from "./browser-kit";

const kit = browserPages("truth");
const { problems } = kit;

async function open(url: string, opts: PhoneOptions = {}) {
  const p = await kit.phone(opts);
  await p.page.goto(url);
  return p;
}

const style = (page: Page, sel: string, prop: string) => page.locator(sel).evaluate((el, p) => getComputedStyle(el).getPropertyValue(p), prop);

describe("the truth, on a phone", () => {
  let s: Started;
  beforeAll(async () => {
    s = await startServer(NO_USER_LIMITS);
  });
  afterAll(() => stopServer(s));
  const create = async (body: Record<string, unknown>) => {
    const r = await s.api.createEvent(body);
    expect(r.status).toBe(201);
    return r.body.id as number;
  };
  const admin = (path: string, body?: unknown) => s.api.call("POST", path, { token: ADMIN_TOKEN, body });

  test("?lang=ko with the brand: paused with the operator's message, sold-out odds said plainly, leaving asks once", async () => {
    const id = await create({ name: "블랙 프라이데이 30% 할인", stock: 2, trafficRpm: 0, runningCapacity: 1, brand: BRAND });
    expect((await admin(`/admin/events/${id}/pause`)).status).toBe(200);
    expect((await s.api.patch(id, { message: "재고를 확인하는 중입니다. 10분 뒤에 다시 시작합니다." })).status).toBe(200);
    // three people are ahead, nobody is let in while paused
    for (const u of ["a", "b", "c"]) expect((await s.api.enter(id, `ko-${u}-${id}`)).status).toBe(202);

    const user = `ko-me-${id}`;
    const { page } = await open(`${s.url}/events/${id}?lang=ko&token=${token(user)}`);
    expect(await page.getAttribute("html", "lang")).toBe("ko");
    await seeText(page, "#brand-name", /^무신사$/);
    await seeText(page, "#event-status", /^일시 중지$/);
    await seeText(page, "#notice", /^무신사의 안내: 재고를 확인하는 중입니다\. 10분 뒤에 다시 시작합니다\.$/);
    // the shop's colour on the button, with the ink that reads on it
    expect(await style(page, "#get-coupon", "background-color")).toBe("rgb(228, 0, 43)");
    expect(await page.locator("#brand-logo").isVisible()).toBe(true);
    expect(await page.getByRole("link", { name: "무신사로 돌아가기" }).getAttribute("href")).toBe(BRAND.returnUrl);

    await page.getByRole("button", { name: "쿠폰 받기" }).click();
    await page.waitForURL(`${s.url}/events/${id}/waiting`);
    // the language stays for the tab (the address no longer says it)
    await seeText(page, "#heading", /^대기 중입니다$/);
    await seeText(page, "#position", /^4$/);
    await seeText(page, "#notice", /^일시 중지: 이벤트가 다시 진행될 때까지 아무도 입장하지 않습니다\. 순번은 그대로 유지됩니다\. 무신사의 안내: 재고를 확인하는 중입니다/);
    await seeText(page, "#eta", /^일시 중지 중이라 알 수 없음$/);
    await seeText(page, "#chances", /^쿠폰 2장 남음 · 내 앞에 3명$/);
    await seeText(page, "#odds", /^차례가 오기 전에 매진될 가능성이 매우 높습니다\. 남은 쿠폰은 2장인데 내 앞에 3명이 있습니다\./);
    expect(await fitsWidth(page)).toBe(true);

    // leaving asks once, in the page (no window.confirm: a dialog would fail the test), staying is the default
    page.on("dialog", (d) => problems.push(`a browser dialog: ${d.message()}`));
    await page.locator("#odds-box").getByRole("button", { name: "대기열에서 나가기" }).click();
    await seeText(page, "#confirm-text", /^대기열에서 나갈까요\? 대기 순번 4번을 포기하게 됩니다\. 나중에 다시 오시면 맨 뒤에 서게 됩니다\.$/);
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("confirm-no");
    await page.getByRole("button", { name: "계속 기다리기" }).click();
    expect(await page.locator("#confirm-leave").isHidden()).toBe(true);
    expect((await s.api.poll(id, user)).body).toMatchObject({ status: "waiting", position: 4 });
    await page.getByRole("button", { name: "대기열에서 나가기" }).first().click();
    await page.getByRole("button", { name: "네, 나가겠습니다" }).click();
    await page.waitForURL(`${s.url}/events/${id}`);
    expect((await s.api.poll(id, user)).body.error).toBe("not_in_queue");
  }, 90_000);

  test("Accept-Language: ko-KR (an English browser): the winner sees the code, its validity and the way back to the shop; the switch turns it English", async () => {
    const validUntil = "2026-12-31T14:59:00Z";
    const id = await create({ name: "겨울 세일", stock: 5, trafficRpm: 1_000_000_000, runningCapacity: 5, couponValidUntil: validUntil, brand: BRAND });
    const user = `al-${id}`;
    const { page } = await open(`${s.url}/events/${id}?token=${token(user)}`, { acceptLanguage: "ko-KR" });
    expect(await page.evaluate(() => navigator.languages)).toEqual(["en-US", "en"]);
    await seeText(page, "#event-name", /^겨울 세일$/);
    expect(await page.getAttribute("html", "lang")).toBe("ko");
    await page.getByRole("button", { name: "쿠폰 받기" }).click();
    await seeText(page, "#result", /^쿠폰이 발급되었습니다/);
    const mine = (await s.api.coupon(id, user)).body;
    await seeText(page, "#coupon-code", new RegExp(`^${mine.code}$`));
    // 2026-12-31 14:59 UTC is 23:59 in Seoul
    await seeText(page, "#validity", /^2026년 12월 31일 오후 11:59까지 사용 가능 \(Asia\/Seoul, UTC\+9\)$/);
    const back = page.getByRole("link", { name: "무신사에서 사용하기" });
    expect(await back.getAttribute("href")).toBe(BRAND.returnUrl);
    expect(await back.getAttribute("target")).toBe("_top");
    expect(await fitsWidth(page)).toBe(true);

    await page.getByRole("navigation", { name: "언어" }).getByRole("link", { name: "English" }).click();
    await seeText(page, "#result", /^Already issued/);
    expect(await page.getAttribute("html", "lang")).toBe("en");
    await seeText(page, "#coupon-code", new RegExp(`^${mine.code}$`));
    await seeText(page, "#validity", /^Valid until December 31, 2026 at 11:59 PM \(Asia\/Seoul, UTC\+9\)$/);
    expect(await page.getByRole("link", { name: "Use it at 무신사" }).getAttribute("href")).toBe(BRAND.returnUrl);
    expect(await page.getByRole("link", { name: "한국어" }).getAttribute("aria-current")).toBeNull();
  }, 60_000);

  test("a full line says the line is full, not that the service is busy", async () => {
    const id = await create({ name: "Tiny line", stock: 5, trafficRpm: 0, runningCapacity: 1, maxWaiting: 1 });
    expect((await admin(`/admin/events/${id}/pause`)).status).toBe(200);
    expect((await s.api.enter(id, `full-first-${id}`)).status).toBe(202);
    const { page } = await open(`${s.url}/events/${id}?token=${token(`full-me-${id}`)}`);
    await seeText(page, "#event-status", /^Paused$/);
    await page.getByRole("button", { name: "Get coupon" }).click();
    await seeText(page, "#result", /^The line is full: it already holds as many people as this event allows\./);
    expect(page.url()).toBe(`${s.url}/events/${id}`);
  }, 60_000);

  test("offline: the page says when it last heard from the server and counts down how long the place is kept; back online it is live again", async () => {
    const id = await create({ name: "Patchy signal", stock: 5, trafficRpm: 0, runningCapacity: 1 });
    expect((await admin(`/admin/events/${id}/pause`)).status).toBe(200);
    const { ctx, page } = await open(`${s.url}/events/${id}?token=${token(`off-${id}`)}`);
    await page.getByRole("button", { name: "Get coupon" }).click();
    await page.waitForURL(`${s.url}/events/${id}/waiting`);
    await seeText(page, "#position", /^1$/);
    expect(await page.locator("#stale").isHidden()).toBe(true);

    await ctx.setOffline(true);
    await seeText(page, "#stale-heard", /^No connection: last heard from the server \d+ s ago \(\d\d:\d\d:\d\d\)\. The numbers below are from then\.$/);
    await seeText(page, "#stale-kept", /^Your place is still kept for [12]:\d\d\. This page keeps trying\.$/);
    await seeText(page, "#as-of", /^as of \d\d:\d\d:\d\d$/);
    expect(await page.locator("#in-line").getAttribute("class")).toContain("is-stale");
    // it counts down while nothing is heard
    const first = await page.locator("#stale-kept").textContent();
    await waitFor("the countdown to move", async () => (await page.locator("#stale-kept").textContent()) !== first, 15_000, 100);
    const [secondsAgo] = /\d+/.exec((await page.locator("#stale-heard").textContent())!)!;
    await waitFor("the time since last heard to grow", async () => Number(/\d+/.exec((await page.locator("#stale-heard").textContent())!)![0]) > Number(secondsAgo), 15_000, 100);

    await ctx.setOffline(false);
    await waitFor("the page live again", async () => await page.locator("#stale").isHidden(), 15_000, 100);
    expect(await page.locator("#in-line").getAttribute("class")).not.toContain("is-stale");
    await seeText(page, "#position", /^1$/);
  }, 60_000);

  test("the event page offline: the stock is marked as last heard, not shown as live", async () => {
    const id = await create({ name: "Live stock", stock: 5, trafficRpm: 1_000_000_000, runningCapacity: 5 });
    const { ctx, page } = await open(`${s.url}/events/${id}?token=${token(`stock-${id}`)}`);
    await seeText(page, "#remaining", /^5$/);
    expect(await page.locator("#event-stale").isHidden()).toBe(true);
    await ctx.setOffline(true);
    await seeText(page, "#event-stale", /^No connection: last heard from the server \d+ s ago \(\d\d:\d\d:\d\d\); the stock shown is from then\.$/);
    await ctx.setOffline(false);
    await waitFor("the stock live again", async () => await page.locator("#event-stale").isHidden(), 15_000, 100);
  }, 60_000);

  test("a turn counts down on the event page; the user presses in time and gets the coupon", async () => {
    const id = await create({ name: "Your turn", stock: 5, trafficRpm: 0, runningCapacity: 1 });
    const user = `turn-${id}`;
    const { page } = await open(`${s.url}/events/${id}?token=${token(user)}`);
    await page.getByRole("button", { name: "Get coupon" }).click();
    await waitFor("the turn on the event page", async () => page.url() === `${s.url}/events/${id}`, 30_000, 100);
    await seeText(page, "#result", /^It is your turn! Press Get coupon before \d\d:\d\d:\d\d \(Asia\/Seoul, UTC\+9\)\.$/);
    await seeText(page, "#slot", /^Your turn: [12]:\d\d left to press Get coupon$/);
    expect(await page.getByRole("timer").count()).toBeGreaterThan(0);
    await page.getByRole("button", { name: "Get coupon" }).click();
    await seeText(page, "#result", /^Coupon issued/);
    expect(await page.locator("#slot").isHidden()).toBe(true);
    expect((await s.api.coupon(id, user)).body.issued).toBe(true);
  }, 60_000);
});

// Makes the pictures in docs/ (shown by the README and docs/shop.md) from a real server, a crowd of API users and a browser:
//   docs/waiting-room.png  a browser user (phone) part of the way to the front of a line: place, chances, ETA
//   docs/pre-queue.png     a browser user (phone) in the pre-queue before the start: countdown, chances
//   docs/admin.png         the operator's view of an event mid-rush: list, stall reason, request rate, live chart
//   docs/winner.png        the event page of a user who got the coupon: the code and its copy button
//   docs/waiting-room-ko.png  the waiting room in Korean with a shop's brand: place, chances, "very likely sold out first"
//   docs/winner-ko.png     the winner's page in Korean with the brand: code, validity, the way back to the shop
//   docs/offline.png       the waiting room after its connection dropped: last heard, how long the place is kept
// Run: bun run modules/web/screenshot.ts [waiting-room|admin|winner …] (default: all). With
// TEST_DATABASE_URL pointing at an empty schema, the admin list shows only the events made here.
import { join } from "node:path";
import { ADMIN_TOKEN, NO_USER_LIMITS, pool, startServer, stopServer, token, waitFor, type Started } from "../../scripts/testkit";
import { BRAND, driveLine, launchChromium, phone } from "./browser-kit";
import type { Browser } from "playwright-core";

const docs = join(import.meta.dir, "..", "..", "docs");
const wanted = new Set(process.argv.slice(2).length ? process.argv.slice(2) : ["waiting-room", "pre-queue", "admin", "winner", "waiting-room-ko", "winner-ko", "offline"]);
const inBerlin = { timezoneId: "Europe/Berlin" };

async function waitingRoom(s: Started, browser: Browser) {
  const ev = await s.api.createEvent({ name: "Black Friday: 30% off", stock: 80, trafficRpm: 0, runningCapacity: 3 });
  const id = ev.body.id as number;
  const crowd = Array.from({ length: 60 }, (_, i) => `crowd-${id}-${i}`);
  await pool(crowd, 8, (u) => s.api.enter(id, u));

  const { ctx, page } = await phone(browser, inBerlin);
  await page.goto(`${s.url}/events/${id}?token=${token(`shopper-${id}`)}`);
  await page.getByRole("button", { name: "Get coupon" }).click();
  await page.waitForURL(`${s.url}/events/${id}/waiting`);
  const position = async () => Number(await page.locator("#position").textContent());
  await waitFor("a place in line", async () => (await position()) > 0, 10_000);
  const first = await position();

  // let about a third of the line go ahead, so the progress bar shows some progress
  const line = driveLine(s.api, id, crowd);
  await waitFor("the line to move", async () => (await position()) <= first * 0.65, 60_000);
  await line.stop();
  await waitFor("an estimate", async () => /about/.test((await page.locator("#eta").textContent()) ?? ""), 10_000);
  const out = join(docs, "waiting-room.png");
  await page.screenshot({ path: out });
  console.log(`wrote ${out} (position ${await position().catch(() => "?")} of ${first}; ${await page.locator("#chances").textContent()})`);
  await ctx.close();
}

async function preQueue(s: Started, browser: Browser) {
  const startsAt = Date.now() + 10 * 60_000;
  const ev = await s.api.createEvent({ name: "Midnight drop: sneakers", stock: 300, trafficRpm: 0, runningCapacity: 50, queueOpensAt: new Date(Date.now() - 60_000).toISOString(), startsAt: new Date(startsAt).toISOString() });
  const id = ev.body.id as number;
  const crowd = Array.from({ length: 1250 }, (_, i) => `early-${id}-${i}`);
  await pool(crowd, 16, (u) => s.api.enter(id, u));

  const { ctx, page } = await phone(browser, inBerlin);
  await page.goto(`${s.url}/events/${id}?token=${token(`shopper-${id}`)}`);
  await page.getByRole("button", { name: "Join the pre-queue" }).click();
  await page.waitForURL(`${s.url}/events/${id}/waiting`);
  await page.locator("#pre-chances").filter({ hasText: "1,251 people" }).waitFor();
  const out = join(docs, "pre-queue.png");
  await page.screenshot({ path: out });
  console.log(`wrote ${out} (${await page.locator("#pre-countdown").textContent()}; ${await page.locator("#pre-chances").textContent()})`);
  await ctx.close();
}

async function admin(s: Started, browser: Browser) {
  const soon = new Date(Date.now() + 86_400_000).toISOString();
  await s.api.createEvent({ name: "Spring preview", stock: 200, trafficRpm: 600, runningCapacity: 20, startsAt: soon });
  const gone = (await s.api.createEvent({ name: "Early bird: 2 for 1", stock: 3, trafficRpm: 1_000_000_000, runningCapacity: 10 })).body.id as number;
  for (const u of ["eb-1", "eb-2", "eb-3"]) (await s.api.enter(gone, u), await s.api.issue(gone, u));
  const id = (await s.api.createEvent({ name: "Black Friday: 30% off", stock: 5000, trafficRpm: 0, runningCapacity: 10, admitPerSecond: 4, couponValidUntil: new Date(Date.now() + 30 * 86_400_000).toISOString() })).body.id as number;
  const crowd = Array.from({ length: 240 }, (_, i) => `bf-${id}-${i}`);

  const page = await browser.newPage({ viewport: { width: 1100, height: 900 }, deviceScaleFactor: 2 });
  await page.goto(`${s.url}/admin#event-${id}`);
  await page.getByLabel("ADMIN_TOKEN").fill(ADMIN_TOKEN);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("#detail-title").filter({ hasText: "Black Friday" }).waitFor();

  // the crowd arrives in waves over a minute, and takes its coupons as it is admitted
  const lines: ReturnType<typeof driveLine>[] = [];
  for (let wave = 0; wave < 4; wave++) {
    const users = crowd.slice(wave * 60, wave * 60 + 60);
    await pool(users, 8, (u) => s.api.enter(id, u));
    lines.push(driveLine(s.api, id, users, 400));
    await Bun.sleep(12_000);
  }
  await Bun.sleep(8_000);
  const out = join(docs, "admin.png");
  const top = await page.locator("section[aria-labelledby='list-heading']").boundingBox();
  const bottom = await page.locator("#knobs").boundingBox();
  await page.screenshot({ path: out, fullPage: true, clip: { x: 0, y: top!.y - 16, width: 1100, height: bottom!.y + bottom!.height - top!.y + 32 } });
  console.log(`wrote ${out} (${await page.locator("#stall").textContent()})`);
  await Promise.all(lines.map((l) => l.stop()));
  await page.close();
}

async function winner(s: Started, browser: Browser) {
  const id = (await s.api.createEvent({ name: "Black Friday: 30% off", stock: 500, trafficRpm: 1_000_000_000, runningCapacity: 50, couponValidUntil: new Date(Date.now() + 30 * 86_400_000).toISOString() })).body.id as number;
  const ctx = await browser.newContext({ viewport: { width: 640, height: 700 }, deviceScaleFactor: 2, permissions: ["clipboard-read", "clipboard-write"] });
  const page = await ctx.newPage();
  await page.goto(`${s.url}/events/${id}?token=${token(`winner-${id}`)}`);
  await page.getByRole("button", { name: "Get coupon" }).click();
  await page.locator("#coupon-code").filter({ hasText: /-/ }).waitFor();
  await page.getByRole("button", { name: "Copy code" }).click();
  await page.locator("#copy-status").filter({ hasText: "Copied" }).waitFor();
  const out = join(docs, "winner.png");
  await page.screenshot({ path: out });
  console.log(`wrote ${out} (${await page.locator("#coupon-code").textContent()})`);
  await ctx.close();
}

// a phone in Seoul whose browser speaks Korean
const inKorean = { locale: "ko-KR" };

async function waitingRoomKo(s: Started, browser: Browser) {
  const id = (await s.api.createEvent({ name: "블랙 프라이데이 30% 할인", stock: 30, trafficRpm: 0, runningCapacity: 3, brand: BRAND })).body.id as number;
  const crowd = Array.from({ length: 60 }, (_, i) => `ko-crowd-${id}-${i}`);
  await pool(crowd, 8, (u) => s.api.enter(id, u));
  const { ctx, page } = await phone(browser, inKorean);
  await page.goto(`${s.url}/events/${id}?token=${token(`ko-shopper-${id}`)}`);
  await page.getByRole("button", { name: "쿠폰 받기" }).click();
  await page.waitForURL(`${s.url}/events/${id}/waiting`);
  const position = async () => Number((await page.locator("#position").textContent())?.replace(/,/g, ""));
  await waitFor("a place in line", async () => (await position()) > 0, 10_000);
  const first = await position();
  const line = driveLine(s.api, id, crowd);
  await waitFor("the line to move", async () => (await position()) <= first * 0.8, 60_000);
  await line.stop();
  await page.locator("#odds").filter({ hasText: "매진" }).waitFor();
  await page.locator("#brand-logo").waitFor();
  const out = join(docs, "waiting-room-ko.png");
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${out} (${await page.locator("#chances").textContent()})`);
  await ctx.close();
}

async function winnerKo(s: Started, browser: Browser) {
  const id = (await s.api.createEvent({ name: "겨울 세일: 2만원 할인", stock: 500, trafficRpm: 1_000_000_000, runningCapacity: 50, couponValidUntil: "2026-12-31T14:59:00Z", brand: BRAND })).body.id as number;
  const { ctx, page } = await phone(browser, inKorean);
  await page.goto(`${s.url}/events/${id}?token=${token(`ko-winner-${id}`)}`);
  await page.getByRole("button", { name: "쿠폰 받기" }).click();
  await page.locator("#coupon-code").filter({ hasText: /-/ }).waitFor();
  await page.getByRole("button", { name: "코드 복사" }).click();
  await page.locator("#copy-status").filter({ hasText: "복사" }).waitFor();
  const out = join(docs, "winner-ko.png");
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${out} (${await page.locator("#validity").textContent()})`);
  await ctx.close();
}

async function offline(s: Started, browser: Browser) {
  const id = (await s.api.createEvent({ name: "Black Friday: 30% off", stock: 40, trafficRpm: 0, runningCapacity: 3 })).body.id as number;
  const crowd = Array.from({ length: 20 }, (_, i) => `off-crowd-${id}-${i}`);
  await pool(crowd, 8, (u) => s.api.enter(id, u));
  const { ctx, page } = await phone(browser, inBerlin);
  await page.goto(`${s.url}/events/${id}?token=${token(`off-shopper-${id}`)}`);
  await page.getByRole("button", { name: "Get coupon" }).click();
  await page.waitForURL(`${s.url}/events/${id}/waiting`);
  await page.locator("#eta").filter({ hasText: "about" }).waitFor();
  await ctx.setOffline(true);
  await page.locator("#stale-heard").filter({ hasText: /ago/ }).waitFor();
  await waitFor("a few seconds of silence", async () => /\b([5-9]|\d\d) s ago/.test((await page.locator("#stale-heard").textContent()) ?? ""), 30_000);
  const out = join(docs, "offline.png");
  await page.screenshot({ path: out, fullPage: true });
  console.log(`wrote ${out} (${await page.locator("#stale").textContent()})`);
  await ctx.close();
}

const s = await startServer(NO_USER_LIMITS);
const browser = await launchChromium();
try {
  if (wanted.has("waiting-room")) await waitingRoom(s, browser);
  if (wanted.has("pre-queue")) await preQueue(s, browser);
  if (wanted.has("admin")) await admin(s, browser);
  if (wanted.has("winner")) await winner(s, browser);
  if (wanted.has("waiting-room-ko")) await waitingRoomKo(s, browser);
  if (wanted.has("winner-ko")) await winnerKo(s, browser);
  if (wanted.has("offline")) await offline(s, browser);
} finally {
  await browser.close();
  await stopServer(s);
}
// stop() leaves the admission cron ticking, which would keep this script alive
process.exit(0);

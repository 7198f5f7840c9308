// The bot gate in a browser at phone size (390×844): the event page meets bot_check_failed, fetches a
// real challenge, solves it in Web Workers under the strict CSP while a progress bar moves, and gets
// the coupon with the proof.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { metricValue, startServer, stopServer, token, type Started } from "../../scripts/testkit";
import { browserPages, fitsWidth, seeText } from "../web/browser-kit";

// a CSP violation (a worker or module the policy refused) or a script error fails the test
const kit = browserPages("botgate");

describe("the bot gate in the event page", () => {
  let s: Started;
  beforeAll(async () => {
    s = await startServer({ QUEUE_SCHEDULER: "off", ISSUER: "off" });
  });
  afterAll(() => stopServer(s));

  test("a real challenge solved in Web Workers with visible progress, then the coupon", async () => {
    // pow 17: about 130,000 hashes, long enough for the progress bar to show
    const id = (await s.api.createEvent({ name: "Gated drop", stock: 5, trafficRpm: 1_000_000, runningCapacity: 5, botGate: { pow: 17 } })).body.id as number;
    const user = `gated-${id}`;
    // the first enter's 403 (no proof yet) is part of the flow: the kit lets "Failed to load resource" pass
    const { page } = await kit.phone();
    const workers: string[] = [];
    page.on("worker", (w) => workers.push(w.url()));
    // what the bar showed, sampled in the page while the work runs
    await page.addInitScript(() => {
      const seen: string[] = ((window as unknown as { seen: string[] }).seen = []);
      setInterval(() => {
        const label = document.querySelector(".botgate .progress-label")?.textContent;
        if (label && seen.at(-1) !== label) seen.push(label);
      }, 20);
    });
    await page.goto(`${s.url}/events/${id}?token=${token(user)}`);
    await seeText(page, "#event-name", /Gated drop/);
    await page.locator("#get-coupon").click();
    await seeText(page, "#result", /Coupon issued/, 240_000);
    // the bar moved: more than one percentage was shown on the way
    const seen = await page.evaluate(() => (window as unknown as { seen: string[] }).seen);
    expect(seen.filter((l) => /not a bot… [1-9]\d?%$/.test(l)).length).toBeGreaterThan(0);
    expect(await page.locator(".botgate").count()).toBe(0);
    expect(workers.length).toBeGreaterThan(0);
    expect(workers.every((u) => u.endsWith("/assets/botgate-worker.js"))).toBe(true);
    expect((await page.locator("#coupon-code").textContent())?.length).toBeGreaterThan(0);
    // it fits the phone's width
    expect(await fitsWidth(page)).toBe(true);
    expect(await metricValue(s.url, "coupon_bot_checks_total", { result: "passed" })).toBe(1);
  }, 300_000);
});

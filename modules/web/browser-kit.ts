// Shared by the browser tests and the screenshots in docs/: Debian's chromium driven by playwright-core,
// and a crowd of API users standing in line ahead of the person in the browser.
import { afterAll, afterEach, beforeAll, expect } from "bun:test";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from "playwright-core";
import { pool, type client } from "../../scripts/testkit";

export const launchChromium = () =>
  chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--no-first-run", "--disable-component-update", "--disable-sync"],
  });

/** Waits until the element's text matches; on timeout says what the text was. */
export async function seeText(page: Page, selector: string, re: RegExp, timeoutMs = 15_000) {
  try {
    await page.waitForFunction(([sel, src, flags]) => new RegExp(src!, flags).test(document.querySelector(sel!)?.textContent ?? ""), [selector, re.source, re.flags] as const, { timeout: timeoutMs, polling: 50 });
  } catch (e) {
    const actual = await page.locator(selector).textContent().catch(() => "(gone)");
    throw new Error(`${selector} never matched ${re}: it says "${actual}" (${(e as Error).message.split("\n")[0]})`);
  }
}

/** The page fits its viewport's width: nothing to scroll sideways. */
export const fitsWidth = (page: Page) => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);

/** A shop's brand for the pages' tests and pictures, and its logo (served by a route: no network in tests). */
export const BRAND = { shopName: "무신사", logoUrl: "https://cdn.shop.example/logo.svg", accentColor: "#e4002b", returnUrl: "https://shop.example/sale" };
export const LOGO = `<svg xmlns="http://www.w3.org/2000/svg" width="96" height="32"><rect width="96" height="32" rx="6" fill="#e4002b"/><text x="48" y="22" font-size="15" font-weight="700" text-anchor="middle" fill="#fff" font-family="sans-serif">MUSINSA</text></svg>`;

export type PhoneOptions = { locale?: string; acceptLanguage?: string; timezoneId?: string };

/**
 * A phone (390×844), in Seoul unless `timezoneId` says otherwise; `locale` is the browser's language
 * (and its Accept-Language), or `acceptLanguage` only the header, the browser's own languages staying
 * English (en-US).
 */
export async function phone(b: Browser, opts: PhoneOptions = {}) {
  const ctx = await b.newContext({
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    timezoneId: opts.timezoneId ?? "Asia/Seoul",
    ...(opts.acceptLanguage ? {} : { locale: opts.locale ?? "en-GB" }),
    permissions: ["clipboard-read", "clipboard-write"],
    ...(opts.acceptLanguage ? { extraHTTPHeaders: { "accept-language": opts.acceptLanguage } } : {}),
  });
  // the shop's logo, from its "CDN" (no network in tests)
  await ctx.route("https://cdn.shop.example/**", (route) => route.fulfill({ status: 200, contentType: "image/svg+xml", body: LOGO }));
  const page = await ctx.newPage();
  return { ctx, page };
}

/** A small phone (375×740): open(url, { phone: true }). */
export const PHONE = { viewport: { width: 375, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

/**
 * A test file's browser: one Chromium for the file, the pages a test opens closed after it, and a CSP
 * violation or an uncaught script error failing the test that caused it. Screenshots go to a
 * temporary directory named in the log.
 */
export function browserPages(name: string) {
  let shots: string | undefined;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];
  const watch = (page: Page) => {
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    // a 4xx answer to fetch is logged as "Failed to load resource", and 4xx answers are part of the flow
    page.on("console", (m) => m.type() === "error" && !m.text().startsWith("Failed to load resource") && problems.push(m.text()));
    return page;
  };
  /** A fresh context (closed after the test) and its page, watched like every page here. */
  const context = async (options: BrowserContextOptions = {}): Promise<{ ctx: BrowserContext; page: Page }> => {
    const ctx = await browser.newContext(options);
    contexts.push(ctx);
    return { ctx, page: watch(await ctx.newPage()) };
  };
  beforeAll(async () => {
    browser = await launchChromium();
  }, 30_000);
  afterAll(() => browser?.close());
  afterEach(async () => {
    await Promise.all(contexts.splice(0).map((c) => c.close()));
    // a CSP violation or an uncaught script error fails the test that caused it
    expect(problems.splice(0)).toEqual([]);
  });
  return {
    get browser() {
      return browser;
    },
    contexts,
    problems,
    context,
    /** A phone (see phone()), closed after the test and watched like every page here. */
    async phone(opts: PhoneOptions = {}): Promise<{ ctx: BrowserContext; page: Page }> {
      const p = await phone(browser, opts);
      contexts.push(p.ctx);
      watch(p.page);
      return p;
    },
    async open(url: string, opts: { phone?: boolean } = {}): Promise<Page> {
      const { page } = await context({ ...(opts.phone ? PHONE : { viewport: { width: 1024, height: 768 } }), permissions: ["clipboard-read", "clipboard-write"] });
      await page.goto(url);
      return page;
    },
    shot(page: Page, picture: string) {
      if (!shots) {
        shots = mkdtempSync(join(tmpdir(), `coupon-${name}-`));
        console.log("screenshots in", shots);
      }
      return page.screenshot({ path: join(shots, `${picture}.png`), fullPage: true });
    },
  };
}

/**
 * Plays the crowd: polls every user in `users` (so nobody is dropped from the line) and issues for each
 * one admitted, which frees its running slot for the next in line. Runs until stopped or all are through.
 */
export function driveLine(api: ReturnType<typeof client>, eventId: number, users: string[], everyMs = 250) {
  const left = new Set(users);
  let stopped = false;
  const running = (async () => {
    while (!stopped && left.size) {
      await pool([...left], 8, async (u) => {
        const r = await api.poll(eventId, u);
        const state = r.status === 404 ? "gone" : r.body?.status;
        if (state === "admitted") await api.issue(eventId, u);
        // anything else (a 429, say) is asked again next round
        if (state === "admitted" || state === "sold_out" || state === "closed" || state === "gone") left.delete(u);
      });
      await Bun.sleep(everyMs);
    }
  })();
  return {
    left,
    async stop() {
      stopped = true;
      await running;
    },
  };
}

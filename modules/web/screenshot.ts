// Makes docs/waiting-room.png, the README's picture of the waiting room: a real server, a crowd of
// API users ahead, and a browser user part of the way to the front. Run: bun run modules/web/screenshot.ts
import { join } from "node:path";
import { pool, startServer, stopServer, token, waitFor } from "../../scripts/testkit";
import { driveLine, launchChromium } from "./browser-kit";

const out = join(import.meta.dir, "..", "..", "docs", "waiting-room.png");
const s = await startServer();
const browser = await launchChromium();
try {
  const ev = await s.api.createEvent({ name: "Black Friday: 30% off", stock: 500, trafficRpm: 0, runningCapacity: 3 });
  const id = ev.body.id as number;
  const crowd = Array.from({ length: 60 }, (_, i) => `crowd-${id}-${i}`);
  await pool(crowd, 8, (u) => s.api.enter(id, u));

  const page = await browser.newPage({ viewport: { width: 640, height: 560 }, deviceScaleFactor: 2 });
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
  await page.screenshot({ path: out });
  console.log(`wrote ${out} (position ${await position()} of ${first})`);
} finally {
  await browser.close();
  await stopServer(s);
}
// stop() leaves the admission cron ticking, which would keep this script alive
process.exit(0);

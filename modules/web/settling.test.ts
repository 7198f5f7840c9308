// A control being settled, as the operator and the public read it (issue #19): while a cancel's MySQL
// commit is slow, its hold keeps the event from opening (Lua says scheduled), and the admin view,
// the public view and the admin page say so and name the control, instead of "open".
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ADMIN_TOKEN, cuttableProxy, NO_USER_LIMITS, startServer, stopServer, waitFor, type Started } from "../../scripts/testkit";
import { browserPages, seeText } from "./browser-kit";

let s: Started;
const proxy = cuttableProxy(3306);
const { open } = browserPages("settling");
const admin = { token: ADMIN_TOKEN };

beforeAll(async () => {
  s = await startServer({ DATABASE_URL: proxy.url(), ...NO_USER_LIMITS });
});
afterAll(async () => {
  proxy.restore();
  await stopServer(s);
  proxy.stop();
});

async function managed(id: number) {
  const page = await open(`${s.url}/admin#event-${id}`);
  page.on("dialog", (d) => void d.accept());
  await page.getByLabel("ADMIN_TOKEN").fill(ADMIN_TOKEN);
  await page.getByRole("button", { name: "Sign in" }).click();
  await seeText(page, "#detail-title", new RegExp(`^#${id} `));
  return page;
}

describe("a control being settled", () => {
  // the old views derived the status without the hold: "open" once the start passed, with sales held
  test("a cancel whose commit is slow past the start: scheduled (cancelling…) in the admin view, the public view and the page, then cancelled", async () => {
    const startsAt = Date.now() + 2500;
    const id = (await s.api.createEvent({ name: "slow cancel", stock: 10, trafficRpm: 1000, runningCapacity: 10, startsAt: new Date(startsAt).toISOString() })).body.id as number;
    const page = await managed(id);
    await seeText(page, "#detail-status", /^scheduled$/);
    proxy.slowOn("update `coupon_events` set `paused`", 6000);
    const cancel = s.api.call("DELETE", `/admin/events/${id}`, admin);
    await waitFor("the cancel's lease", async () => (await s.api.call("GET", `/admin/events/${id}`, admin)).body.control === "cancel", 5000);
    await Bun.sleep(Math.max(0, startsAt + 300 - Date.now()));

    const during = (await s.api.call("GET", `/admin/events/${id}`, admin)).body;
    expect({ status: during.status, control: during.control }).toEqual({ status: "scheduled", control: "cancel" });
    // the list says the same, with and without its status filter
    const listed = async (q: string) => ((await s.api.call("GET", `/admin/events?${q}limit=100`, admin)).body.events as { id: number; status: string }[]).find((e) => e.id === id)?.status;
    expect([await listed(""), await listed("status=scheduled&"), await listed("status=open&")]).toEqual(["scheduled", "scheduled", undefined]);
    // the router's view is refreshed every flush
    await waitFor("the public view", async () => (await s.api.call("GET", `/api/events/${id}`)).body.status === "scheduled", 2000);
    expect((await s.api.call("GET", `/api/events/${id}`)).body.status).toBe("scheduled");
    await seeText(page, "#detail-status", /^scheduled \(cancelling…\)$/, 3000);
    await seeText(page, "#stall", /^Cancelling: the cancel is being recorded; the event does not open meanwhile\.$/, 3000);
    expect(Date.now()).toBeLessThan(startsAt + 5000);

    const done = await cancel;
    expect([done.status, done.body.status]).toEqual([200, "cancelled"]);
    const after = (await s.api.call("GET", `/admin/events/${id}`, admin)).body;
    expect({ status: after.status, control: after.control }).toEqual({ status: "cancelled", control: null });
    await seeText(page, "#detail-status", /^cancelled$/);
  }, 60_000);

  test("a close whose commit is slow: open (closing…) until it is in force, then closed", async () => {
    const id = (await s.api.createEvent({ name: "slow close", stock: 10, trafficRpm: 1000, runningCapacity: 10 })).body.id as number;
    const page = await managed(id);
    await seeText(page, "#detail-status", /^open$/);
    proxy.slowOn("update `coupon_events` set `paused`", 4000);
    const close = s.api.call("POST", `/admin/events/${id}/close`, admin);
    await waitFor("the close's lease", async () => (await s.api.call("GET", `/admin/events/${id}`, admin)).body.control === "close", 3000);
    const during = (await s.api.call("GET", `/admin/events/${id}`, admin)).body;
    expect({ status: during.status, control: during.control }).toEqual({ status: "open", control: "close" });
    await seeText(page, "#detail-status", /^open \(closing…\)$/, 3000);
    await seeText(page, "#stall", /^Closing: the close is being recorded; until it is in force the event goes on as before\.$/, 3000);

    expect((await close).status).toBe(200);
    expect((await s.api.call("GET", `/admin/events/${id}`, admin)).body.control).toBeNull();
    await seeText(page, "#detail-status", /^closed$/);
  }, 60_000);
});

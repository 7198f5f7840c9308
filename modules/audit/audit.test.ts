// The audit trail: every admin write recorded in MySQL with who, when, what and the fields before
// and after, readable page by page, on ROLE=all and through the split router.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { Redis } from "ioredis";
import { ADMIN_TOKEN, client, mysqlConn, spawnSplit, startServer, stopServer, TEST_REDIS, type Split, type Started } from "../../scripts/testkit";

setDefaultTimeout(300_000);

const admin = { token: ADMIN_TOKEN };
const db = mysqlConn();
const redis = new Redis(TEST_REDIS);
let all: Started;
let split: Split;

beforeAll(async () => {
  all = await startServer();
  split = await spawnSplit("audit");
});
afterAll(async () => {
  await split?.stop();
  await stopServer(all);
  redis.disconnect();
  await db.end();
});

const targets = () => [
  { name: "ROLE=all", api: all.api, prefix: all.prefix },
  { name: "split router", api: client(split.router.url), prefix: split.prefix },
];

describe("every admin write is recorded: who, when, what, before and after", () => {
  for (const name of ["ROLE=all", "split router"])
    test(`${name}: create, patch, pause, resume, close, cancel, restore and a dead-letter retry`, async () => {
      const { api, prefix } = targets().find((t) => t.name === name)!;
      const t0 = Date.now();
      const created = await api.createEvent({ name: "audited", stock: 10, trafficRpm: 100, runningCapacity: 5 });
      expect(created.status).toBe(201);
      const id = created.body.id as number;
      const endsAt = new Date(Date.now() + 3_600_000).toISOString();
      expect((await api.patch(id, { trafficRpm: 250, endsAt })).status).toBe(200);
      for (const action of ["pause", "resume", "close"]) expect((await api.call("POST", `/admin/events/${id}/${action}`, admin)).status).toBe(200);
      expect((await api.call("POST", `/admin/events/${id}/restore`, admin)).status).toBe(200);
      const later = await api.createEvent({ name: "to cancel", stock: 1, trafficRpm: 1, runningCapacity: 1, startsAt: new Date(Date.now() + 3_600_000).toISOString() });
      expect((await api.call("DELETE", `/admin/events/${later.body.id}`, admin)).status).toBe(200);
      // refused writes change nothing and are not recorded
      expect((await api.call("DELETE", `/admin/events/${id}`, admin)).status).toBe(409);
      expect((await api.patch(id, { trafficRpm: -1 })).status).toBe(400);
      const entry = (await redis.xadd(`${prefix}:{${id}}:dead`, "*", "e", String(id), "u", "dead-user", "t", String(Date.now()), "c", "AAAAA-BBBBB-CCCCC-DDDDD", "source", "test", "reason", "test", "deadAt", String(Date.now())))!;
      expect((await api.call("POST", `/admin/events/${id}/dead/${entry}/retry`, admin)).status).toBe(200);
      expect((await api.call("POST", `/admin/events/${id}/dead/${entry}/retry`, admin)).body.status).toBe("already_replayed");

      const r = await api.call("GET", `/admin/audit?eventId=${id}`, admin);
      expect(r.status).toBe(200);
      const entries = r.body.entries as any[];
      expect(entries.map((e) => e.action)).toEqual(["dead_letter_retry", "restore", "close", "resume", "pause", "patch", "create"]);
      for (const e of entries) {
        expect(e).toMatchObject({ actor: "root", eventId: id });
        expect(Date.parse(e.at)).toBeGreaterThanOrEqual(t0 - 1000);
        expect(Date.parse(e.at)).toBeLessThanOrEqual(Date.now() + 1000);
      }
      const by = Object.fromEntries(entries.map((e) => [e.action, e]));
      expect(by.create).toMatchObject({ before: null, after: { id, name: "audited", stock: 10, trafficRpm: 100, status: "open" } });
      expect(by.patch).toMatchObject({ before: { trafficRpm: 100, endsAt: null }, after: { trafficRpm: 250, endsAt } });
      expect(by.pause).toMatchObject({ before: { status: "open" }, after: { status: "paused" } });
      expect(by.resume).toMatchObject({ before: { status: "paused" }, after: { status: "open" } });
      expect(by.close).toMatchObject({ before: { status: "open" }, after: { status: "closed" } });
      expect(by.dead_letter_retry).toMatchObject({ target: entry, after: { streamId: expect.stringMatching(/^\d+-\d+$/) } });
      const cancelled = (await api.call("GET", `/admin/audit?eventId=${later.body.id}`, admin)).body.entries;
      expect(cancelled.map((e: any) => [e.action, e.before, e.after])).toEqual([
        ["cancel", { status: "scheduled" }, { status: "cancelled" }],
        ["create", null, expect.objectContaining({ status: "scheduled" })],
      ]);
      // the record is MySQL's
      const [[row]] = (await db.query("SELECT actor, action, `before`, `after` FROM admin_audit WHERE event_id = ? AND action = 'patch'", [id])) as any;
      expect({ ...row, before: JSON.parse(row.before), after: JSON.parse(row.after) }).toEqual({ actor: "root", action: "patch", before: by.patch.before, after: by.patch.after });
    });

  test("pages newest first: `next` leads to the older entries, then null", async () => {
    const id = (await all.api.createEvent({ name: "paged", stock: 10, trafficRpm: 100, runningCapacity: 5 })).body.id;
    for (let i = 1; i <= 5; i++) expect((await all.api.patch(id, { trafficRpm: i })).status).toBe(200);
    const seen: any[] = [];
    for (let after: string | null = null, pages = 0; ; pages++) {
      const r = await all.api.call("GET", `/admin/audit?eventId=${id}&limit=2${after ? `&after=${after}` : ""}`, admin);
      expect(r.status).toBe(200);
      expect(r.body.entries.length).toBeLessThanOrEqual(2);
      seen.push(...r.body.entries);
      after = r.body.next;
      if (!after) break;
      expect(pages).toBeLessThan(5);
    }
    expect(seen.map((e) => [e.action, e.after?.trafficRpm ?? null])).toEqual([["patch", 5], ["patch", 4], ["patch", 3], ["patch", 2], ["patch", 1], ["create", 100]]);
    expect(new Set(seen.map((e) => e.id)).size).toBe(6);
    // without eventId: every event's, newest first
    const everything = (await all.api.call("GET", "/admin/audit?limit=3", admin)).body;
    expect(everything.entries.map((e: any) => e.id)).toEqual([...everything.entries.map((e: any) => e.id)].sort((a, b) => b - a));
  });

  test("bad queries are a 400 and need the token first", async () => {
    for (const q of ["limit=0", "limit=501", "limit=x", "after=-1", "eventId=abc", "eventId=0", "other=1"]) {
      const r = await all.api.call("GET", `/admin/audit?${q}`, admin);
      expect({ q, status: r.status, error: r.body.error }).toEqual({ q, status: 400, error: "bad_request" });
    }
    expect((await all.api.call("GET", "/admin/audit")).status).toBe(401);
  });
});

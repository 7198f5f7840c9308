// The smaller openings: readiness that names a dependency without echoing its error, dead-letter ids
// checked as stream ids, and API docs served by the process itself (or not at all).
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { ADMIN_TOKEN, cuttableProxy, startServer, stopServer, TEST_DB, waitFor, type Started } from "../scripts/testkit";
import { isStreamId } from "../modules/issuer/dead-letters";

setDefaultTimeout(120_000);

describe("/health/ready", () => {
  const proxy = cuttableProxy(Number(new URL(TEST_DB).port || 3306));
  let s: Started;
  beforeAll(async () => {
    const db = new URL(TEST_DB);
    db.port = String(proxy.port);
    s = await startServer({ DATABASE_URL: db.toString() });
  });
  afterAll(async () => {
    await stopServer(s);
    proxy.stop();
  });

  test("names the dependency that is down, never the client's error text", async () => {
    const ready = async () => {
      const r = await fetch(`${s.url}/health/ready`);
      return { status: r.status, body: (await r.json()) as any };
    };
    expect(await ready()).toMatchObject({ status: 200, body: { status: "ready", checks: { redis: "ok", mysql: "ok" } } });
    proxy.cut();
    // the answer comes from a check at most a second old (contract, "Hardening"): the cut shows up within it
    let down = await ready();
    await waitFor("the cut seen", async () => (down = await ready()).status === 503, 30_000);
    expect(down).toMatchObject({ status: 503, body: { error: "not_ready", message: "mysql unavailable", checks: { redis: "ok", mysql: "down" } } });
    expect(JSON.stringify(down.body)).not.toMatch(/ECONN|127\.0\.0\.1|\d{4,5}|connect/i);
    proxy.restore();
    await waitFor("ready again", async () => (await ready()).status === 200, 30_000);
  });
});

describe("dead-letter entry ids are Redis stream ids", () => {
  let s: Started;
  beforeAll(async () => {
    s = await startServer();
  });
  afterAll(() => stopServer(s));

  test("isStreamId: <ms>-<seq>, each part at most 2^64 − 1", () => {
    for (const ok of ["0-0", "1-1", "1795697043436-0", "18446744073709551615-18446744073709551615"]) expect({ ok, v: isStreamId(ok) }).toEqual({ ok, v: true });
    for (const bad of ["18446744073709551616-0", "0-18446744073709551616", "99999999999999999999-0", "1", "1-", "-1", "1-1-1", "a-1", "1-1 ", "+1-1", "1.5-1", ""]) expect({ bad, v: isStreamId(bad) }).toEqual({ bad, v: false });
  });

  test("an id past 2^64 is a 404, never a 500", async () => {
    const id = (await s.api.createEvent({ name: "dead ids", stock: 5, trafficRpm: 1, runningCapacity: 1 })).body.id;
    const admin = { token: ADMIN_TOKEN };
    for (const entry of ["18446744073709551616-0", "0-18446744073709551616", "99999999999999999999-99999999999999999999", "18446744073709551615-18446744073709551615"]) {
      const r = await s.api.call("POST", `/admin/events/${id}/dead/${entry}/retry`, admin);
      expect({ entry, status: r.status, error: r.body.error }).toEqual({ entry, status: 404, error: "not_found" });
    }
  });
});

describe("/swagger", () => {
  let on: Started, off: Started;
  beforeAll(async () => {
    [on, off] = await Promise.all([startServer(), startServer({ SWAGGER: "off" })]);
  });
  afterAll(async () => {
    await stopServer(on);
    await stopServer(off);
  });

  test("the page loads only this process's own assets (from the installed swagger-ui-dist), under a CSP", async () => {
    const page = await fetch(`${on.url}/swagger`);
    expect(page.status).toBe(200);
    const csp = page.headers.get("content-security-policy")!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/https?:|unsafe-eval|script-src[^;]*unsafe-inline/);
    const html = await page.text();
    const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThanOrEqual(3);
    for (const ref of refs) {
      expect(ref).toMatch(/^\/swagger\//);
      const asset = await fetch(on.url + ref);
      expect({ ref, status: asset.status }).toEqual({ ref, status: 200 });
    }
    const installed = await Bun.file(Bun.resolveSync("swagger-ui-dist/swagger-ui-bundle.js", import.meta.dir)).text();
    expect(await (await fetch(`${on.url}/swagger/assets/swagger-ui-bundle.js`)).text()).toBe(installed);
    for (const name of ["package.json", "..%2Fpackage.json", "index.html", "swagger-ui-bundle.js.map", "constructor", "__proto__"]) expect((await fetch(`${on.url}/swagger/assets/${name}`)).status).toBe(404);
  });

  test("SWAGGER=off removes /swagger and /swagger/json", async () => {
    for (const path of ["/swagger", "/swagger/json", "/swagger/assets/swagger-ui.css"]) expect({ path, status: (await fetch(off.url + path)).status }).toEqual({ path, status: 404 });
    expect((await fetch(`${on.url}/swagger/json`)).status).toBe(200);
  });
});

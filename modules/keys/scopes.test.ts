// The scope matrix: every admin route the process serves, called with a key of each scope (and the
// root token), over raw sockets, on ROLE=all and through the split router. Only the route's own scope (and root) gets
// past the guard; every other key is a 403 forbidden. The requests name nothing that exists (or
// carry an empty body), so a request let through changes nothing either.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { SCOPES, type Scope } from "../../src/auth";
import { ADMIN_TOKEN, pool, rawHttp, rawRequest, spawnSplit, startServer, stopServer, type Split, type Started } from "../../scripts/testkit";

setDefaultTimeout(300_000);

let all: Started;
let split: Split;
const keys = new Map<Scope, string>();

beforeAll(async () => {
  all = await startServer();
  split = await spawnSplit("scopes");
  // keys live in MySQL, which every test server shares: each process sees them once its copy is synced
  for (const scope of SCOPES) {
    const r = await all.api.call("POST", "/admin/keys", { token: ADMIN_TOKEN, body: { name: `${split.prefix}-${scope.replace(":", "-")}`, scopes: [scope] } });
    expect(r.status).toBe(201);
    keys.set(scope, r.body.key);
  }
});
afterAll(async () => {
  await split?.stop();
  await stopServer(all);
});

/** The admin routes and their scopes, as the guard itself records them at start. */
const adminRoutes = () => [...all.auth.routeScopes].map(([route, scope]) => ({ method: route.split(" ")[0]!, path: route.split(" ")[1]!, scope }));

/** One admin call over a fresh raw socket, as an attacker holding the key would send it. */
async function call(base: string, method: string, path: string, token: string) {
  // every parameter names nothing (an id, a code or an entry no one has); bodies are empty
  const target = path.replace(/:[A-Za-z]+/g, "999999999");
  const hasBody = method !== "GET" && method !== "DELETE" && method !== "HEAD";
  const port = Number(new URL(base).port);
  const r = await rawHttp(port, rawRequest(method, target, { host: `127.0.0.1:${port}`, headers: { Authorization: `Bearer ${token}` }, body: hasBody ? "{}" : undefined }));
  return { status: r.status, body: r.body };
}

describe("the scope matrix", () => {
  test("the guard knows every admin route's scope", () => {
    const routes = adminRoutes();
    expect(routes.length).toBeGreaterThan(10);
    for (const r of routes) expect(SCOPES as readonly string[]).toContain(r.scope);
    for (const s of ["events:read", "events:write", "coupons:read", "coupons:redeem", "audit:read", "keys"]) expect(routes.some((r) => r.scope === s)).toBe(true);
  });

  for (const target of ["ROLE=all", "split router"])
    test(`${target}: each admin route × each scope's key → 403 unless it is the route's scope; root always passes`, async () => {
      const base = target === "ROLE=all" ? all.url : split.router.url;
      // a split deployment's processes copy the keys from MySQL every few seconds (they started before the keys existed): wait for it
      for (let i = 0; ; i++) {
        const known = await Promise.all([...keys.values()].map(async (key) => (await call(base, "GET", "/admin/events", key)).status !== 401));
        if (known.every(Boolean)) break;
        if (i > 600) throw new Error("the keys never reached the split router");
        await Bun.sleep(100);
      }
      const cases = adminRoutes().flatMap((r) => [...SCOPES.map((s) => ({ ...r, as: s as Scope | "root", token: keys.get(s)! })), { ...r, as: "root" as const, token: ADMIN_TOKEN }]);
      const results = await pool(cases, 8, async (c) => ({ ...c, got: await call(base, c.method, c.path, c.token) }));
      const wrong = results.filter((c) => {
        const allowed = c.as === "root" || c.as === c.scope;
        return allowed ? c.got.status === 401 || c.got.status === 403 : !(c.got.status === 403 && c.got.body?.error === "forbidden");
      });
      expect(wrong.map((c) => `${c.method} ${c.path} as ${c.as}: ${c.got.status} ${JSON.stringify(c.got.body)}`)).toEqual([]);
      expect(results.length).toBe(adminRoutes().length * (SCOPES.length + 1));
    });
});

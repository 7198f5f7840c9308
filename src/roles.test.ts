// The composition (src/app.ts): each role mounts its modules, and a split router documents the routes
// it forwards from their route schemas alone, without the services (or MySQL) it does not have.
import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { startServer, stopServer, type Started } from "../scripts/testkit";

setDefaultTimeout(120_000);

let all: Started;
beforeAll(async () => {
  all = await startServer();
});
afterAll(() => stopServer(all));

const docOf = async (s: Started) => (await fetch(`${s.url}/swagger/json`)).text();

describe("roles", () => {
  test("a split router serves, byte for byte, the OpenAPI document of one process, with no coupon services of its own", async () => {
    const router = await startServer({ ROLE: "router", QUEUE_URL: all.url, COUPON_URL: all.url });
    try {
      expect(router.mysql).toBeNull();
      expect(router.events).toBeNull();
      expect(router.reconciler).toBeNull();
      const [one, split] = await Promise.all([docOf(all), docOf(router)]);
      expect(split.length).toBeGreaterThan(10_000);
      expect(split).toBe(one);
    } finally {
      await stopServer(router);
    }
  });

  test("each role mounts only its own routes", async () => {
    const queue = await startServer({ ROLE: "queue" });
    try {
      const paths = (s: Started) => new Set(s.app.routes.map((r) => `${r.method} ${r.path}`));
      const q = paths(queue);
      expect(q.has("POST /internal/events/:id/enter")).toBe(true);
      expect(q.has("GET /metrics")).toBe(true);
      expect([...q].filter((p) => / \/(api|admin)\//.test(p))).toEqual([]);
      expect(queue.mysql).toBeNull();
      expect(queue.scheduler).not.toBeNull();
      const a = paths(all);
      for (const p of ["POST /api/events/:id/enter", "POST /api/events/:id/issue", "GET /admin/events", "POST /admin/coupons/:code/redeem", "GET /admin/events/:id/dead"]) expect({ p, mounted: a.has(p) }).toEqual({ p, mounted: true });
    } finally {
      await stopServer(queue);
    }
  });
});

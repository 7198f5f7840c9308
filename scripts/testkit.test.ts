// The test kit's own promise: a server a test spawned never outlives the test process, however that
// process ends (a beforeAll that timed out is abandoned by bun, then the file ends; ^C; SIGTERM); and its /metrics reader is strict.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { parseMetrics, valueOf } from "./testkit";

const ROOT = new URL("..", import.meta.url).pathname;

/** Pids of live processes whose environment holds `marker` (Linux /proc). */
function withMarker(marker: string): number[] {
  const found: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/environ`, "latin1").includes(marker)) found.push(Number(d));
    } catch {
      /* gone, or not ours to read */
    }
  }
  return found;
}

/** A process that starts a server with the test kit and is ended by `end` while the server is still starting. */
async function abandon(end: "exit" | "SIGTERM" | "SIGINT") {
  const marker = `TESTKIT_MARKER_${end}_${Date.now().toString(36)}`;
  const script = `
    import { spawnServer } from "./scripts/testkit";
    ${end === "exit" ? "setTimeout(() => process.exit(3), 1500);" : ""}
    console.log("spawning");
    await spawnServer({ TESTKIT_MARKER: "${marker}" });
  `;
  const parent = Bun.spawn(["bun", "-e", script], { cwd: ROOT, stdout: "pipe", stderr: "pipe", env: { ...process.env } });
  // the server process exists (it carries the marker) before the parent is ended
  for (let i = 0; i < 200 && withMarker(marker).filter((p) => p !== parent.pid).length === 0; i++) await Bun.sleep(25);
  const children = withMarker(marker).filter((p) => p !== parent.pid);
  expect(children.length).toBeGreaterThan(0);
  if (end !== "exit") parent.kill(end);
  await parent.exited;
  for (let i = 0; i < 100 && withMarker(marker).length; i++) await Bun.sleep(50);
  return withMarker(marker);
}

describe("spawnServer leaves nothing running", () => {
  for (const end of ["exit", "SIGTERM", "SIGINT"] as const)
    test(`a test process that ends (${end}) while its server is starting takes the server with it`, async () => {
      expect(await abandon(end)).toEqual([]);
    }, 60_000);
});

describe("parseMetrics reads /metrics strictly", () => {
  test("samples by series, TYPE and HELP; values as Prometheus reads them (prom-client writes NaN as Nan); labels matched in any order, escapes included", () => {
    const page = parseMetrics('# HELP x_total Requests.\n# TYPE x_total counter\nx_total{route="/a\\"b\\\\",method="GET"} 3\nlag Nan\nup +Inf\n\n');
    expect(page.types.get("x_total")).toBe("counter");
    expect(page.help.get("x_total")).toBe("Requests.");
    expect(valueOf(page.samples, "x_total", { method: "GET", route: '/a"b\\' })).toBe(3);
    expect(valueOf(page.samples, "x_total", { method: "GET" })).toBeUndefined();
    expect(valueOf(page.samples, "lag")).toBeNaN();
    expect(valueOf(page.samples, "up")).toBe(Infinity);
  });

  test("a line that is not Prometheus text, or a series written twice, throws", () => {
    for (const bad of ["x 1 2 3", "x{a=1} 2", "x two", "x{a=\"1\"} 1\nx{a=\"1\"} 2"]) expect(() => parseMetrics(bad)).toThrow();
  });
});

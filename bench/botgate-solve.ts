// `bun run bench/botgate-solve.ts [--throttle=4] [--pows=8,10,12,14,16,18] [--runs=5]`
// How long the pages take to solve the bot gate's challenge per difficulty: Debian's Chromium at
// 390×844, the pages' own solver (modules/web/public/botgate.js: ALTCHA's solveChallenge in module
// Web Workers), under the production CSP, CPU slowed by CDP's throttling (4× ≈ a mid-range phone
// against this machine's cores). Challenges are made in process with the server's own code.
import { Redis } from "ioredis";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { BotGate } from "../modules/botgate/gate";
import { CSP } from "../modules/web";

const arg = (name: string, def: string) => Bun.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? def;
const throttle = Number(arg("throttle", "4"));
const pows = arg("pows", "8,10,12,14,16,18").split(",").map(Number);
const runs = Number(arg("runs", "5"));

const root = join(import.meta.dir, "..");
const files: Record<string, string> = {
  "/assets/botgate.js": "modules/web/public/botgate.js",
  "/assets/botgate-worker.js": "modules/web/public/botgate-worker.js",
  "/assets/vendor/altcha.js": "node_modules/altcha/dist/lib/index.min.js",
};
const page = `<!doctype html><html><head><script type="module" src="/assets/probe.js"></script></head><body></body></html>`;
const probe = `import { solve } from "/assets/botgate.js"; window.solveIt = (c) => { const t0 = performance.now(); return solve(c).then((s) => ({ ms: performance.now() - t0, counter: s?.counter ?? -1 })); }; window.ready = true;`;
const server = Bun.serve({
  port: 0,
  fetch(req) {
    const path = new URL(req.url).pathname;
    const headers = { "content-security-policy": CSP, "content-type": "text/javascript" };
    if (path === "/") return new Response(page, { headers: { ...headers, "content-type": "text/html" } });
    if (path === "/assets/probe.js") return new Response(probe, { headers });
    const f = files[path];
    return f ? new Response(Bun.file(join(root, f)), { headers }) : new Response("no", { status: 404 });
  },
});

// a Redis client is only needed for single-use spending, which this never does
const gate = new BotGate("bench-secret-0123456789abcdef", new Redis({ lazyConnect: true }), "bench");
const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--disable-gpu"] });
const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
const tab = await ctx.newPage();
const problems: string[] = [];
tab.on("console", (m) => m.type() === "error" && problems.push(m.text()));
const cdp = await ctx.newCDPSession(tab);
await cdp.send("Emulation.setCPUThrottlingRate", { rate: throttle });
await tab.goto(`http://127.0.0.1:${server.port}/`);
await tab.waitForFunction(() => (window as any).ready === true);
const cores = await tab.evaluate(() => navigator.hardwareConcurrency);

console.log(`Chromium at 390×844, CPU throttled ${throttle}×, ${Math.min(4, cores)} workers (hardwareConcurrency ${cores}), ${runs} runs per difficulty`);
console.log("| pow | expected hashes (2^pow) | median solve | slowest | hashes/s (all workers) |");
console.log("|---:|---:|---:|---:|---:|");
for (const pow of pows) {
  const times: number[] = [];
  let hashes = 0;
  for (let i = 0; i < runs; i++) {
    const c = await gate.challenge(1, "bench-user", pow);
    const r = await tab.evaluate((ch) => (window as any).solveIt(ch), c as any);
    if (r.counter < 0) throw new Error(`pow ${pow}: unsolved`);
    times.push(r.ms);
    hashes += r.counter;
  }
  times.sort((a, b) => a - b);
  const total = times.reduce((a, b) => a + b, 0);
  const fmt = (ms: number) => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`);
  console.log(`| ${pow} | ${(2 ** pow).toLocaleString("en")} | ${fmt(times[Math.floor(times.length / 2)]!)} | ${fmt(times.at(-1)!)} | ${Math.round(hashes / (total / 1000)).toLocaleString("en")} |`);
}
if (problems.length) console.log("page errors:", problems);
await browser.close();
server.stop(true);
process.exit(0);

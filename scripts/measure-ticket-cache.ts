// RSS per waiting ticket held in the router's verified-ticket cache (modules/queue/ticket.ts): signs
// N tickets as a flash crowd's would look (user ids of 24 characters, one event), verifies each
// (each lands in the cache), and compares RSS and the JS heap before and after, with the tokens'
// own strings released by the caller (only the cache keeps them, as in the router).
// Run: bun run scripts/measure-ticket-cache.ts [N=200000]
import { Tickets } from "../modules/queue/ticket";

const n = Number(process.argv[2] ?? 200_000);
const tickets = new Tickets("measure-secret-0123456789-0123456789");
const endsAt = Date.now() + 3600_000;

const settle = () => {
  Bun.gc(true);
  Bun.gc(true);
};
settle();
const before = { rss: process.memoryUsage().rss, heap: process.memoryUsage().heapUsed };
for (let i = 0; i < n; i += 10_000) {
  // signed and verified in batches, like polls arriving: only the cache holds on to them
  const batch = Array.from({ length: Math.min(10_000, n - i) }, (_, j) => tickets.sign({ user: `u${String(i + j).padStart(23, "0")}`, eventId: 42, seq: i + j + 1, joinedAt: Date.now(), endsAt }));
  for (const t of batch) if (!(await tickets.verify(t))) throw new Error("a ticket did not verify");
}
settle();
const after = { rss: process.memoryUsage().rss, heap: process.memoryUsage().heapUsed };
const per = (a: number, b: number) => Math.round((b - a) / n);
console.log(`${n} cached tickets: RSS +${((after.rss - before.rss) / 2 ** 20).toFixed(0)} MiB (${per(before.rss, after.rss)} bytes per ticket), JS heap +${((after.heap - before.heap) / 2 ** 20).toFixed(0)} MiB (${per(before.heap, after.heap)} bytes per ticket)`);

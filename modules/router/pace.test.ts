// How often a waiter is told to come back: roughly ten polls over the expected wait. When no ETA can
// be shown (every slot held, nothing admitted yet) the line may start moving with the next issue, so
// the head keeps polling fast — the first seconds of a drop must not leave the front of the line asleep.
import { describe, expect, test } from "bun:test";
import { waitingBody } from "./door";
import type { EventSnapshot } from "./view";

const cfg = { minPollMs: 300, maxPollMs: 5000, waiterTimeoutMs: 120_000, slotTtlMs: 120_000 };
const full = { running: 300, runningCapacity: 300 } as EventSnapshot;
const at = (position: number, paused = false) => waitingBody(cfg, full, { position, remaining: 700, admitRate: 0, admitPerSecond: 300, paused });

describe("poll pacing", () => {
  test("every slot held and nothing measured yet: no ETA, but the head polls at the fastest pace and the back slower", () => {
    const paces = [1, 300, 3000, 9000, 20000].map((p) => at(p));
    for (const b of paces) expect(b.etaSeconds).toBeNull();
    const waits = paces.map((b) => b.pollAfterMs);
    expect(waits[0]).toBe(300);
    for (let i = 1; i < waits.length; i++) expect(waits[i]!).toBeGreaterThanOrEqual(waits[i - 1]!);
    expect(waits.at(-1)).toBe(5000);
  });
  test("a paused line polls at the slowest pace", () => {
    expect(at(1, true)).toMatchObject({ etaSeconds: null, pollAfterMs: 5000 });
  });
});

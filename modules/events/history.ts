// The admin chart's history, kept on the server: every HISTORY_STEP_MS each live event's numbers are
// sampled into a Redis stream (history-4.lua), kept 24 hours, so a reload or a second operator sees
// the same curve (GET /admin/events/:id/history).
import { OutageLog } from "../../src/outage";
import { eventKeys, globalKeys, runScript, type RedisClient } from "../../src/redis";

/** How far back the history goes (and the most a request may ask for), in seconds. */
export const HISTORY_MAX_SECONDS = 86_400;
/** The most samples one reply carries: longer spans are thinned to the last sample of each step. */
export const HISTORY_MAX_POINTS = 720;
// an event with nothing to sample is looked at again after this long, or at once after any settings change
const IDLE_REST_MS = 60_000;

export type Sample = { t: string; issued: number; waiting: number; running: number; admitRate: number; requestRate: number };

/** Samples the numbers of every event that can move, once per step (any number of processes may run one). */
export class HistoryRecorder {
  private readonly sample;
  private readonly rate;
  private readonly restUntil = new Map<number, number>();
  private seenRevision: string | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  private running: Promise<void> | null = null;
  private readonly outage = new OutageLog("history: sampling");

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly stepMs: number,
    private readonly listEvents: () => Promise<number[]>,
  ) {
    this.sample = runScript(redis, "history");
    this.rate = runScript(redis, "rate");
  }

  start() {
    this.timer ??= setInterval(() => void this.tick(), this.stepMs);
  }

  async stop() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  tick(): Promise<void> {
    this.running ??= this.run()
      .then(() => this.outage.ok(), (e) => this.outage.failed(e))
      .finally(() => (this.running = null));
    return this.running;
  }

  private async run() {
    const now = Date.now();
    const [ids, revision] = await Promise.all([this.listEvents(), this.redis.get(globalKeys(this.prefix).settingsRev)]);
    if (revision !== this.seenRevision) {
      this.restUntil.clear();
      this.seenRevision = revision;
    }
    await Promise.all(
      ids
        .filter((id) => (this.restUntil.get(id) ?? 0) <= now)
        .map(async (id) => {
          const k = eventKeys(this.prefix, id);
          const rpm = Number(await this.rate(k.rate, now, 0));
          const r = await this.sample(k.meta, k.waiting, k.running, k.history, now, this.stepMs, HISTORY_MAX_SECONDS * 1000, rpm);
          if (r === "idle" || r === "missing") this.restUntil.set(id, now + IDLE_REST_MS);
          else this.restUntil.delete(id);
        }),
    );
  }
}

/**
 * The event's samples over the last `seconds`, oldest first, at most HISTORY_MAX_POINTS of them:
 * over a longer span the step grows to a multiple of the sampling step, and each step shows its last
 * sample. `step` is in seconds.
 */
export async function readHistory(redis: RedisClient, prefix: string, id: number, seconds: number, stepMs: number, now = Date.now()) {
  const step = Math.max(stepMs, Math.ceil((seconds * 1000) / HISTORY_MAX_POINTS / stepMs) * stepMs);
  const entries = (await redis.xrange(eventKeys(prefix, id).history, String(now - seconds * 1000), "+")) as [string, string[]][];
  const byStep = new Map<number, Sample>();
  for (const [entryId, f] of entries) {
    const t = Number(entryId.split("-")[0]);
    const v: Record<string, string> = {};
    for (let i = 0; i < f.length; i += 2) v[f[i]!] = f[i + 1]!;
    byStep.set(Math.floor(t / step), {
      t: new Date(t).toISOString(),
      issued: Number(v.i) || 0,
      waiting: Number(v.w) || 0,
      running: Number(v.r) || 0,
      admitRate: Number(v.a) || 0,
      requestRate: Number(v.q) || 0,
    });
  }
  return { step: step / 1000, samples: [...byStep.values()] };
}

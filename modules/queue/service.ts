import type { Config } from "../../src/config";
import { refusal } from "../events/model";
import { eventKeys, runScript, type RedisClient } from "../../src/redis";
import type { EnterResult, PollResult, QueueApi, QueueState } from "./model";

type Reply = [string, number | string | undefined, string | undefined, string | number | undefined];

/** The waiting room: a FIFO waiting line and a capped set of running slots per event, all in Redis. */
export class QueueService implements QueueApi {
  private readonly enterScript;
  private readonly pollScript;
  private readonly admitScript;
  /** Users moved into a running slot: at enter (`direct`) or by a scheduler tick (`scheduler`); fed to the metrics. */
  onAdmitted: ((eventId: number, n: number, source: "direct" | "scheduler") => void) | null = null;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly cfg: Config["queue"],
  ) {
    this.enterScript = runScript(redis, "enter");
    this.pollScript = runScript(redis, "poll");
    this.admitScript = runScript(redis, "admit");
  }

  async enter(eventId: number, userId: string, rpm: number): Promise<EnterResult> {
    const k = eventKeys(this.prefix, eventId);
    const r = (await this.enterScript(k.meta, k.issued, k.waiting, k.waitSeen, k.waitSeq, k.running, userId, Date.now(), this.cfg.slotTtlMs, rpm)) as Reply;
    if (r[0] === "admitted" && r[2] !== undefined) this.onAdmitted?.(eventId, 1, "direct");
    return this.state(r) ?? { status: r[0] as "sold_out" | "not_open" | "event_not_found" | "already_issued" | "line_full" };
  }

  async poll(eventId: number, userId: string): Promise<PollResult> {
    const k = eventKeys(this.prefix, eventId);
    const r = (await this.pollScript(k.meta, k.waiting, k.waitSeen, k.running, userId, Date.now())) as Reply;
    return this.state(r) ?? ({ status: r[0] } as PollResult);
  }

  /** Frees the user's place or slot; an unknown event is a 404 (over HTTP to a remote queue too). */
  async leave(eventId: number, userId: string): Promise<void> {
    const k = eventKeys(this.prefix, eventId);
    // without the event's meta its line and slots are empty, so the removals change nothing
    const res = await this.redis.multi().exists(k.meta).zrem(k.waiting, userId).zrem(k.waitSeen, userId).zrem(k.running, userId).exec();
    const [err, exists] = res![0]!;
    if (err) throw err;
    if (!exists) throw refusal("event_not_found");
  }

  /** One scheduler tick for one event (see admit-5.lua). */
  async tick(eventId: number, now = Date.now()) {
    const k = eventKeys(this.prefix, eventId);
    const [expired, stale, admitted, status] = (await this.admitScript(k.meta, k.waiting, k.waitSeen, k.running, k.admitLog, now, this.cfg.slotTtlMs, this.cfg.waiterTimeoutMs)) as [number, number, number, string];
    if (admitted > 0) this.onAdmitted?.(eventId, admitted, "scheduler");
    return { expired, stale, admitted, status };
  }

  private state(r: Reply): QueueState | null {
    if (r[0] === "admitted") return { status: "admitted", expiresAt: new Date(Number(r[1])).toISOString() };
    if (r[0] !== "waiting") return null;
    const position = Number(r[1]);
    // ETA from the admission rate measured by the scheduler; before any admission has been measured,
    // the configured admitPerSecond is the best estimate there is.
    const measured = Number(r[2]) || 0;
    const rate = measured > 0 ? measured : Number(r[3]) || 1;
    const etaSeconds = Math.round((position / rate) * 10) / 10;
    // Long lines poll less often: about ten polls over the expected wait, within [min, max].
    const pollAfterMs = Math.round(Math.min(this.cfg.maxPollMs, Math.max(this.cfg.minPollMs, (etaSeconds * 1000) / 10)));
    return { status: "waiting", position, etaSeconds, pollAfterMs };
  }
}

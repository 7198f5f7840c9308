import type { PreQueueDraw } from "./draw";
import type { QueueService } from "./service";

/**
 * Walks every known event once per tick. Ticks never overlap within a process; several processes
 * may tick at once because each per-event step is one atomic script sharing its budget in Redis.
 */
export class AdmissionScheduler {
  private running: Promise<void> | null = null;
  // Ended events (sold out, closed, cancelled, gone) are looked at again only now and then: old
  // events must not cost a script run every second forever. A change of any event's settings
  // (resume, a later endsAt, a reconciliation…) bumps a revision in Redis, whichever process made
  // it; a tick that sees a new revision wakes every rested event, so a reopened event is admitted
  // from at once.
  private readonly restUntil = new Map<number, number>();
  private seenRevision: string | null = null;
  private readonly drawFailures = new Map<number, string>();
  lastTick = { events: 0, admitted: 0, expired: 0, stale: 0, at: 0 };

  constructor(
    private readonly queue: QueueService,
    private readonly listEvents: () => Promise<number[]>,
    private readonly settingsRevision: () => Promise<string | null> = async () => null,
    private readonly draw: PreQueueDraw | null = null,
  ) {}

  tick(): Promise<void> {
    if (this.running) return this.running;
    this.running = this.run().finally(() => (this.running = null));
    return this.running;
  }

  private async run() {
    const now = Date.now();
    const [all, revision] = await Promise.all([this.listEvents(), this.settingsRevision()]);
    if (revision !== this.seenRevision) {
      this.restUntil.clear();
      this.seenRevision = revision;
    }
    const ids = all.filter((id) => (this.restUntil.get(id) ?? 0) <= now);
    const results = await Promise.all(ids.map((id) => this.queue.tick(id)));
    results.forEach((r, i) => {
      // a paused event is live: its slots still expire and its idle waiters still drop out
      if (r.status === "open" || r.status === "scheduled" || r.status === "paused") this.restUntil.delete(ids[i]!);
      else this.restUntil.set(ids[i]!, now + 30_000);
      // the pre-queue's draw runs beside the ticks (other events do not wait for it); the draw
      // itself makes sure one drawer works at a time, here and in every other queue process
      if (r.drawDue && this.draw) void this.drawNow(ids[i]!);
    });
    const sum = (f: "admitted" | "expired" | "stale") => results.reduce((a, r) => a + r[f], 0);
    this.lastTick = { events: ids.length, admitted: sum("admitted"), expired: sum("expired"), stale: sum("stale"), at: Date.now() };
  }

  private async drawNow(id: number) {
    try {
      const r = await this.draw!.run(id);
      this.drawFailures.delete(id);
      if (r.status === "drawn" && r.size > 0) console.log(`pre-queue draw of event ${id}: ${r.size} places in ${r.ms.total} ms (read ${r.ms.read}, rank ${r.ms.rank}, write ${r.ms.write})`);
    } catch (e) {
      // tried again at the next tick, said once per reason; admission waits for it (the seed needs MySQL)
      const why = String((e as Error)?.message ?? e);
      if (this.drawFailures.get(id) !== why) console.error(`pre-queue draw of event ${id} failed: ${why}; retrying every tick`);
      this.drawFailures.set(id, why);
    }
  }
}

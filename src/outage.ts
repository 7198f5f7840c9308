/**
 * The log of something retried every tick or scrape (a MySQL read, a poll loop): one line when it
 * starts failing and one when it works again, with how many attempts failed and for how long —
 * not a line per tick while a database is down.
 */
export class OutageLog {
  private failures = 0;
  private since = 0;

  /** `what`: what failed, as the log names it ("metrics: snapshot", "webhooks: poll"). */
  constructor(private readonly what: string) {}

  /** `note`: what the caller adds to the first line (what it holds meanwhile). */
  failed(e: unknown, note?: string) {
    if (this.failures++ === 0) {
      this.since = Date.now();
      // a driver's message may carry the whole statement and its parameters: the first line says enough
      const why = String((e as Error)?.message ?? e).split("\n")[0]!.slice(0, 200);
      console.error(`${this.what} failed: ${why}; ${note ? `${note}; ` : ""}retrying (logged again when it works)`);
    }
  }

  /** `note`: called only when an outage ends, for what the caller adds to the line. */
  ok(note?: () => string) {
    if (!this.failures) return;
    console.error(`${this.what} works again after ${this.failures} failed attempt(s) over ${((Date.now() - this.since) / 1000).toFixed(1)} s${note ? `; ${note()}` : ""}`);
    this.failures = 0;
  }
}

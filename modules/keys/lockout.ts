import type { LockoutCheck } from "../../src/auth";
import { runScript, type RedisClient } from "../../src/redis";

// addresses known locked, remembered in memory so a locked-out flood costs no Redis round trip
const LOCAL_MAX = 10_000;

/**
 * More than `failures` failed admin authentications from one client address within `windowMs` lock
 * that address out of /admin/* for a whole window (contract, "API keys"), whatever it sends then.
 * The counts live in Redis, so every router and process shares them; a failure is counted (INCR)
 * before its 401 is answered, so a burst of parallel guesses gets at most `failures` answers.
 */
export class Lockout implements LockoutCheck {
  private readonly check;
  private readonly fail;
  private readonly known = new Map<string, number>();

  constructor(
    redis: RedisClient,
    private readonly prefix: string,
    private readonly cfg: { failures: number; windowMs: number },
  ) {
    this.check = runScript(redis, "lockoutCheck");
    this.fail = runScript(redis, "lockoutFail");
  }

  private key = (ip: string) => `${this.prefix}:lockout:${ip}`;

  private remember(ip: string, ms: number): number {
    if (ms <= 0) return 0;
    const now = Date.now();
    if (this.known.size >= LOCAL_MAX) for (const [k, until] of this.known) if (until <= now) this.known.delete(k);
    if (this.known.size < LOCAL_MAX) this.known.set(ip, now + ms);
    return ms;
  }

  /** Milliseconds `ip` is still locked out for, or 0. */
  async lockedFor(ip: string): Promise<number> {
    const until = this.known.get(ip);
    if (until !== undefined) {
      if (until > Date.now()) return until - Date.now();
      this.known.delete(ip);
    }
    return this.remember(ip, Number(await this.check(this.key(ip), this.cfg.failures)));
  }

  /** Counts one failure of `ip`; the milliseconds it is now locked out for, or 0. */
  async failed(ip: string): Promise<number> {
    return this.remember(ip, Number(await this.fail(this.key(ip), this.cfg.failures, this.cfg.windowMs)));
  }
}

import { signJwt } from "../../src/auth";

export type User = { id: string; auth: string };

/**
 * Distinct users with pre-minted tokens, so signing (≈3 µs each) happens before the measured window
 * rather than in the load generator's hot loop. If a run outgrows the estimate, the rest are minted
 * on the fly and counted (`mintedLate`) so a report can say so.
 */
export class Users {
  private readonly pool: User[] = [];
  private next = 0;
  mintedLate = 0;

  constructor(
    private readonly secret: string,
    private readonly prefix: string,
  ) {}

  private make(i: number): User {
    const id = `${this.prefix}-${i}`;
    return { id, auth: `Bearer ${signJwt(this.secret, id, 4 * 3600)}` };
  }

  /** Pre-mints until `n` unused users are ready. */
  prepare(n: number): this {
    while (this.pool.length - this.next < n) this.pool.push(this.make(this.pool.length));
    return this;
  }

  take(): User {
    if (this.next < this.pool.length) return this.pool[this.next++]!;
    this.mintedLate++;
    const u = this.make(this.pool.length);
    this.pool.push(u);
    this.next++;
    return u;
  }

  /** Every prepared user not taken yet (then they count as taken). */
  takeAll(): User[] {
    const rest = this.pool.slice(this.next);
    this.next = this.pool.length;
    return rest;
  }

  get used() {
    return this.next;
  }
}

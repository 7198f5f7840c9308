import { randomBytes } from "node:crypto";

// Crockford's base32: no I, L, O or U, so a code read aloud or typed from a screen is not misread.
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const GROUPS = 4;
const GROUP_LEN = 5;
const LENGTH = GROUPS * GROUP_LEN; // 20 symbols x 5 bits = 100 random bits

/** A new coupon code: 100 bits from the CSPRNG, as `XXXXX-XXXXX-XXXXX-XXXXX`. */
export function newCode(): string {
  const bytes = randomBytes(13); // 104 bits; the last 4 are dropped
  let bits = 0;
  let acc = 0;
  let out = "";
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5 && out.length < LENGTH) {
      bits -= 5;
      out += ALPHABET[(acc >> bits) & 31];
    }
    acc &= (1 << bits) - 1;
  }
  return group(out);
}

function group(symbols: string): string {
  const parts: string[] = [];
  for (let i = 0; i < LENGTH; i += GROUP_LEN) parts.push(symbols.slice(i, i + GROUP_LEN));
  return parts.join("-");
}

/**
 * The canonical form of a code as a person may type it: any case, dashes or spaces anywhere, and the
 * look-alikes Crockford allows (O for 0, I and L for 1). Null when it cannot be a code at all.
 */
export function normalizeCode(input: string): string | null {
  if (input.length > 64) return null;
  const s = input.toUpperCase().replace(/[\s-]/g, "").replace(/O/g, "0").replace(/[IL]/g, "1");
  if (s.length !== LENGTH) return null;
  for (const c of s) if (!ALPHABET.includes(c)) return null;
  return group(s);
}

// Mints user JWTs for local use and load tests.
//   bun scripts/token.ts <userId> [ttlSeconds]        one token
//   bun scripts/token.ts --many N [prefix] > tokens   N tokens, one per line (users prefix0..prefixN-1)
import { signJwt } from "../src/auth";

const secret = process.env.AUTH_JWT_SECRET || (process.env.NODE_ENV === "development" ? "dev-jwt-secret-change-me" : "");
if (!secret) {
  console.error("set AUTH_JWT_SECRET (or NODE_ENV=development)");
  process.exit(1);
}
const [a, b, c] = process.argv.slice(2);
if (a === "--many") {
  const n = Number(b);
  if (!Number.isInteger(n) || n < 1) throw new Error("--many takes a positive count");
  const lines: string[] = [];
  for (let i = 0; i < n; i++) lines.push(signJwt(secret, `${c ?? "user"}${i}`, 24 * 3600));
  console.log(lines.join("\n"));
} else if (a) {
  console.log(signJwt(secret, a, Number(b ?? 3600)));
} else {
  console.error("usage: bun scripts/token.ts <userId> [ttlSeconds] | --many N [prefix]");
  process.exit(1);
}

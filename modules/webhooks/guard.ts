import { lookup as dnsLookup } from "node:dns/promises";
import ipaddr from "ipaddr.js";

/**
 * The SSRF guard: a webhook goes only to `https://` and only to a public unicast address. A URL is
 * checked when it is set (its literal form, and what its name resolves to then) and again on every
 * delivery after resolution, and the delivery connects to the very address that was checked — so
 * neither a numeric spelling (`2130706433`, `0x7f.1`, `[::ffff:127.0.0.1]`) nor a name that resolves
 * to a private address (or starts to, DNS rebinding) reaches inside the network.
 * `WEBHOOK_ALLOW_PRIVATE=on` lifts the address rules (tests, private networks); https stays required.
 */

export type Lookup = (hostname: string) => Promise<string[]>;

export class ForbiddenTarget extends Error {}

/** Every address the system resolver gives for `hostname` (A and AAAA). */
export const systemLookup: Lookup = async (hostname) => (await dnsLookup(hostname, { all: true, verbatim: true })).map((a) => a.address);

// names that never leave the host or the cloud's own network, whatever a resolver says
const LOCAL_NAMES = /(^|\.)(localhost|localdomain|internal|local|home\.arpa)$/i;

/** Why `address` (an IP literal) may not be a webhook target, or null when it is a public unicast address. */
export function forbiddenAddress(address: string): string | null {
  let ip: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    ip = ipaddr.parse(address.replace(/^\[|\]$/g, ""));
  } catch {
    return `${address} is not an IP address`;
  }
  // an IPv4 address written as IPv6 (::ffff:a.b.c.d) is that IPv4 address
  if (ip.kind() === "ipv6" && (ip as ipaddr.IPv6).isIPv4MappedAddress()) ip = (ip as ipaddr.IPv6).toIPv4Address();
  // everything that is not plain public unicast: loopback, private, link-local (cloud metadata),
  // CGNAT, multicast, broadcast, unspecified, reserved, and IPv6 forms that embed IPv4 (6to4, NAT64, Teredo)
  const range = ip.range();
  return range === "unicast" ? null : `${ip.toString()} is ${range === "carrierGradeNat" ? "CGNAT" : range}`;
}

/** The URL as a delivery target: https only, no credentials; throws ForbiddenTarget with why not. */
export function parseTarget(raw: string): URL {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ForbiddenTarget("webhookUrl must be an absolute https:// URL");
  }
  if (u.protocol !== "https:") throw new ForbiddenTarget("webhookUrl must use https://");
  if (u.username || u.password) throw new ForbiddenTarget("webhookUrl must not carry credentials (deliveries are signed with WEBHOOK_SECRET)");
  return u;
}

const isLiteral = (host: string) => host.startsWith("[") || ipaddr.IPv4.isValidFourPartDecimal(host);

/**
 * Checks a URL when it is set. The URL parser has already turned every numeric IPv4 spelling into
 * a.b.c.d and every IPv6 one into its short form; a name is resolved (within `timeoutMs`) and
 * refused if any address it has now is forbidden. A name that does not resolve yet is accepted:
 * every delivery checks again.
 */
export async function checkTarget(raw: string, allowPrivate: boolean, lookup: Lookup = systemLookup, timeoutMs = 2000): Promise<URL> {
  const u = parseTarget(raw);
  if (allowPrivate) return u;
  const host = u.hostname;
  if (isLiteral(host)) {
    const why = forbiddenAddress(host);
    if (why) throw new ForbiddenTarget(`webhookUrl points at a forbidden address: ${why}`);
    return u;
  }
  if (LOCAL_NAMES.test(host.replace(/\.$/, "")) || !host.includes(".")) throw new ForbiddenTarget(`webhookUrl names a local host (${host})`);
  const addresses = await withTimeout(lookup(host), timeoutMs).catch(() => [] as string[]);
  for (const a of addresses) {
    const why = forbiddenAddress(a);
    if (why) throw new ForbiddenTarget(`webhookUrl's host ${host} resolves to a forbidden address: ${why}`);
  }
  return u;
}

/**
 * Where a delivery connects: the URL's host resolved now, every address checked (one forbidden
 * address refuses the host: a resolver may hand out any of them), the first one pinned for the
 * connection. Throws ForbiddenTarget when refused.
 */
export async function resolveTarget(u: URL, allowPrivate: boolean, lookup: Lookup): Promise<string> {
  const host = u.hostname;
  if (isLiteral(host)) {
    const why = allowPrivate ? null : forbiddenAddress(host);
    if (why) throw new ForbiddenTarget(`forbidden address: ${why}`);
    return host;
  }
  if (!allowPrivate && (LOCAL_NAMES.test(host.replace(/\.$/, "")) || !host.includes("."))) throw new ForbiddenTarget(`forbidden host: ${host} is local`);
  const addresses = await lookup(host);
  if (!addresses.length) throw new Error(`${host} does not resolve`);
  if (!allowPrivate)
    for (const a of addresses) {
      const why = forbiddenAddress(a);
      if (why) throw new ForbiddenTarget(`forbidden address: ${host} resolves to ${why}`);
    }
  const first = addresses[0]!;
  return first.includes(":") ? `[${first}]` : first;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("timeout")), ms);
    p.then(resolve, reject).finally(() => clearTimeout(timer));
  });
}

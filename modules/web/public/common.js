// Shared by the user pages: where the user's token comes from, how the API is called, the server's
// clock, the waiting ticket and the shop's brand.
import { dateOf, t, timeOf, zoneOf } from "./i18n.js";
export { formatCountdown, formatDuration } from "./i18n.js";

const TOKEN_KEY = "coupon.token";

/** The event id in /events/:id[/waiting]. */
export function eventIdFromPath() {
  return /^\/events\/([1-9][0-9]{0,9})(?:\/|$)/.exec(location.pathname)?.[1] ?? null;
}

/** The user id a token names, for display only: whether the token is valid is the server's to say. */
export function tokenUser(token) {
  try {
    const sub = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).sub;
    return typeof sub === "string" && /^[A-Za-z0-9_-]{1,64}$/.test(sub) ? sub : null;
  } catch {
    return null;
  }
}

/**
 * A page opened with ?token=<jwt> keeps the token for this tab and drops it from the address bar,
 * so it does not end up in bookmarks, shared links or the history. A link for another user than the
 * one this tab is signed in as (someone else's link, sent to trick the tab into their account) only
 * takes over once the person says so.
 */
export async function adoptTokenFromUrl() {
  const url = new URL(location.href);
  const token = url.searchParams.get("token");
  if (token) {
    url.searchParams.delete("token");
    history.replaceState(history.state, "", url.pathname + url.search + url.hash);
    const current = storedToken();
    const other = current && tokenUser(current) !== tokenUser(token);
    if (!other || (await confirmSwitch(tokenUser(current), tokenUser(token)))) sessionStorage.setItem(TOKEN_KEY, token);
  }
  showSignedIn();
}

/** Asks, in a modal dialog, whether to switch the tab to another user; staying is the default. */
function confirmSwitch(from, to) {
  const name = (user) => user ?? t("switch.unknown");
  const dialog = document.createElement("dialog");
  dialog.className = "switch-user";
  dialog.setAttribute("aria-labelledby", "switch-title");
  const title = Object.assign(document.createElement("h2"), { id: "switch-title", textContent: t("switch.title") });
  const text = Object.assign(document.createElement("p"), { textContent: t("switch.text", name(from), name(to)) });
  const stay = Object.assign(document.createElement("button"), { type: "button", className: "secondary", textContent: t("switch.stay", name(from)) });
  const change = Object.assign(document.createElement("button"), { type: "button", className: "primary", textContent: t("switch.change", name(to)) });
  const actions = Object.assign(document.createElement("p"), { className: "actions" });
  actions.append(stay, change);
  dialog.append(title, text, actions);
  document.body.append(dialog);
  return new Promise((resolve) => {
    stay.addEventListener("click", () => dialog.close("stay"));
    change.addEventListener("click", () => dialog.close("switch"));
    // Escape cancels: the tab stays who it was
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "switch");
    });
    dialog.showModal();
    stay.focus();
  });
}

/** Shows who this tab is signed in as, in the page header. */
export function showSignedIn() {
  const el = document.getElementById("who");
  if (!el) return;
  const token = storedToken();
  const user = token && tokenUser(token);
  el.hidden = !user;
  el.textContent = user ? t("site.signedIn", user) : "";
}

export const storedToken = () => sessionStorage.getItem(TOKEN_KEY);
export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
  showSignedIn();
}

/** The user's token; without one, a demo token where the server offers them (development only), else null. */
export async function userToken() {
  const stored = storedToken();
  if (stored) return stored;
  const res = await fetch("/dev/token", { method: "POST" }).catch(() => null);
  if (!res?.ok) return null;
  const { token } = await res.json();
  sessionStorage.setItem(TOKEN_KEY, token);
  showSignedIn();
  return token;
}

/** Calls the API; a network failure is status 0. Never throws. A reply with `serverTime` sets the clock. */
export async function api(method, path, token) {
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  try {
    const sentAt = Date.now();
    const res = await fetch(path, { method, headers, cache: "no-store" });
    const receivedAt = Date.now();
    const body = res.status === 204 ? null : await res.json().catch(() => null);
    if (typeof body?.serverTime === "string") syncClock(body.serverTime, sentAt, receivedAt);
    return { status: res.status, body };
  } catch {
    return { status: 0, body: null };
  }
}

/** Sets a live region's text; the same message twice is still announced. */
export function announce(el, text, kind = "info") {
  el.dataset.kind = kind;
  if (el.textContent === text) el.textContent = "";
  setTimeout(() => (el.textContent = text), 50);
}

/** A moment with seconds and its time zone: "12:00:00 (Europe/Berlin, UTC+1)"; another day with its date. */
export function formatMoment(iso) {
  const d = new Date(iso);
  const today = d.toDateString() === new Date(serverNow()).toDateString();
  return `${today ? timeOf(d) : `${dateOf(d)} ${timeOf(d)}`} (${zoneOf(iso)})`;
}

/**
 * The server's clock. Each reply that carries `serverTime` is a sample: the server read its clock
 * somewhere between sending the request and getting the answer, so the offset is taken at the
 * midpoint, and the sample with the shortest round trip (the tightest bound) wins.
 */
let clockOffset = 0;
let clockRtt = Infinity;
export function syncClock(serverTime, sentAt, receivedAt) {
  const at = Date.parse(serverTime);
  const rtt = receivedAt - sentAt;
  if (!Number.isFinite(at) || !(rtt >= 0) || rtt > clockRtt) return;
  clockRtt = rtt;
  clockOffset = at - (sentAt + receivedAt) / 2;
}
export const serverNow = () => Date.now() + clockOffset;


/**
 * The waiting ticket of this tab for one event (modules/queue/ticket.ts): it stands in for the
 * shop's short-lived token on the queue and issue calls, so that token may expire while the user
 * waits. Kept only for the user the tab is signed in as.
 */
const ticketKey = (eventId) => `coupon.ticket.${eventId}`;
export function storedTicket(eventId) {
  const ticket = sessionStorage.getItem(ticketKey(eventId));
  const token = storedToken();
  if (ticket && token && tokenUser(ticket) !== tokenUser(token)) {
    sessionStorage.removeItem(ticketKey(eventId));
    return null;
  }
  return ticket;
}
export const keepTicket = (eventId, ticket) => ticket && sessionStorage.setItem(ticketKey(eventId), ticket);
export const forgetTicket = (eventId) => sessionStorage.removeItem(ticketKey(eventId));

/**
 * The shop's brand (the event's `brand`, or null): its name and logo in the header, its colour on
 * buttons and links (with black or white text on them, whichever reads better), and a link back to
 * the shop. Everything goes in as text or through the CSSOM: no markup from the event is ever parsed.
 */
export function showBrand(brand, pageTitle) {
  const name = document.getElementById("brand-name");
  const logo = document.getElementById("brand-logo");
  if (name) name.textContent = brand?.shopName ?? t("site.name");
  if (logo) {
    logo.hidden = !brand?.logoUrl;
    if (brand?.logoUrl && logo.getAttribute("src") !== brand.logoUrl) {
      logo.alt = t("site.logo", brand.shopName);
      logo.addEventListener("error", () => (logo.hidden = true), { once: true });
      logo.src = brand.logoUrl;
    }
  }
  const root = document.documentElement.style;
  if (brand?.accentColor && /^#[0-9a-f]{6}$/i.test(brand.accentColor)) {
    root.setProperty("--accent", brand.accentColor);
    root.setProperty("--accent-ink", inkOn(brand.accentColor));
    // links and outlined buttons on white: the colour itself only where it is readable there
    root.setProperty("--accent-text", contrastWithWhite(brand.accentColor) >= 4.5 ? brand.accentColor : "var(--ink)");
  } else for (const p of ["--accent", "--accent-ink", "--accent-text"]) root.removeProperty(p);
  const back = document.getElementById("shop-back");
  if (back) {
    back.hidden = !brand?.returnUrl;
    if (brand?.returnUrl) shopLink(back.querySelector("a"), brand, t("site.backToShop", brand.shopName));
  }
  document.title = `${pageTitle} · ${brand?.shopName ?? t("site.name")}`;
}

/** A link to the shop (https:// only: the server checked it, and so does this), out of any frame the page is in. */
export function shopLink(a, brand, text) {
  if (!a || !brand?.returnUrl || !/^https:\/\//.test(brand.returnUrl)) return false;
  a.href = brand.returnUrl;
  a.target = "_top";
  a.rel = "noopener";
  a.textContent = text;
  return true;
}

/** WCAG relative luminance of #rrggbb. */
function luminance(hex) {
  const [r, g, b] = [1, 3, 5].map((i) => {
    const c = parseInt(hex.slice(i, i + 2), 16) / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}
const contrastWithWhite = (hex) => 1.05 / (luminance(hex) + 0.05);
/** Black or white, whichever contrasts more with the colour. */
const inkOn = (hex) => ((luminance(hex) + 0.05) / 0.05 > contrastWithWhite(hex) ? "#000" : "#fff");

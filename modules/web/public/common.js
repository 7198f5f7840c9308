// Shared by the user pages: where the user's token comes from and how the API is called.

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
  const name = (user) => user ?? "an unknown account";
  const dialog = document.createElement("dialog");
  dialog.className = "switch-user";
  dialog.setAttribute("aria-labelledby", "switch-title");
  const title = Object.assign(document.createElement("h2"), { id: "switch-title", textContent: "Switch account?" });
  const text = Object.assign(document.createElement("p"), { textContent: `This tab is signed in as ${name(from)}. The link you opened is for ${name(to)}.` });
  const stay = Object.assign(document.createElement("button"), { type: "button", className: "secondary", textContent: `Stay signed in as ${name(from)}` });
  const change = Object.assign(document.createElement("button"), { type: "button", className: "primary", textContent: `Switch to ${name(to)}` });
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
  el.textContent = user ? `Signed in as ${user}` : "";
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

export const NO_TOKEN = "You need your personal link to take part: open the link you were sent.";
export const BAD_TOKEN = "Your sign-in link is not valid or has expired: open your personal link again.";
export const OFFLINE = "Could not reach the server. Check your connection and try again.";

/** A time of today as a time; any other day with its date. */
export function formatTime(iso) {
  const d = new Date(iso);
  if (d.toDateString() === new Date().toDateString()) return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  return d.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

/** The browser's time zone and its offset at that instant: "Europe/Berlin, UTC+1". */
export function zoneOf(iso) {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "local time";
  const minutes = -new Date(iso).getTimezoneOffset();
  const h = Math.trunc(Math.abs(minutes) / 60);
  const m = Math.abs(minutes) % 60;
  const offset = minutes === 0 ? "UTC" : `UTC${minutes < 0 ? "−" : "+"}${h}${m ? `:${String(m).padStart(2, "0")}` : ""}`;
  return zone === "UTC" ? "UTC" : `${zone}, ${offset}`;
}

/** A moment with seconds and its time zone: "12:00:00 (Europe/Berlin, UTC+1)"; another day with its date. */
export function formatMoment(iso) {
  const d = new Date(iso);
  const today = d.toDateString() === new Date(serverNow()).toDateString();
  const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  return `${today ? time : `${d.toLocaleDateString([], { dateStyle: "medium" })} ${time}`} (${zoneOf(iso)})`;
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

/** A countdown: "1:02:03", "4:05", "0:09". */
export function formatCountdown(ms) {
  const s = Math.max(0, Math.ceil(ms / 1000));
  const hms = [Math.floor(s / 3600), Math.floor(s / 60) % 60, s % 60];
  return hms[0] ? `${hms[0]}:${String(hms[1]).padStart(2, "0")}:${String(hms[2]).padStart(2, "0")}` : `${hms[1]}:${String(hms[2]).padStart(2, "0")}`;
}

/** A duration in words: "2 minutes", "90 seconds", "1 hour". */
export function formatDuration(seconds) {
  const plural = (n, w) => `${n.toLocaleString("en")} ${w}${n === 1 ? "" : "s"}`;
  if (seconds >= 3600 && seconds % 3600 === 0) return plural(seconds / 3600, "hour");
  if (seconds >= 60 && seconds % 60 === 0) return plural(seconds / 60, "minute");
  return plural(Math.round(seconds), "second");
}

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

// Shared by the user pages: where the user's token comes from and how the API is called.

const TOKEN_KEY = "coupon.token";

/** The event id in /events/:id[/waiting]. */
export function eventIdFromPath() {
  return /^\/events\/([1-9][0-9]{0,9})(?:\/|$)/.exec(location.pathname)?.[1] ?? null;
}

/**
 * A page opened with ?token=<jwt> keeps the token for this tab and drops it from the address bar,
 * so it does not end up in bookmarks, shared links or the history.
 */
export function adoptTokenFromUrl() {
  const url = new URL(location.href);
  const token = url.searchParams.get("token");
  if (!token) return;
  sessionStorage.setItem(TOKEN_KEY, token);
  url.searchParams.delete("token");
  history.replaceState(history.state, "", url.pathname + url.search + url.hash);
}

export const storedToken = () => sessionStorage.getItem(TOKEN_KEY);
export const forgetToken = () => sessionStorage.removeItem(TOKEN_KEY);

/** The user's token; without one, a demo token where the server offers them (development only), else null. */
export async function userToken() {
  const stored = storedToken();
  if (stored) return stored;
  const res = await fetch("/dev/token", { method: "POST" }).catch(() => null);
  if (!res?.ok) return null;
  const { token } = await res.json();
  sessionStorage.setItem(TOKEN_KEY, token);
  return token;
}

/** Calls the API; a network failure is status 0. Never throws. */
export async function api(method, path, token) {
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  try {
    const res = await fetch(path, { method, headers, cache: "no-store" });
    const body = res.status === 204 ? null : await res.json().catch(() => null);
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

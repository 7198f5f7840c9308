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

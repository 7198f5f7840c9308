// The admin page: the admin token stays in this tab's sessionStorage, and so do the ids of the
// events being watched (the API has no list of events, on purpose: ids are typed or remembered).
import { announce } from "./common.js";

const TOKEN_KEY = "coupon.adminToken";
const WATCH_KEY = "coupon.watched";
const REFRESH_MS = 1000;
const $ = (sel, root = document) => root.querySelector(sel);

let token = sessionStorage.getItem(TOKEN_KEY);
let watched = JSON.parse(sessionStorage.getItem(WATCH_KEY) || "[]");
const cards = new Map();

async function adminApi(method, path, body) {
  const headers = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  try {
    const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store" });
    return { status: res.status, body: await res.json().catch(() => null) };
  } catch {
    return { status: 0, body: null };
  }
}

const problem = (r) => (r.status === 0 ? "Could not reach the server." : r.status === 401 ? "The admin token was rejected: sign in again." : r.body?.message || `Request failed (${r.status}).`);
const num = (n) => Number(n).toLocaleString("en");

// ---- token -------------------------------------------------------------------------------------

function showSignedIn() {
  $("#forget-token").hidden = !token;
  $("#admin-token").value = "";
  $("#admin-token").placeholder = token ? "saved for this tab" : "";
  $("#admin-token").required = !token;
}

$("#token-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const given = $("#admin-token").value.trim();
  if (!given) return;
  token = given;
  // every admin route checks the token before it looks at the id, so id 0 tells a wrong token (401) from a right one
  const r = await adminApi("GET", "/admin/events/0");
  if (r.status === 401 || r.status === 0) {
    token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    announce($("#token-status"), problem(r), "error");
    $("#admin-token").focus();
  } else {
    sessionStorage.setItem(TOKEN_KEY, token);
    announce($("#token-status"), "Signed in for this tab.", "success");
  }
  showSignedIn();
});

$("#forget-token").addEventListener("click", () => {
  token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  showSignedIn();
  announce($("#token-status"), "Token forgotten.", "info");
  $("#admin-token").focus();
});

function needToken(status) {
  if (token) return false;
  announce(status, "Sign in with the admin token first.", "error");
  $("#admin-token").focus();
  return true;
}

// ---- create --------------------------------------------------------------------------------------

$("#create-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const status = $("#create-status");
  if (needToken(status)) return;
  const f = new FormData(e.target);
  const body = { name: f.get("name").trim(), stock: Number(f.get("stock")), trafficRpm: Number(f.get("trafficRpm")), runningCapacity: Number(f.get("runningCapacity")) };
  if (f.get("admitPerSecond")) body.admitPerSecond = Number(f.get("admitPerSecond"));
  // datetime-local is the admin's local time; the API takes ISO-8601 instants
  if (f.get("startsAt")) body.startsAt = new Date(f.get("startsAt")).toISOString();
  if (f.get("endsAt")) body.endsAt = new Date(f.get("endsAt")).toISOString();
  const r = await adminApi("POST", "/admin/events", body);
  if (r.status !== 201) return announce(status, problem(r), "error");
  announce(status, `Created event #${r.body.id}: ${r.body.name}.`, "success");
  watch(r.body.id);
  refresh();
});

// ---- watch ---------------------------------------------------------------------------------------

function save() {
  sessionStorage.setItem(WATCH_KEY, JSON.stringify(watched));
  $("#watch-empty").hidden = watched.length > 0;
}

function watch(id) {
  if (!watched.includes(id)) watched.unshift(id);
  save();
  if (!cards.has(id)) addCard(id);
}

function addCard(id) {
  const li = $("#event-card").content.firstElementChild.cloneNode(true);
  li.dataset.id = String(id);
  $(".event-title", li).textContent = `#${id}`;
  $(".event-title", li).id = `event-${id}-title`;
  $("article", li).setAttribute("aria-labelledby", `event-${id}-title`);
  $(".event-link", li).href = `/events/${id}`;
  for (const label of li.querySelectorAll("label[data-for]")) {
    const input = $(`input[name="${label.dataset.for}"]`, li);
    input.id = `event-${id}-${label.dataset.for}`;
    label.htmlFor = input.id;
  }
  $(".patch-form", li).addEventListener("submit", (e) => patch(e, id));
  $(".unwatch", li).addEventListener("click", () => {
    watched = watched.filter((w) => w !== id);
    save();
    li.remove();
    cards.delete(id);
    $("#watch-id").focus();
  });
  $("#events").prepend(li);
  cards.set(id, { li, filled: false });
}

function render(id, ev) {
  const card = cards.get(id);
  if (!card) return;
  const { li } = card;
  $(".event-title", li).textContent = `#${ev.id} ${ev.name}`;
  const badge = $(".event-status", li);
  badge.textContent = ev.status.replace("_", " ");
  badge.dataset.status = ev.status;
  for (const dd of li.querySelectorAll("dd[data-stat]")) {
    const v = ev[dd.dataset.stat];
    dd.textContent = dd.dataset.stat === "admitRate" ? `${v.toFixed(1)}/s` : dd.dataset.stat === "remaining" ? `${num(v)} of ${num(ev.stock)}` : num(v);
  }
  // the settings are filled in once, so a refresh never overwrites what the admin is typing
  if (!card.filled) {
    card.filled = true;
    $('input[name="trafficRpm"]', li).value = ev.trafficRpm;
    $('input[name="runningCapacity"]', li).value = ev.runningCapacity;
  }
}

async function patch(e, id) {
  e.preventDefault();
  const status = $(".patch-status", cards.get(id).li);
  if (needToken(status)) return;
  const f = new FormData(e.target);
  const r = await adminApi("PATCH", `/admin/events/${id}`, { trafficRpm: Number(f.get("trafficRpm")), runningCapacity: Number(f.get("runningCapacity")) });
  if (r.status !== 200) return announce(status, problem(r), "error");
  announce(status, `Saved: traffic ${num(r.body.trafficRpm)} requests/min, running capacity ${num(r.body.runningCapacity)}.`, "success");
  refresh();
}

$("#watch-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const status = $("#watch-status");
  if (needToken(status)) return;
  const id = Number($("#watch-id").value.trim());
  const r = await adminApi("GET", `/admin/events/${id}`);
  if (r.status === 404) return announce(status, `There is no event #${id}.`, "error");
  if (r.status !== 200) return announce(status, problem(r), "error");
  $("#watch-id").value = "";
  watch(id);
  render(id, r.body);
  announce(status, `Watching event #${id}: ${r.body.name}.`, "success");
});

let refreshing = false;
async function refresh() {
  if (refreshing || !token || document.visibilityState !== "visible") return;
  refreshing = true;
  try {
    await Promise.all(
      watched.map(async (id) => {
        const r = await adminApi("GET", `/admin/events/${id}`);
        if (r.status === 200) render(id, r.body);
        else if (cards.has(id)) $(".event-status", cards.get(id).li).textContent = { 401: "token rejected", 404: "not found" }[r.status] ?? "unreachable";
      }),
    );
  } finally {
    refreshing = false;
  }
}

showSignedIn();
for (const id of [...watched].reverse()) addCard(id);
save();
refresh();
setInterval(refresh, REFRESH_MS);

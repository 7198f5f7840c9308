// The admin page: the list of events comes from the server (GET /admin/events), so a fresh tab
// shows them; the admin token stays in this tab's sessionStorage; the event being managed is in the
// address (#event-42), so a reload comes back to it.
import { announce } from "./common.js";
import { adminApi, authorization, storedToken, TOKEN_KEY } from "./admin-api.js";
import { $, CONTROL_WORD, fromLocalInput, funnelText, num, problem, stallText, STATUS_TEXT, toLocalInput, when } from "./admin-view.js";

const REFRESH_MS = 1000;
const LIST_REFRESH_MS = 5000;
const PAGE = 20;

// ---- token -------------------------------------------------------------------------------------

function showSignedIn() {
  const token = storedToken();
  $("#forget-token").hidden = !token;
  $("#admin-token").value = "";
  $("#admin-token").placeholder = token ? "saved for this tab" : "";
  $("#admin-token").required = !token;
}

$("#token-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const given = $("#admin-token").value.trim();
  if (!given) return;
  const r = await adminApi("GET", "/admin/events?limit=1", undefined, given);
  if (r.status !== 200) {
    sessionStorage.removeItem(TOKEN_KEY);
    announce($("#token-status"), problem(r), "error");
    $("#admin-token").focus();
  } else {
    sessionStorage.setItem(TOKEN_KEY, given);
    announce($("#token-status"), "Signed in for this tab.", "success");
    loadList();
    if (wanted !== null) select(wanted, true);
  }
  showSignedIn();
});

$("#forget-token").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  showSignedIn();
  announce($("#token-status"), "Token forgotten.", "info");
  $("#admin-token").focus();
});

function needToken(status) {
  if (storedToken()) return false;
  announce(status, "Sign in with the admin token first.", "error");
  $("#admin-token").focus();
  return true;
}

// ---- list ----------------------------------------------------------------------------------------

let shown = PAGE; // how many rows the list holds (grows with "Load more")
let listing = false;

async function loadList() {
  if (!storedToken() || listing) return;
  listing = true;
  try {
    const status = $("#filter-status").value;
    const r = await adminApi("GET", `/admin/events?limit=${Math.min(shown, 100)}${status ? `&status=${status}` : ""}`);
    if (r.status !== 200) return announce($("#list-status"), problem(r), "error");
    let { events, next } = r.body;
    // beyond one page of 100, follow the cursor
    while (next && events.length < shown) {
      const more = await adminApi("GET", `/admin/events?limit=${Math.min(shown - events.length, 100)}&after=${next}${status ? `&status=${status}` : ""}`);
      if (more.status !== 200) break;
      events = events.concat(more.body.events);
      next = more.body.next;
    }
    renderList(events, next);
  } finally {
    listing = false;
  }
}

function renderList(events, next) {
  const rows = $("#event-rows");
  rows.replaceChildren(
    ...events.map((ev) => {
      const tr = document.createElement("tr");
      tr.dataset.id = String(ev.id);
      if (ev.id === selected) tr.setAttribute("aria-current", "true");
      const cells = [`${ev.id}`, ev.name, STATUS_TEXT[ev.status], `${num(ev.remaining)} of ${num(ev.stock)}`, when(ev.startsAt)];
      for (const [i, text] of cells.entries()) {
        const td = document.createElement("td");
        if (i === 2) {
          const badge = document.createElement("span");
          badge.className = "badge";
          badge.dataset.status = ev.status;
          badge.textContent = text;
          td.append(badge);
        } else td.textContent = text;
        tr.append(td);
      }
      const td = document.createElement("td");
      const b = document.createElement("button");
      b.type = "button";
      b.className = "link";
      b.textContent = "Manage";
      b.setAttribute("aria-label", `Manage #${ev.id} ${ev.name}`);
      b.addEventListener("click", () => select(ev.id, true));
      td.append(b);
      tr.append(td);
      return tr;
    }),
  );
  $("#list-empty").hidden = events.length > 0;
  $("#load-more").hidden = !next;
}

$("#filter-status").addEventListener("change", () => {
  shown = PAGE;
  loadList();
});
$("#load-more").addEventListener("click", () => {
  shown += PAGE;
  loadList();
});

// ---- one event -------------------------------------------------------------------------------------

// the event named in the address (#event-42), opened once signed in
const wanted = Number(/^#event-([1-9][0-9]{0,9})$/.exec(location.hash)?.[1]) || null;
let selected = null;
let current = null; // its latest stats
let knobsFilled = null; // the settings as filled into the form (what "changed" is measured against)
let deadSeen = -1;

function select(id, focus = false) {
  if (selected !== id) {
    selected = id;
    current = null;
    knobsFilled = null;
    deadSeen = -1;
    $("#detail-title").textContent = `#${id}`;
    $("#event-link").href = `/events/${id}`;
    for (const el of ["#action-status", "#knobs-status", "#dead-status", "#csv-status"]) $(el).textContent = "";
  }
  history.replaceState(null, "", `#event-${id}`);
  for (const tr of document.querySelectorAll("#event-rows tr")) tr.toggleAttribute("aria-current", tr.dataset.id === String(id));
  $("#detail").hidden = false;
  refreshDetail();
  if (focus) {
    // the event's head (its controls) at the top of the window, whatever is above it
    $("#detail").scrollIntoView({ block: "start" });
    $("#detail-title").focus({ preventScroll: true });
  }
}
$("#detail-title").tabIndex = -1;

let detailBusy = false;
async function refreshDetail() {
  if (!storedToken() || selected === null || detailBusy) return;
  detailBusy = true;
  const id = selected;
  try {
    const r = await adminApi("GET", `/admin/events/${id}`);
    if (id !== selected) return;
    if (r.status !== 200) {
      $("#detail-status").textContent = { 401: "token rejected", 404: "not found" }[r.status] ?? "unreachable";
      return;
    }
    render(r.body);
    if (r.body.dead !== deadSeen) loadDead();
  } finally {
    detailBusy = false;
  }
}

function render(ev) {
  current = ev;
  $("#detail-title").textContent = `#${ev.id} ${ev.name}`;
  const badge = $("#detail-status");
  badge.textContent = STATUS_TEXT[ev.status] + (ev.control ? ` (${CONTROL_WORD[ev.control]}…)` : ev.paused && ev.status === "scheduled" ? " (paused)" : "");
  badge.dataset.status = ev.status;
  for (const dd of document.querySelectorAll("#detail dd[data-stat]")) {
    const k = dd.dataset.stat;
    const v = ev[k];
    dd.textContent =
      k === "admitRate" ? `${v.toFixed(1)}/s` : k === "remaining" ? `${num(v)} of ${num(ev.stock)}` : k === "running" ? `${num(v)} of ${num(ev.runningCapacity)}` : num(v ?? 0);
  }
  // the funnel, counted by the server: joined → admitted → issued, and where the others went
  if (ev.funnel) {
    for (const el of document.querySelectorAll("#funnel [data-funnel]")) el.textContent = num(ev.funnel[el.dataset.funnel]);
    // an on_turn line hands out no slots: joined → issued
    $('#funnel [data-funnel="admitted"]').parentElement.hidden = ev.claim === "on_turn";
    const f = funnelText(ev);
    $("#funnel-rest").textContent = f.rest;
    $("#funnel-away").textContent = f.away;
  }
  for (const el of document.querySelectorAll("#detail .hooks")) el.hidden = !ev.webhookUrl && !ev.webhooksDelivered && !ev.webhooksPending;
  // the pre-queue's draw, once made: what anyone needs to recompute the order (docs/how-it-works.md: auditing the draw)
  const draw = $("#draw");
  draw.hidden = !ev.draw;
  if (ev.draw) draw.textContent = `Pre-queue drawn at ${new Date(ev.draw.drawnAt).toLocaleString()}: ${ev.draw.size === null ? "placing users…" : `${num(ev.draw.size)} places`}, seed ${ev.draw.seed}`;

  // why the line does (not) move, in words
  const stall = $("#stall");
  const text = stallText(ev);
  if (stall.textContent !== text) stall.textContent = text;
  stall.dataset.kind = ev.stall || ev.control || ev.unaccounted > 0 ? "warn" : "info";

  // the live request rate against trafficRpm (what decides between admitting directly and the line)
  $("#rate-text").textContent = `Request rate ${num(ev.requestRate)}/min of trafficRpm ${num(ev.trafficRpm)}`;
  const meter = $("#rate-meter");
  meter.max = Math.max(1, ev.trafficRpm);
  meter.value = Math.min(ev.requestRate, meter.max);
  meter.high = meter.max * 0.8;
  $("#rate-note").textContent =
    ev.trafficRpm === 0 ? "trafficRpm is 0: everyone goes through the waiting room." : ev.requestRate >= ev.trafficRpm ? "At or over trafficRpm: newcomers wait in line." : "Below trafficRpm: newcomers are admitted at once while there is room and nobody waits.";

  const ended = ev.status === "closed" || ev.status === "cancelled";
  $("#do-pause").disabled = ended || ev.paused;
  $("#do-resume").disabled = ended || !ev.paused;
  $("#do-close").disabled = ended;
  $("#do-cancel").disabled = ev.status !== "scheduled";

  if (!knobsFilled) fillKnobs(ev);
  // the start and the pre-queue's opening move only until they happen
  const scheduled = ev.status === "scheduled";
  $("#k-startsAt").disabled = !scheduled;
  $("#k-queueOpensAt").disabled = !scheduled || (!!ev.queueOpensAt && Date.parse(ev.queueOpensAt) <= Date.now());
}

// ---- actions -------------------------------------------------------------------------------------------

const ACTIONS = {
  pause: { method: "POST", path: (id) => `/admin/events/${id}/pause`, done: "Paused: nobody new is admitted." },
  resume: { method: "POST", path: (id) => `/admin/events/${id}/resume`, done: "Resumed: admission goes on." },
  close: { method: "POST", path: (id) => `/admin/events/${id}/close`, done: "Closed: the event has ended.", confirm: "Close this event now? It ends for everyone, and cannot be reopened." },
  cancel: { method: "DELETE", path: (id) => `/admin/events/${id}`, done: "Cancelled.", confirm: "Cancel this event? It will never open." },
};

for (const [name, a] of Object.entries(ACTIONS))
  $(`#do-${name}`).addEventListener("click", async () => {
    const status = $("#action-status");
    if (needToken(status) || selected === null) return;
    if (a.confirm && !confirm(a.confirm)) return;
    const r = await adminApi(a.method, a.path(selected));
    if (r.status !== 200) return announce(status, problem(r), "error");
    announce(status, a.done, "success");
    await refreshDetail();
    loadList();
  });

// ---- settings ------------------------------------------------------------------------------------------

const KNOBS = ["name", "stock", "startsAt", "queueOpensAt", "trafficRpm", "runningCapacity", "admitPerSecond", "maxWaiting", "slotSeconds", "graceSeconds", "endsAt", "couponValidUntil", "webhookUrl"];
// empty = the server's default (null)
const NULLABLE = new Set(["slotSeconds", "graceSeconds"]);
const DATES = new Set(["startsAt", "queueOpensAt", "endsAt", "couponValidUntil"]);
const TEXTS = new Set(["name", "webhookUrl"]);

function fillKnobs(ev) {
  knobsFilled = {};
  for (const k of KNOBS) {
    const input = $(`#k-${k}`);
    input.value = DATES.has(k) ? toLocalInput(ev[k]) : TEXTS.has(k) || NULLABLE.has(k) ? (ev[k] ?? "") : ev[k];
    knobsFilled[k] = input.value;
  }
}

$("#knobs").addEventListener("submit", async (e) => {
  e.preventDefault();
  const status = $("#knobs-status");
  if (needToken(status) || selected === null) return;
  // only what the admin changed: an untouched date is not re-sent (and rounded) by accident
  const body = {};
  for (const k of KNOBS) {
    const v = $(`#k-${k}`).value.trim();
    if (v === knobsFilled?.[k]) continue;
    body[k] = DATES.has(k) ? fromLocalInput(v) : k === "webhookUrl" || NULLABLE.has(k) ? (v === "" ? null : k === "webhookUrl" ? v : Number(v)) : k === "name" ? v : Number(v);
  }
  if (!Object.keys(body).length) return announce(status, "Nothing changed.", "info");
  const r = await adminApi("PATCH", `/admin/events/${selected}`, body);
  if (r.status !== 200) return announce(status, problem(r), "error");
  fillKnobs(r.body);
  const said = Object.keys(body).map((k) => `${k} ${DATES.has(k) ? when(r.body[k]) : r.body[k] === null ? "none" : typeof r.body[k] === "number" ? num(r.body[k]) : r.body[k]}`);
  announce(status, `Saved: ${said.join(", ")}.`, "success");
  refreshDetail();
});

// ---- dead letters ----------------------------------------------------------------------------------------

async function loadDead() {
  const id = selected;
  const r = await adminApi("GET", `/admin/events/${id}/dead?limit=100`);
  if (id !== selected || r.status !== 200) return;
  deadSeen = r.body.total;
  $("#dead-summary").textContent = r.body.total === 0 ? "None: every issuance was stored." : `${num(r.body.total)} issuance${r.body.total === 1 ? "" : "s"} could not be stored${r.body.total > r.body.entries.length ? ` (the oldest ${r.body.entries.length} shown)` : ""}.`;
  $("#dead-list").replaceChildren(
    ...r.body.entries.map((d) => {
      const li = document.createElement("li");
      const what = document.createElement("span");
      what.textContent = `${d.userId ?? "unknown user"} — ${d.reason ?? "no reason recorded"}${d.deadAt ? ` (${when(d.deadAt)})` : ""}`;
      const b = document.createElement("button");
      b.type = "button";
      b.className = "secondary";
      b.textContent = "Retry";
      b.setAttribute("aria-label", `Retry ${d.userId ?? d.entry}`);
      b.addEventListener("click", async () => {
        const res = await adminApi("POST", `/admin/events/${id}/dead/${encodeURIComponent(d.entry)}/retry`);
        if (res.status !== 200) return announce($("#dead-status"), problem(res), "error");
        announce($("#dead-status"), res.body.status === "replayed" ? `Sent ${d.userId ?? d.entry} back to the issuer.` : `${d.userId ?? d.entry} was already sent back.`, "success");
        b.disabled = true;
      });
      li.append(what, " ", b);
      return li;
    }),
  );
}

// ---- winners ---------------------------------------------------------------------------------------------

$("#download-csv").addEventListener("click", async () => {
  const status = $("#csv-status");
  if (needToken(status) || selected === null) return;
  announce(status, "Preparing the file…");
  try {
    const res = await fetch(`/admin/events/${selected}/issues`, { headers: { ...authorization(), accept: "text/csv" }, cache: "no-store" });
    if (!res.ok) return announce(status, problem({ status: res.status, body: await res.json().catch(() => null) }), "error");
    const url = URL.createObjectURL(await res.blob());
    const a = document.createElement("a");
    a.href = url;
    a.download = `event-${selected}-winners.csv`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    announce(status, "Downloaded.", "success");
  } catch {
    announce(status, "Could not reach the server.", "error");
  }
});

// ---- create --------------------------------------------------------------------------------------------

$("#create-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const status = $("#create-status");
  if (needToken(status)) return;
  const f = new FormData(e.target);
  const body = { name: f.get("name").trim(), stock: Number(f.get("stock")), trafficRpm: Number(f.get("trafficRpm")), runningCapacity: Number(f.get("runningCapacity")) };
  for (const k of ["admitPerSecond", "maxWaiting"]) if (f.get(k) !== "") body[k] = Number(f.get(k));
  for (const k of ["queueOpensAt", "startsAt", "endsAt", "couponValidUntil"]) if (f.get(k)) body[k] = fromLocalInput(f.get(k));
  if (f.get("webhookUrl").trim()) body.webhookUrl = f.get("webhookUrl").trim();
  const r = await adminApi("POST", "/admin/events", body);
  if (r.status !== 201) return announce(status, problem(r), "error");
  announce(status, `Created event #${r.body.id}: ${r.body.name}.`, "success");
  await loadList();
  select(r.body.id);
});

// ---- start ------------------------------------------------------------------------------------------------

showSignedIn();
if (wanted !== null && storedToken()) select(wanted, true);
loadList();
setInterval(() => document.visibilityState === "visible" && refreshDetail(), REFRESH_MS);
setInterval(() => document.visibilityState === "visible" && loadList(), LIST_REFRESH_MS);

// The admin page's server-side parts of the event being managed: the charts, drawn from the history
// the server samples (GET /admin/events/:id/history: the same curve after a reload or for a second
// operator), and the operator's message to the people waiting (PATCH {message}). Like
// admin-webhooks.js it reads what admin.js keeps: the token in this tab's sessionStorage and the
// event in the address (#event-42).
import { announce } from "./common.js";
import { adminApi } from "./admin-api.js";
import { $, drawCharts, problem, WINDOW_MS } from "./admin-view.js";

const REFRESH_MS = 2000;
const MAX_MESSAGE = 280;

const eventInAddress = () => Number(/^#event-([1-9][0-9]{0,9})$/.exec(location.hash)?.[1] ?? 0) || null;

// ---- charts ----------------------------------------------------------------------------------------

let chartFor = null;
let charting = false;

/** The server's samples as the charts draw them: issued per second from the running total, admissions per second. */
export function chartSamples(samples) {
  return samples.map((x, i) => {
    const t = Date.parse(x.t);
    const before = samples[i - 1];
    const dt = before ? (t - Date.parse(before.t)) / 1000 : 0;
    return { t, issued: dt > 0 ? Math.max(0, (x.issued - before.issued) / dt) : 0, waiting: x.waiting, admitted: x.admitRate };
  });
}

async function refreshCharts() {
  const id = eventInAddress();
  if (charting || id === null || $("#detail").hidden) return;
  charting = true;
  try {
    if (chartFor !== id) drawCharts([]);
    const r = await adminApi("GET", `/admin/events/${id}/history?seconds=${WINDOW_MS / 1000}`);
    if (id !== eventInAddress() || r.status !== 200) return;
    chartFor = id;
    drawCharts(chartSamples(r.body.samples));
  } finally {
    charting = false;
  }
}

// ---- the message -------------------------------------------------------------------------------------

let messageFor = null;
// the event whose message the operator is typing: a stored message read later never replaces their words,
// however early that read began
let editedFor = null;

function count() {
  const n = $("#op-message").value.length;
  $("#message-count").textContent = `${n} of ${MAX_MESSAGE}`;
}

async function loadMessage() {
  const id = eventInAddress();
  if (id === null || $("#detail").hidden || messageFor === id) return;
  const r = await adminApi("GET", `/admin/events/${id}`);
  if (r.status !== 200 || id !== eventInAddress()) return;
  messageFor = id;
  if (editedFor === id) return;
  $("#op-message").value = r.body.message ?? "";
  $("#message-status").textContent = "";
  count();
}

async function saveMessage(message) {
  const id = eventInAddress();
  const status = $("#message-status");
  if (id === null) return;
  const r = await adminApi("PATCH", `/admin/events/${id}`, { message });
  if (r.status !== 200) return announce(status, problem(r), "error");
  editedFor = null;
  $("#op-message").value = r.body.message;
  count();
  announce(status, r.body.message ? "Shown to everyone waiting." : "Message cleared.", "success");
}

$("#message-form").addEventListener("submit", (e) => {
  e.preventDefault();
  void saveMessage($("#op-message").value.trim());
});
$("#clear-message").addEventListener("click", () => void saveMessage(""));
$("#op-message").addEventListener("input", () => {
  editedFor = eventInAddress();
  count();
});

function tick() {
  void loadMessage();
  void refreshCharts();
}
setInterval(tick, REFRESH_MS);
addEventListener("hashchange", tick);
// admin.js shows the detail once signed in: look again soon after the first paint
setTimeout(tick, 300);
tick();

// The admin page's webhook section (GET /admin/events/:id/webhooks, POST /admin/webhooks/:id/redeliver):
// each delivery of the event being managed, how it went and why it failed, and a button to send it
// again now instead of waiting out its backoff. It reads what admin.js keeps: the token in this tab's
// sessionStorage and the event in the address (#event-42).
import { announce } from "./common.js";
import { adminApi } from "./admin-api.js";
import { $, num, problem, when } from "./admin-view.js";

const REFRESH_MS = 2000;
const LIMIT = 100;
const STATUS = { pending: "not sent yet", retrying: "failing, will retry", delivered: "delivered" };

const eventInAddress = () => Number(/^#event-([1-9][0-9]*)$/.exec(location.hash)?.[1] ?? 0) || null;

let shownFor = null;
let busy = false;

async function refresh() {
  const id = eventInAddress();
  if (busy || id === null || $("#detail").hidden) return;
  busy = true;
  try {
    const r = await adminApi("GET", `/admin/events/${id}/webhooks?limit=${LIMIT}`);
    if (id !== eventInAddress()) return;
    if (shownFor !== id) {
      shownFor = id;
      $("#hooks-status").textContent = "";
    }
    if (r.status !== 200) {
      $("#hooks-summary").textContent = r.status === 403 ? "This key lacks the webhooks scope." : "Webhook deliveries could not be read.";
      return;
    }
    render(id, r.body);
  } finally {
    busy = false;
  }
}

function render(id, page) {
  const ds = page.deliveries;
  const failing = ds.filter((d) => d.status === "retrying").length;
  $("#hooks-summary").textContent =
    ds.length === 0
      ? "No webhook deliveries for this event."
      : `${num(ds.length)}${page.next ? "+" : ""} deliveries, oldest first${failing ? `; ${num(failing)} failing` : ""}.`;
  $("#hooks-list").replaceChildren(
    ...ds.map((d) => {
      const li = document.createElement("li");
      li.dataset.status = d.status;
      const what = document.createElement("span");
      const next = d.status === "retrying" && d.nextAttemptAt ? `; next try ${when(d.nextAttemptAt)}` : "";
      const error = d.lastError ? ` — ${d.lastError}` : "";
      what.textContent = `${d.webhookId} ${d.type}: ${STATUS[d.status] ?? d.status} after ${num(d.attempts)} attempt${d.attempts === 1 ? "" : "s"}${next}${error}`;
      const b = document.createElement("button");
      b.type = "button";
      b.className = "secondary";
      b.textContent = d.status === "delivered" ? "Send again" : "Redeliver now";
      b.setAttribute("aria-label", `${b.textContent}: ${d.webhookId} ${d.type}`);
      b.addEventListener("click", async () => {
        b.disabled = true;
        const res = await adminApi("POST", `/admin/webhooks/${d.id}/redeliver`);
        if (res.status !== 202) {
          b.disabled = false;
          return announce($("#hooks-status"), problem(res), "error");
        }
        announce($("#hooks-status"), `${d.webhookId} is being sent now.`, "success");
        refresh();
      });
      li.append(what, " ", b);
      return li;
    }),
  );
}

setInterval(refresh, REFRESH_MS);
addEventListener("hashchange", refresh);
refresh();

// /host/{id}: the host console. Go live and end, ingest URLs, pin from the lineup, moderate
// chat, live numbers, and the stream's paid orders to ship.
import { $, ApiError, api, config, el, errorText, initChrome, money, number, session, show, t } from "./core.js";
import { authForm } from "./auth.js";
import { ChatList } from "./chat.js";
import { LiveRoom } from "./room.js";

const streamId = config.stream_id;
const room = new LiveRoom(streamId);
let stream = null;
let lineup = [];
let pinnedId = null;
let viewers = 0;

initChrome();

function fail(where, err) {
  $(where).textContent = err ? errorText(err) : "";
}

// ---- moderation buttons on each chat line (not on the host's own lines)
async function moderate(payload) {
  const ack = await room.call("moderate", { stream_id: streamId, ...payload });
  fail("#chat-error", ack.ok ? null : ack.error);
}

const chat = new ChatList($("#chat"), {
  actions: (message) =>
    message.user.id === session.user()?.id
      ? null
      : el(
          "span",
          { class: "mod" },
          el("button", { type: "button", title: t("mod.delete"), "aria-label": t("mod.delete"), dataset: { action: "delete" }, onclick: () => moderate({ action: "delete", target: message.id }) }, "🗑"),
          el("button", { type: "button", title: t("mod.mute"), "aria-label": t("mod.mute"), dataset: { action: "mute" }, onclick: () => moderate({ action: "mute", target: message.user.id, seconds: 600 }) }, "🔇"),
          el("button", { type: "button", title: t("mod.ban"), "aria-label": t("mod.ban"), dataset: { action: "ban" }, onclick: () => moderate({ action: "ban", target: message.user.id }) }, "⛔"),
        ),
});

// ---- status and controls
function renderStatus() {
  $("#status").textContent = t(`status.${stream.status}`);
  $("#status").dataset.status = stream.status;
  show($("#go-live"), stream.status === "scheduled");
  show($("#encoder"), stream.status === "scheduled" && config.sandbox);
  show($("#end"), stream.status === "live");
}

async function control(button, call) {
  button.disabled = true;
  fail("#control-error", null);
  try {
    stream = { ...stream, ...(await call()) };
    renderStatus();
  } catch (err) {
    fail("#control-error", err);
  } finally {
    button.disabled = false;
  }
}

$("#encoder").addEventListener("click", (e) =>
  control(e.currentTarget, async () => {
    await api("POST", `/sandbox/streams/${streamId}/encoder`, { body: { connected: true } });
    $("#encoder").dataset.connected = "true";
    $("#encoder").textContent = t("host.encoder_connected");
    // The provider's "connected" notification may already have taken the stream live.
    return api("GET", `/streams/${streamId}`);
  }),
);
$("#go-live").addEventListener("click", (e) => control(e.currentTarget, () => api("POST", `/streams/${streamId}/start`)));
$("#end").addEventListener("click", (e) => {
  if (confirm(t("host.end_confirm"))) control(e.currentTarget, () => api("POST", `/streams/${streamId}/end`));
});

// ---- ingest URLs for OBS
function renderIngest() {
  const list = $("#ingest-list");
  list.replaceChildren();
  const ingest = stream.ingest ?? {};
  for (const key of ["rtmps_url", "stream_key", "srt_url", "whip_url"]) {
    if (!ingest[key]) continue;
    const value = el("code", {}, ingest[key]);
    const copy = el("button", { type: "button", class: "copy", onclick: () => navigator.clipboard?.writeText(ingest[key]) }, t("host.copy"));
    list.append(el("dt", {}, t(`ingest.${key}`)), el("dd", {}, value, " ", copy));
  }
}

// ---- lineup and pins
function renderLineup() {
  const list = $("#lineup");
  list.replaceChildren();
  for (const product of lineup) {
    const isPinned = product.id === pinnedId;
    list.append(
      el(
        "li",
        { class: isPinned ? "pinned" : "", dataset: { productId: String(product.id) } },
        el("span", { class: "name" }, product.name),
        el("span", { class: "price" }, money(product.price, product.currency)),
        el("span", { class: "stock" }, t("pin.stock", { n: number(product.stock) })),
        el(
          "button",
          {
            type: "button",
            class: isPinned ? "" : "primary",
            onclick: async () => {
              const ack = isPinned
                ? await room.call("unpin", { stream_id: streamId })
                : await room.call("pin", pinRequest(product.id));
              fail("#lineup-error", ack.ok ? null : ack.error);
            },
          },
          t(isPinned ? "host.unpin" : "host.pin"),
        ),
      ),
    );
  }
}

/** The pin event, as a flash sale when the host chose a countdown. */
function pinRequest(productId) {
  const request = { stream_id: streamId, product_id: productId };
  const flash = Number($("#flash-seconds").value);
  if (flash > 0) request.flash_seconds = flash;
  return request;
}

async function loadLineup() {
  lineup = await Promise.all(stream.product_ids.map((id) => api("GET", `/products/${id}`).catch(() => null)));
  lineup = lineup.filter(Boolean);
  renderLineup();
}

// ---- live numbers and orders to ship
const DEAD = ["cancelled", "expired", "refunded"];

async function sellerOrders(status) {
  const found = [];
  let cursor = null;
  for (let page = 0; page < 5; page++) {
    const q = new URLSearchParams({ as: "seller", limit: "100" });
    if (status) q.set("status", status);
    if (cursor) q.set("cursor", cursor);
    const body = await api("GET", `/orders?${q}`);
    found.push(...body.items.filter((o) => o.stream_id === streamId));
    cursor = body.next_cursor;
    if (!cursor) break;
  }
  return found;
}

function toMinor(amount) {
  const [whole, frac = ""] = amount.split(".");
  return BigInt(whole) * 100n + BigInt((frac + "00").slice(0, 2)) * (whole.startsWith("-") ? -1n : 1n);
}

function fromMinor(minor) {
  const sign = minor < 0n ? "-" : "";
  const abs = minor < 0n ? -minor : minor;
  return `${sign}${abs / 100n}.${String(abs % 100n).padStart(2, "0")}`;
}

function renderNumbers({ orders, units, gmv }) {
  $("#n-viewers").textContent = number(viewers);
  $("#n-orders").textContent = number(orders);
  $("#n-units").textContent = number(units);
  $("#n-gmv").textContent = gmv.length ? gmv.map((g) => money(g.amount, g.currency)).join(" + ") : money("0", lineup[0]?.currency ?? "TWD");
}

let analyticsRoute = true;

async function refreshNumbers() {
  if (analyticsRoute) {
    try {
      const a = await api("GET", `/streams/${streamId}/analytics`);
      renderNumbers({ orders: a.orders, units: a.units_sold, gmv: a.gmv });
      return;
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 404) return;
      analyticsRoute = false; // not on this server: count from the seller's own orders
    }
  }
  const orders = (await sellerOrders(null)).filter((o) => !DEAD.includes(o.status) && o.status !== "pending_payment");
  const me = session.user().id;
  let units = 0;
  const sums = new Map();
  for (const order of orders) {
    for (const line of order.items.filter((i) => i.seller_id === me)) {
      units += line.quantity;
      sums.set(order.currency, (sums.get(order.currency) ?? 0n) + toMinor(line.line_total));
    }
  }
  renderNumbers({ orders: orders.length, units, gmv: [...sums].map(([currency, m]) => ({ currency, amount: fromMinor(m) })) });
}

async function refreshOrders() {
  const list = $("#orders");
  const paid = (await sellerOrders("paid")).filter((o) => o.status === "paid");
  list.replaceChildren();
  show($("#orders-empty"), paid.length === 0);
  const me = session.user().id;
  for (const order of paid) {
    const mine = order.items.filter((i) => i.seller_id === me);
    const carrier = el("input", { name: "carrier", required: true, placeholder: t("ship.carrier") });
    const tracking = el("input", { name: "tracking_number", required: true, placeholder: t("ship.tracking") });
    const error = el("p", { class: "error" });
    const form = el("form", { class: "ship" }, carrier, tracking, el("button", { type: "submit", class: "primary" }, t("ship.ship")), error);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await api("POST", `/orders/${order.id}/ship`, { body: { carrier: carrier.value.trim(), tracking_number: tracking.value.trim() } });
        refreshOrders();
      } catch (err) {
        error.textContent = errorText(err);
      }
    });
    const a = order.shipping_address;
    list.append(
      el(
        "li",
        { dataset: { orderId: String(order.id) } },
        el("p", {}, el("b", {}, `#${order.id}`), " ", mine.map((i) => `${i.name} × ${i.quantity}`).join(", "), " · ", money(order.total, order.currency)),
        el("p", { class: "address" }, [a.name, a.phone, a.line1, a.city, a.postal_code, a.country].filter(Boolean).join(", ")),
        form,
      ),
    );
  }
}

function refreshAll() {
  refreshNumbers().catch(() => {});
  refreshOrders().catch((err) => fail("#orders-error", err));
}

// ---- room events
room.addEventListener("snapshot", ({ detail }) => {
  viewers = detail.viewers;
  chat.reset(detail.recent_messages);
  pinnedId = detail.pinned?.id ?? null;
  renderLineup();
  refreshAll();
});
room.addEventListener("viewers", ({ detail }) => {
  viewers = detail.count;
  $("#n-viewers").textContent = number(viewers);
});
room.addEventListener("chat", ({ detail }) => chat.add(detail));
room.addEventListener("chat_deleted", ({ detail }) => chat.remove(detail.id));
room.addEventListener("product_pinned", ({ detail }) => {
  pinnedId = detail.product.id;
  renderLineup();
});
room.addEventListener("product_unpinned", () => {
  pinnedId = null;
  renderLineup();
});
room.addEventListener("stock", ({ detail }) => {
  const product = lineup.find((p) => p.id === detail.product_id);
  if (product) {
    product.stock = detail.stock;
    renderLineup();
  }
});
room.addEventListener("order_placed", refreshAll);
room.addEventListener("order_paid", refreshAll);
room.addEventListener("stream_status", ({ detail }) => {
  stream.status = detail.status;
  renderStatus();
});
room.addEventListener("moderation", ({ detail }) => {
  if (detail.action === "slow_mode") $("#slow-seconds").value = String(detail.seconds);
});
room.addEventListener("connection", ({ detail }) => {
  show($("#conn"), detail.state !== "up");
  $("#conn").textContent = t("conn.reconnecting");
});

$("#slow-form").addEventListener("submit", (event) => {
  event.preventDefault();
  moderate({ action: "slow_mode", seconds: Number($("#slow-seconds").value) });
});
$("#chat-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("#chat-input");
  const ack = await room.call("chat", { stream_id: streamId, text: input.value.trim() });
  fail("#chat-error", ack.ok ? null : ack.error);
  if (ack.ok) input.value = "";
});

document.addEventListener("lc:locale", () => {
  if (!stream) return;
  renderStatus();
  renderIngest();
  renderLineup();
  refreshAll();
});

async function start() {
  if (!session.user()) {
    show($("#auth-slot"), true);
    await authForm($("#auth-slot"), { role: "seller" });
    show($("#auth-slot"), false);
  }
  try {
    stream = await api("GET", `/streams/${streamId}`);
  } catch (err) {
    fail("#console-error", err);
    return;
  }
  if (stream.host_id !== session.user().id) {
    $("#console-error").textContent = t("host.not_yours");
    return;
  }
  show($("#console"), true);
  $("#title").textContent = stream.title;
  $("#watch-link").href = `/watch/${streamId}`;
  renderStatus();
  renderIngest();
  await loadLineup();
  room.connect();
  setInterval(refreshAll, 5000);
}

document.addEventListener("lc:session", () => {
  if (!session.user()) location.reload();
});

start();

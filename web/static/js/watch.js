// /watch/{id}: the viewer. Video, chat, reactions, viewer count, the pinned product and Buy.
import { $, api, config, el, errorText, initChrome, money, number, session, show, t } from "./core.js";
import { authForm } from "./auth.js";
import { ChatList } from "./chat.js";
import { LiveRoom } from "./room.js";
import { BuySheet } from "./buy.js";

export const REACTIONS = { heart: "❤️", like: "👍", laugh: "😂", wow: "😮", fire: "🔥", clap: "👏" };

const streamId = config.stream_id;
const room = new LiveRoom(streamId);
const chat = new ChatList($("#chat"));
let stream = null;
let pinned = null;
let status = "scheduled";

initChrome();

// ---- video: hls.js where Media Source Extensions exist, else the browser's own HLS (Safari)
function still(reason) {
  $("#stage").dataset.mode = "still";
  $("#stage").dataset.reason = reason;
}

function play(url) {
  const video = $("#video");
  $("#stage").dataset.mode = "video";
  const Hls = window.Hls;
  if (Hls && Hls.isSupported()) {
    const hls = new Hls();
    hls.on(Hls.Events.ERROR, (_, data) => {
      if (data.fatal) {
        hls.destroy();
        still("error");
      }
    });
    hls.loadSource(url);
    hls.attachMedia(video);
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = url;
    video.addEventListener("error", () => still("error"), { once: true });
  } else {
    still("unsupported");
    return;
  }
  video.play().catch(() => {}); // muted autoplay; a refused play leaves the controls
}

function renderStatus() {
  const badge = $("#status");
  badge.textContent = t(`status.${status}`);
  badge.dataset.status = status;
  if (status === "live" && stream?.playback?.hls_url) {
    if ($("#stage").dataset.mode !== "video") play(stream.playback.hls_url);
  } else if (status !== "live") {
    still(status);
  }
  $("#chat-form").hidden = status === "ended" || !session.user();
  $("#chat-signin").hidden = status === "ended" || Boolean(session.user());
}

// ---- the pinned product card
let countdown = null;
function renderPinned() {
  const card = $("#pinned");
  clearInterval(countdown);
  if (!pinned) {
    show(card, false);
    return;
  }
  show(card, true);
  card.dataset.productId = String(pinned.id);
  $("#pin-name").textContent = pinned.name;
  $("#pin-price").textContent = money(pinned.price, pinned.currency);
  const img = $("#pin-img");
  img.hidden = !pinned.image_url;
  if (pinned.image_url) img.src = pinned.image_url;
  const soldOut = pinned.stock <= 0;
  card.classList.toggle("sold-out", soldOut);
  $("#pin-stock").textContent = soldOut ? t("pin.sold_out") : t("pin.stock", { n: number(pinned.stock) });
  $("#buy").disabled = soldOut || status === "ended";
  const flash = $("#pin-flash");
  const ends = pinned.flash_ends_at ? Date.parse(pinned.flash_ends_at) : NaN;
  show(flash, !Number.isNaN(ends));
  if (!Number.isNaN(ends)) {
    const tick = () => {
      const left = Math.max(0, Math.round((ends - Date.now()) / 1000));
      const mm = String(Math.floor(left / 60)).padStart(2, "0");
      const ss = String(left % 60).padStart(2, "0");
      flash.textContent = left > 0 ? t("pin.flash_ends", { time: `${mm}:${ss}` }) : t("pin.flash_over");
      if (left === 0) clearInterval(countdown);
    };
    tick();
    countdown = setInterval(tick, 1000);
  }
}

// ---- reactions: bursts float up over the video, a few per kind however large the count
function burst(counts) {
  const layer = $("#bursts");
  for (const [kind, n] of Object.entries(counts)) {
    for (let i = 0; i < Math.min(n, 8); i++) {
      const bubble = el("span", { class: "burst", style: `left:${10 + Math.random() * 75}%;animation-delay:${i * 90}ms` }, REACTIONS[kind] ?? "✨");
      bubble.addEventListener("animationend", () => bubble.remove());
      layer.append(bubble);
    }
  }
}

// ---- room events
room.addEventListener("snapshot", ({ detail }) => {
  $("#viewer-count").textContent = number(detail.viewers);
  chat.reset(detail.recent_messages);
  pinned = detail.pinned;
  if (detail.status) status = detail.status;
  renderPinned();
  renderStatus();
});
room.addEventListener("viewers", ({ detail }) => ($("#viewer-count").textContent = number(detail.count)));
room.addEventListener("chat", ({ detail }) => chat.add(detail));
room.addEventListener("chat_deleted", ({ detail }) => chat.remove(detail.id));
room.addEventListener("reactions", ({ detail }) => burst(detail.counts));
room.addEventListener("product_pinned", ({ detail }) => {
  pinned = detail.product;
  renderPinned();
});
room.addEventListener("product_unpinned", () => {
  pinned = null;
  renderPinned();
});
room.addEventListener("stock", ({ detail }) => {
  if (pinned && pinned.id === detail.product_id) {
    pinned.stock = detail.stock;
    renderPinned();
  }
});
room.addEventListener("sold_out", ({ detail }) => {
  if (pinned && pinned.id === detail.product_id) {
    pinned.stock = 0;
    renderPinned();
  }
});
room.addEventListener("stream_status", async ({ detail }) => {
  status = detail.status;
  if (status === "live" && !stream?.playback) stream = await api("GET", `/streams/${streamId}`).catch(() => stream);
  renderStatus();
  renderPinned();
});
room.addEventListener("connection", ({ detail }) => {
  const conn = $("#conn");
  show(conn, detail.state !== "up");
  conn.textContent = t("conn.reconnecting");
});
room.addEventListener("join_failed", ({ detail }) => {
  $("#chat-error").textContent = errorText(detail);
});

// ---- chat and reactions
$("#chat-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("#chat-input");
  const text = input.value.trim();
  if (!text) return;
  const ack = await room.call("chat", { stream_id: streamId, text });
  $("#chat-error").textContent = ack.ok ? "" : errorText(ack.error);
  if (ack.ok) input.value = "";
});

async function signIn(container, market) {
  show(container, true);
  await authForm(container, { role: "buyer", market });
  show(container, false);
  room.connect(); // again, as the signed-in user
}

$("#chat-signin").addEventListener("click", () => signIn($("#chat-auth"), "TW"));
for (const button of document.querySelectorAll("[data-kind]")) {
  button.textContent = REACTIONS[button.dataset.kind];
  button.addEventListener("click", async () => {
    const ack = await room.call("react", { stream_id: streamId, kind: button.dataset.kind });
    if (ack.ok) button.animate([{ transform: "scale(1.4)" }, { transform: "scale(1)" }], 250);
  });
}

// ---- Buy
const sheet = new BuySheet($("#sheet"), { room, streamId, signIn });
$("#buy").addEventListener("click", () => pinned && sheet.open({ ...pinned }));

document.addEventListener("lc:locale", () => {
  renderStatus();
  renderPinned();
});
document.addEventListener("lc:session", () => renderStatus());

async function start() {
  try {
    stream = await api("GET", `/streams/${streamId}`);
  } catch (err) {
    $("#title").textContent = errorText(err);
    still("missing");
    return;
  }
  $("#title").textContent = stream.title;
  document.title = stream.title;
  status = stream.status;
  renderStatus();
  room.connect();
}

start();

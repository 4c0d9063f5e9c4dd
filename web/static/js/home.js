// /: the live and upcoming streams.
import { $, api, el, errorText, initChrome, number, t } from "./core.js";

initChrome();

function card(stream) {
  const when = stream.status === "scheduled" && stream.scheduled_at
    ? new Intl.DateTimeFormat(document.documentElement.lang, { dateStyle: "medium", timeStyle: "short" }).format(new Date(stream.scheduled_at))
    : null;
  return el(
    "li",
    { class: "stream-card", dataset: { streamId: String(stream.id), status: stream.status } },
    el(
      "a",
      { href: `/watch/${stream.id}` },
      el(
        "div",
        { class: "thumb" },
        el("img", { src: stream.thumbnail_url ?? "/assets/img/still.svg", alt: "" }),
        el("span", { class: "badge", dataset: { status: stream.status } }, t(`status.${stream.status}`)),
        typeof stream.viewers === "number" ? el("span", { class: "badge viewers" }, "👁 ", number(stream.viewers)) : null,
      ),
      el("h3", {}, stream.title),
      el("p", { class: "meta" }, stream.host?.display_name ?? t("home.host", { id: stream.host_id }), when ? ` · ${when}` : ""),
    ),
  );
}

async function load() {
  const error = $("#error");
  error.textContent = "";
  for (const status of ["live", "scheduled"]) {
    const list = $(`#${status}`);
    try {
      const page = await api("GET", `/streams?status=${status}&limit=50`);
      list.replaceChildren(...page.items.map(card));
      $(`#${status}-empty`).hidden = page.items.length > 0;
    } catch (err) {
      error.textContent = errorText(err);
    }
  }
}

document.addEventListener("lc:locale", load);
load();
setInterval(load, 15000);

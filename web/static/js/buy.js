// Buy from the pinned card: sign in inline, order with an Idempotency-Key, open the payment
// action (form post, redirect or QR) and follow the order until it is paid.
import { api, config, el, errorText, money, session, t, uuid } from "./core.js";

// The methods offered per currency (the contract's methods that need no card or wallet data).
const METHODS = { TWD: ["ecpay", "newebpay", "linepay"], THB: ["promptpay", "twoc2p", "linepay"] };
const FINAL = ["paid", "fulfilled", "completed", "cancelled", "expired", "refunded"];
const ADDRESS_KEY = "lc.address";

export class BuySheet {
  constructor(root, { room, streamId, signIn }) {
    this.root = root;
    this.room = room;
    this.streamId = streamId;
    this.signIn = signIn;
    this.order = null;
    this.poll = null;
    room.addEventListener("order_status", ({ detail }) => {
      if (this.order && detail.order_id === this.order.id) this.track(detail.status);
    });
  }

  close() {
    clearInterval(this.poll);
    this.root.hidden = true;
    this.root.replaceChildren();
  }

  frame(...children) {
    this.root.replaceChildren(
      el(
        "div",
        { class: "sheet-body" },
        el("button", { type: "button", class: "close", "aria-label": t("close"), onclick: () => this.close() }, "×"),
        ...children,
      ),
    );
    this.root.hidden = false;
  }

  async open(product) {
    this.product = product;
    this.order = null;
    this.key = uuid(); // one key per purchase attempt: a retried submit cannot order twice
    if (!session.user()) {
      const slot = el("div");
      this.frame(el("p", {}, t("buy.signin_first")), slot);
      await this.signIn(slot, product.currency === "THB" ? "TH" : "TW");
    }
    this.orderForm();
  }

  orderForm() {
    const p = this.product;
    const saved = JSON.parse(sessionStorage.getItem(ADDRESS_KEY) || "{}");
    const country = p.currency === "THB" ? "TH" : "TW";
    const field = (name, attrs = {}) =>
      el("label", {}, el("span", {}, t(`address.${name}`)), el("input", { name, value: saved[name] ?? "", required: true, ...attrs }));
    const quantity = el("input", { name: "quantity", type: "number", min: "1", max: String(Math.max(1, Math.min(p.stock, 10))), value: "1" });
    const method = el("select", { name: "method" }, METHODS[p.currency].map((m) => el("option", { value: m }, t(`method.${m}`))));
    const error = el("p", { class: "error", role: "alert" });
    const submit = el("button", { type: "submit", class: "primary" }, t("buy.place_order"));
    const form = el(
      "form",
      { class: "order-form" },
      el("h3", {}, p.name),
      el("p", { class: "price" }, money(p.price, p.currency)),
      el("label", {}, el("span", {}, t("buy.quantity")), quantity),
      field("name", { autocomplete: "name" }),
      field("phone", { autocomplete: "tel", type: "tel" }),
      field("line1", { autocomplete: "address-line1" }),
      field("city", { autocomplete: "address-level2" }),
      field("postal_code", { autocomplete: "postal-code" }),
      el("label", {}, el("span", {}, t("buy.method")), method),
      error,
      submit,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = Object.fromEntries(new FormData(form));
      const address = {
        name: data.name.trim(), phone: data.phone.trim(), line1: data.line1.trim(),
        city: data.city.trim(), postal_code: data.postal_code.trim(), country,
      };
      sessionStorage.setItem(ADDRESS_KEY, JSON.stringify(address));
      submit.disabled = true;
      error.textContent = "";
      try {
        this.order = await api("POST", "/orders", {
          headers: { "Idempotency-Key": this.key },
          body: {
            items: [{ product_id: p.id, quantity: Number(data.quantity) }],
            stream_id: this.streamId,
            shipping_address: address,
          },
        });
        const payment = await api("POST", `/orders/${this.order.id}/payments`, { body: { method: data.method } });
        this.paymentStep(payment);
      } catch (err) {
        error.textContent = errorText(err);
        submit.disabled = false;
      }
    });
    this.frame(form);
  }

  paymentStep(payment) {
    const a = payment.action;
    const state = el("p", { class: "order-state", id: "order-state" }, t("order.pending_payment"));
    const error = el("p", { class: "error", role: "alert" });
    let how = null;
    if (a.type === "form_post") {
      const form = el("form", { method: "post", action: a.url, target: "_blank" });
      for (const [name, value] of Object.entries(a.fields)) form.append(el("input", { type: "hidden", name, value: String(value) }));
      form.append(el("button", { type: "submit", class: "primary" }, t("pay.continue")));
      how = form;
    } else if (a.type === "redirect") {
      how = el("a", { class: "button primary", href: a.url, target: "_blank", rel: "noopener" }, t("pay.continue"));
    } else if (a.type === "qr") {
      how = el("figure", {}, el("img", { class: "qr", alt: t("pay.qr"), src: `data:image/png;base64,${a.image_png_base64}` }), el("figcaption", {}, t("pay.qr")));
    }
    const sandbox = config.sandbox
      ? el("button", {
          type: "button", class: "sandbox", id: "sandbox-pay",
          onclick: async () => {
            try {
              await api("POST", `/sandbox/payments/${payment.payment_id}`, { body: { outcome: "paid" } });
            } catch (err) {
              error.textContent = errorText(err);
            }
          },
        }, t("pay.sandbox"))
      : null;
    this.frame(
      el("h3", {}, t("pay.title")),
      el("p", { class: "total" }, t("order.total", { total: money(this.order.total, this.order.currency) })),
      how,
      sandbox,
      state,
      error,
    );
    this.stateNode = state;
    clearInterval(this.poll);
    // order_status on the socket is the fast path; polling covers a socket that was down.
    this.poll = setInterval(async () => {
      try {
        const order = await api("GET", `/orders/${this.order.id}`);
        this.track(order.status);
      } catch {
        /* try again at the next tick */
      }
    }, 3000);
  }

  track(status) {
    if (!this.stateNode) return;
    this.stateNode.textContent = t(`order.${status}`);
    this.stateNode.dataset.status = status;
    if (FINAL.includes(status)) clearInterval(this.poll);
  }
}

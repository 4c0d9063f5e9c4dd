// The payment return page: follow the order's state until it is paid (or cannot be), without a
// reload. Reads `ref` (our reference at the provider; LINE Pay's return calls it `trade_no`)
// from the address and polls GET /api/v1/payments/status?ref=.
(function () {
  "use strict";
  var params = new URLSearchParams(window.location.search);
  var ref = params.get("ref") || params.get("trade_no");
  var cancelled = params.get("cancelled") === "1";
  var FINAL = ["paid", "fulfilled", "completed", "refunded", "cancelled", "expired"];
  var INTERVAL_MS = 1500;
  var GIVE_UP_MS = 20 * 60 * 1000;
  var started = Date.now();

  function show(id, text) { document.getElementById(id).textContent = text; }

  function title(text, cls) {
    var el = document.getElementById("title");
    el.textContent = text;
    el.className = cls || "";
  }

  function render(s) {
    show("order", "#" + s.order_id);
    show("amount", s.amount + " " + s.currency);
    show("order-status", s.order_status);
    if (["paid", "fulfilled", "completed"].indexOf(s.order_status) >= 0) {
      title("Payment received", "paid");
      show("detail", "Thank you! Your order is paid.");
    } else if (s.status === "failed") {
      title("Payment failed", "failed");
      show("detail", "The payment did not go through. You can try again from your order.");
    } else if (FINAL.indexOf(s.order_status) >= 0) {
      title("Order " + s.order_status, "failed");
      show("detail", "This order can no longer be paid.");
    } else {
      title(cancelled ? "Payment cancelled?" : "Waiting for the payment…");
      show("detail", "This page updates by itself once the provider confirms.");
    }
  }

  function done(s) {
    return s.status === "failed" || FINAL.indexOf(s.order_status) >= 0;
  }

  function poll() {
    fetch("/api/v1/payments/status?ref=" + encodeURIComponent(ref),
          { headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (resp) {
        if (resp.status === 404) { throw new Error("unknown"); }
        if (!resp.ok) { return null; }  // e.g. 429: try again later
        return resp.json();
      })
      .then(function (s) {
        if (s) { render(s); }
        if ((!s || !done(s)) && Date.now() - started < GIVE_UP_MS) {
          window.setTimeout(poll, INTERVAL_MS);
        }
      })
      .catch(function (err) {
        if (err && err.message === "unknown") {
          title("Payment not found", "failed");
          show("detail", "This link does not name a payment.");
        } else {
          window.setTimeout(poll, INTERVAL_MS * 2);
        }
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (!ref) {
      title("Payment not found", "failed");
      show("detail", "This link does not name a payment.");
      return;
    }
    poll();
  });
})();

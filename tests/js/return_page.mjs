// Runs the payment return page's script (commerce/payments/assets/return.js) against a live
// API with a minimal DOM: node return_page.mjs <api base> <ref> <script path>. Prints one JSON
// line per change of the page's title (from its first answer on: the blank title before it is
// not a state), then exits once the page stops polling (or after 30 s).
import { readFileSync } from "node:fs";
import vm from "node:vm";

const [base, ref, scriptPath] = process.argv.slice(2);
const elements = {};
const element = (id) => (elements[id] ??= { textContent: "", className: "" });
const listeners = {};
let pending = 0;
let lastTitle = null;

const context = {
  URLSearchParams,
  encodeURIComponent,
  Date,
  Error,
  document: {
    getElementById: element,
    addEventListener: (name, fn) => { listeners[name] = fn; },
  },
  window: {
    location: { search: `?ref=${encodeURIComponent(ref)}` },
    setTimeout: (fn, ms) => { pending += 1; setTimeout(() => { pending -= 1; fn(); }, ms); },
  },
  fetch: (url, init) => {
    pending += 1;
    return fetch(base + url, init).finally(() => { pending -= 1; });
  },
};
vm.runInNewContext(readFileSync(scriptPath, "utf8"), context);
listeners.DOMContentLoaded();

const started = Date.now();
const timer = setInterval(() => {
  const title = element("title").textContent;
  if (title && title !== lastTitle) {
    lastTitle = title;
    console.log(JSON.stringify({ title, order_status: element("order-status").textContent,
                                 amount: element("amount").textContent }));
  }
  if ((pending === 0 && title) || Date.now() - started > 30000) {
    clearInterval(timer);
  }
}, 50);

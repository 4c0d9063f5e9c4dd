// Shared by every page: configuration, translations, money, the API client, the session and
// small DOM helpers. No framework: the pages are small and must load fast on a phone.
import { MESSAGES, LOCALES } from "./i18n.js";

export const config = JSON.parse(document.querySelector('meta[name="lc-config"]').content);

// ---- language: ?lang=, then the tab's choice, then the signed-in user's, then the browser's.
const LOCALE_KEY = "lc.locale";

function fromTag(tag) {
  const t = (tag || "").toLowerCase().replace("_", "-");
  if (t.startsWith("zh")) return "zh_TW";
  if (t.startsWith("th")) return "th";
  if (t.startsWith("en")) return "en";
  return null;
}

function detectLocale() {
  const asked = new URLSearchParams(location.search).get("lang");
  if (asked && LOCALES.includes(asked)) {
    sessionStorage.setItem(LOCALE_KEY, asked);
    return asked;
  }
  const chosen = sessionStorage.getItem(LOCALE_KEY);
  if (chosen && LOCALES.includes(chosen)) return chosen;
  const user = session.user();
  if (user && LOCALES.includes(user.locale)) return user.locale;
  for (const tag of navigator.languages || [navigator.language]) {
    const found = fromTag(tag);
    if (found) return found;
  }
  return "en";
}

export let locale = "en";

export function t(key, vars = {}) {
  const text = (MESSAGES[locale] && MESSAGES[locale][key]) ?? MESSAGES.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in vars ? String(vars[name]) : `{${name}}`));
}

const BCP47 = { en: "en", zh_TW: "zh-TW", th: "th-TH" };

/** Fill every `data-i18n` (text), `data-i18n-placeholder` and `data-i18n-title` under root. */
export function translate(root = document) {
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll("[data-i18n-placeholder]")) {
    node.placeholder = t(node.dataset.i18nPlaceholder);
  }
  for (const node of root.querySelectorAll("[data-i18n-title]")) {
    node.title = t(node.dataset.i18nTitle);
    node.setAttribute("aria-label", node.title);
  }
}

export function setLocale(next, { persist = true } = {}) {
  locale = LOCALES.includes(next) ? next : "en";
  if (persist) sessionStorage.setItem(LOCALE_KEY, locale);
  document.documentElement.lang = BCP47[locale];
  translate();
  document.dispatchEvent(new CustomEvent("lc:locale"));
}

/** Money from the API's decimal string, written as the currency's own market writes it. */
export function money(amount, currency) {
  const tag = currency === "THB" ? `${BCP47[locale]}-u-nu-latn` : BCP47[locale];
  // Intl accepts the decimal string as is: no float on the way.
  return new Intl.NumberFormat(tag, { style: "currency", currency }).format(amount);
}

export function number(n) {
  return new Intl.NumberFormat(`${BCP47[locale]}-u-nu-latn`).format(n);
}

// ---- session: tokens in this tab's sessionStorage only (no cookies, so no CSRF).
const AUTH_KEY = "lc.auth";

export const session = {
  get() {
    try {
      return JSON.parse(sessionStorage.getItem(AUTH_KEY) || "null");
    } catch {
      return null;
    }
  },
  user() {
    return this.get()?.user ?? null;
  },
  token() {
    return this.get()?.access_token ?? null;
  },
  save(tokens) {
    const previous = this.get();
    sessionStorage.setItem(AUTH_KEY, JSON.stringify({ ...tokens, user: tokens.user ?? previous?.user }));
    document.dispatchEvent(new CustomEvent("lc:session"));
  },
  clear() {
    sessionStorage.removeItem(AUTH_KEY);
    document.dispatchEvent(new CustomEvent("lc:session"));
  },
};

// ---- API client
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

let refreshing = null;

async function refreshTokens() {
  const current = session.get();
  if (!current?.refresh_token) return false;
  refreshing ??= fetch(`${config.api}/auth/refresh`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh_token: current.refresh_token }),
  })
    .then(async (r) => {
      if (!r.ok) {
        session.clear();
        return false;
      }
      session.save(await r.json());
      return true;
    })
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

/** JSON call to `/api/v1{path}`; throws ApiError with the envelope's code on 4xx/5xx. */
export async function api(method, path, { body, headers = {}, retry = true } = {}) {
  const h = { Accept: "application/json", ...headers };
  if (body !== undefined) h["Content-Type"] = "application/json";
  const token = session.token();
  if (token) h.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(`${config.api}${path}`, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "network", t("error.network"));
  }
  if (response.status === 401 && token && retry && (await refreshTokens())) {
    return api(method, path, { body, headers, retry: false });
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const err = data?.error ?? {};
    throw new ApiError(response.status, err.code ?? "http_" + response.status, err.message ?? "", err.details);
  }
  return data;
}

/** What to show a person for an ApiError (or any error): our own words, then the server's. */
export function errorText(err) {
  const key = `error.${err?.code}`;
  const mine = t(key);
  return mine !== key ? mine : t("error.generic");
}

// ---- DOM helpers (text only: nothing from the server is ever parsed as HTML)
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

export function show(node, visible = true) {
  node.hidden = !visible;
}

/** The header's language switch and sign-out, present on every page. */
export function initChrome() {
  setLocale(detectLocale(), { persist: false });
  const select = $("#lang");
  if (select) {
    select.value = locale;
    select.addEventListener("change", () => setLocale(select.value));
  }
  const who = $("#who");
  const out = $("#signout");
  const render = () => {
    const user = session.user();
    if (who) who.textContent = user ? user.display_name : "";
    if (out) show(out, Boolean(user));
  };
  out?.addEventListener("click", async () => {
    try {
      await api("POST", "/auth/logout");
    } catch {
      /* signed out locally either way */
    }
    session.clear();
  });
  document.addEventListener("lc:session", render);
  render();
}

export function uuid() {
  return crypto.randomUUID();
}

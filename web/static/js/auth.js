// Inline sign-in / register: a small form that signs the tab in without leaving the page.
import { api, el, errorText, locale, session, t } from "./core.js";

/**
 * Render the form into `container`; resolves with the user once signed in.
 * `role` is what a new account registers as ("buyer" on the viewer, "seller" on the console).
 */
export function authForm(container, { role = "buyer", market = "TW" } = {}) {
  return new Promise((resolve) => {
    let mode = "register";
    const error = el("p", { class: "error", role: "alert" });
    const name = el("input", { name: "display_name", autocomplete: "nickname", maxlength: "50", required: true });
    const email = el("input", { name: "email", type: "email", autocomplete: "email", required: true });
    const password = el("input", { name: "password", type: "password", autocomplete: "new-password", minlength: "8", required: true });
    const nameRow = el("label", {}, el("span", { dataset: { i18n: "auth.name" } }), name);
    const submit = el("button", { type: "submit", class: "primary" });
    const toggle = el("button", { type: "button", class: "link" });
    const title = el("h3");
    const form = el(
      "form",
      { class: "auth", novalidate: true },
      title,
      nameRow,
      el("label", {}, el("span", { dataset: { i18n: "auth.email" } }), email),
      el("label", {}, el("span", { dataset: { i18n: "auth.password" } }), password),
      error,
      submit,
      toggle,
    );
    const render = () => {
      title.textContent = t(mode === "register" ? "auth.register_title" : "auth.signin_title");
      submit.textContent = t(mode === "register" ? "auth.register" : "auth.signin");
      toggle.textContent = t(mode === "register" ? "auth.have_account" : "auth.need_account");
      nameRow.hidden = mode !== "register";
      name.required = mode === "register";
      password.autocomplete = mode === "register" ? "new-password" : "current-password";
      for (const span of form.querySelectorAll("[data-i18n]")) span.textContent = t(span.dataset.i18n);
    };
    toggle.addEventListener("click", () => {
      mode = mode === "register" ? "signin" : "register";
      error.textContent = "";
      render();
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      submit.disabled = true;
      try {
        const tokens =
          mode === "register"
            ? await api("POST", "/auth/register", {
                body: {
                  email: email.value.trim(),
                  password: password.value,
                  display_name: name.value.trim(),
                  role,
                  locale,
                  market,
                },
              })
            : await api("POST", "/auth/login", { body: { email: email.value.trim(), password: password.value } });
        session.save(tokens);
        if (!tokens.user) session.save({ ...tokens, user: await api("GET", "/users/me") });
        container.replaceChildren();
        resolve(session.user());
      } catch (err) {
        error.textContent = errorText(err);
      } finally {
        submit.disabled = false;
      }
    });
    document.addEventListener("lc:locale", render);
    render();
    container.replaceChildren(form);
    (mode === "register" ? name : email).focus();
  });
}

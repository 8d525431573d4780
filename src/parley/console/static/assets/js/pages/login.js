// Sign in with an email and password (POST /v2/api/auth/login); the access token is then
// sent as a Bearer token on every request.

import { login } from "../api.js";
import { clear, errorNotice, field, h } from "../dom.js";

export function render(root, onSignedIn) {
  const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true });
  const password = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const errors = h("div", { "aria-live": "assertive" });
  const submit = h("button", { type: "submit", class: "primary" }, "Sign in");
  const form = h("form", { class: "card login-card", "aria-labelledby": "login-title" },
    h("div", { class: "brand" }, h("img", { src: "/assets/favicon.svg", alt: "" }), h("span", { id: "login-title" }, "Parley")),
    h("p", { class: "tagline" }, "Sign in to your agents, corpora and usage."),
    errors,
    field("Email", email),
    field("Password", password),
    submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    clear(errors);
    try {
      await login(email.value.trim(), password.value);
      onSignedIn();
    } catch (error) {
      errors.append(errorNotice(error));
      submit.disabled = false;
      password.select();
    }
  });
  clear(root, h("main", { id: "main", class: "login-page" }, h("h1", { class: "visually-hidden" }, "Sign in to Parley"), form));
  email.focus();
}

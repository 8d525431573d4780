// The console's entry point: the shell (banner, navigation, main landmark) and a router over
// the URL fragment (#/agents, #/corpora/3 ...). Only "/" is served, so no console route can
// ever hide an API path.

import { api, auth, logout } from "./api.js";
import { announce, clear, errorNotice, h, icon } from "./dom.js";
import * as login from "./pages/login.js";
import * as agents from "./pages/agents.js";
import * as chat from "./pages/chat.js";
import * as agentSettings from "./pages/agent-settings.js";
import * as corpora from "./pages/corpora.js";
import * as usage from "./pages/usage.js";
import * as admin from "./pages/admin.js";

const ROUTES = [
  [/^\/agents$/, agents, "agents"],
  [/^\/agents\/(\d+)\/chat(?:\/(\d+))?$/, chat, "agents"],
  [/^\/agents\/(\d+)\/settings$/, agentSettings, "agents"],
  [/^\/corpora$/, corpora, "corpora"],
  [/^\/corpora\/(\d+)$/, corpora, "corpora"],
  [/^\/usage$/, usage, "usage"],
  [/^\/admin(?:\/([a-z-]+))?$/, admin, "admin"],
];

const app = document.getElementById("app");
const state = { me: null, shell: null, main: null, nav: null, cleanup: null, renderId: 0 };

function navItems(me) {
  return [
    ["#/agents", "Agents", "agents"],
    ["#/corpora", "Corpora", "corpora"],
    ["#/usage", "Usage", "usage"],
    ["#/admin", me.is_superuser ? "Admin" : "API keys", "admin"],
  ];
}

function buildShell(me) {
  const nav = h("nav", { class: "sidenav", "aria-label": "Main" },
    h("ul", {}, navItems(me).map(([href, label, key]) =>
      h("li", {}, h("a", { href, dataset: { section: key } }, icon(key), label)))));
  const signOut = h("button", { type: "button", class: "small", onclick: async () => {
    await logout().catch(() => {});
    state.me = null;
    location.hash = "#/login";
  } }, "Sign out");
  const banner = h("header", { class: "topbar" },
    h("a", { class: "brand", href: "#/agents" }, h("img", { src: "/assets/favicon.svg", alt: "" }), "Parley"),
    h("div", { class: "who" },
      h("span", { class: "email", title: me.email }, me.email),
      me.is_superuser ? h("span", { class: "badge accent" }, "Admin") : null,
      signOut));
  const main = h("main", { id: "main", tabindex: "-1" });
  state.shell = h("div", { class: "shell" }, banner, nav, main);
  state.main = main;
  state.nav = nav;
  clear(app, state.shell);
}

function parseRoute(path) {
  for (const [pattern, page, section] of ROUTES) {
    const match = pattern.exec(path);
    if (match) return { page, section, params: match.slice(1) };
  }
  return null;
}

async function loadMe() {
  if (state.me) return state.me;
  state.me = await api.get("/v2/api/auth/me");
  return state.me;
}

async function route() {
  const renderId = ++state.renderId;
  if (state.cleanup) {
    state.cleanup();
    state.cleanup = null;
  }
  // A dialog belongs to the page that opened it.
  for (const dialog of document.querySelectorAll("dialog[open]")) dialog.close();
  const hash = location.hash || "#/agents";
  if (!hash.startsWith("#/")) return; // an in-page anchor such as the skip link
  const path = hash.slice(1);

  if (!auth.get()) {
    state.me = null;
    state.shell = null;
    document.title = "Sign in · Parley";
    login.render(app, () => {
      const target = path === "/login" ? "#/agents" : hash;
      if (location.hash === target) route();
      else location.hash = target; // routes on hashchange
    });
    return;
  }
  if (path === "/login") {
    location.replace("#/agents");
    return;
  }
  let me;
  try {
    me = await loadMe();
  } catch (error) {
    if (!auth.get()) return route();
    clear(app, h("main", { id: "main", class: "noscript" }, errorNotice(error)));
    return;
  }
  if (renderId !== state.renderId) return;
  if (!state.shell || !state.shell.isConnected) buildShell(me);

  const found = parseRoute(path);
  for (const link of state.nav.querySelectorAll("a")) {
    if (found && link.dataset.section === found.section) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const main = state.main;
  main.className = "";
  if (!found) {
    clear(main, h("h1", { tabindex: "-1" }, "Page not found"), h("p", {}, h("a", { href: "#/agents" }, "Go to your agents")));
    focusHeading(main);
    return;
  }
  clear(main);
  main.setAttribute("aria-busy", "true");
  try {
    // A page renders into main and may return a cleanup function (timers, open streams).
    const cleanup = await found.page.render(main, found.params, { me });
    if (renderId !== state.renderId) {
      if (typeof cleanup === "function") cleanup();
      return;
    }
    state.cleanup = typeof cleanup === "function" ? cleanup : null;
  } catch (error) {
    if (renderId !== state.renderId) return;
    clear(main, h("h1", { tabindex: "-1" }, "Something went wrong"), errorNotice(error));
  }
  main.removeAttribute("aria-busy");
  const heading = main.querySelector("h1");
  document.title = `${heading ? heading.textContent : "Parley"} · Parley`;
  focusHeading(main);
}

function focusHeading(main) {
  // Move focus to the new page's heading so keyboard and screen-reader users start there,
  // unless they already moved into the page while it was loading.
  const heading = main.querySelector("h1");
  const active = document.activeElement;
  if (active && active !== main && active !== document.body && main.contains(active)) return;
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
    announce(heading.textContent);
  }
}

document.getElementById("skip-link").addEventListener("click", (event) => {
  event.preventDefault();
  const main = document.getElementById("main");
  if (main) main.focus();
});
window.addEventListener("hashchange", route);
window.addEventListener("parley:signed-out", () => {
  state.me = null;
  state.shell = null;
  route();
});
route();

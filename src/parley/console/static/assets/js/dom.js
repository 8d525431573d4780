// Small DOM helpers. Text always goes in as text nodes, never as HTML, so nothing a user or a
// document wrote can run as markup.

const SVG_NS = "http://www.w3.org/2000/svg";

function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

function setProps(el, props) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2).toLowerCase(), value);
    } else if (key === "class") {
      el.setAttribute("class", Array.isArray(value) ? value.filter(Boolean).join(" ") : value);
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else if (key === "value" || key === "checked" || key === "selected") {
      el[key] = value;
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
}

/** h("button", {class: "primary", onclick}, "Save") */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  setProps(el, props);
  append(el, children);
  return el;
}

/** The same for SVG elements. */
export function s(tag, props, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  setProps(el, props);
  append(el, children);
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

let counter = 0;
export function uid(prefix = "id") {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** A labelled form control: {label, hint, control} → the wrapper; the control gets an id. */
export function field(label, control, hint) {
  const id = control.id || uid("f");
  control.id = id;
  const hintEl = hint ? h("span", { class: "hint", id: `${id}-hint` }, hint) : null;
  if (hintEl) control.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hintEl);
}

export function checkbox(label, props = {}) {
  const input = h("input", { type: "checkbox", id: uid("c"), ...props });
  return h("label", { class: "check", for: input.id }, input, label);
}

export function select(options, props = {}) {
  const el = h("select", props);
  for (const option of options) {
    const [value, text] = Array.isArray(option) ? option : [option, option];
    el.append(h("option", { value: String(value) }, text));
  }
  if (props.value !== undefined) el.value = String(props.value);
  return el;
}

// ---- announcements ---------------------------------------------------------------------

export function announce(message) {
  const region = document.getElementById("announcer");
  if (!region) return;
  region.textContent = "";
  // A fresh text node after a tick, so screen readers announce repeated messages too.
  setTimeout(() => { region.textContent = message; }, 50);
}

export function toast(message, kind = "info") {
  const box = document.getElementById("toasts");
  const el = h("div", { class: ["toast", kind === "error" && "error"], role: kind === "error" ? "alert" : null }, message);
  box.append(el);
  if (kind !== "error") announce(message);
  setTimeout(() => el.remove(), kind === "error" ? 8000 : 4000);
}

/** Report an API error to the user in the place it happened. */
export function errorNotice(error) {
  return h("div", { class: "notice error", role: "alert" }, error?.message || String(error));
}

// ---- dialogs -------------------------------------------------------------------------------

/** A modal <dialog> (focus moves into it, Escape closes it, focus returns where it was). */
export function openDialog({ title, body, actions = [], wide = false, onClose }) {
  const opener = document.activeElement;
  const titleId = uid("dlg");
  const dialog = h("dialog", { "aria-labelledby": titleId, class: wide ? "wide" : null },
    h("div", { class: "dialog-body" }, h("h2", { id: titleId }, title), body,
      actions.length ? h("div", { class: "actions" }, actions) : null));
  dialog.addEventListener("close", () => {
    dialog.remove();
    if (onClose) onClose(dialog.returnValue);
    if (opener && opener.isConnected) opener.focus();
  });
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

/** A form in a dialog; onSubmit(formData) may throw to keep the dialog open with the error. */
export function formDialog({ title, fields, submitLabel = "Save", onSubmit, wide = false }) {
  const errorBox = h("div");
  const submit = h("button", { type: "submit", class: "primary" }, submitLabel);
  const cancel = h("button", { type: "button", onclick: () => dialog.close("cancel") }, "Cancel");
  const form = h("form", { novalidate: false }, errorBox, fields, h("div", { class: "actions" }, cancel, submit));
  const dialog = openDialog({ title, body: form, wide });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    clear(errorBox);
    try {
      await onSubmit(new FormData(form), form);
      dialog.close("ok");
    } catch (error) {
      errorBox.append(errorNotice(error));
      submit.disabled = false;
    }
  });
  const first = form.querySelector("input, select, textarea");
  if (first) first.focus();
  return dialog;
}

export function confirmDialog(message, { confirmLabel = "Delete", danger = true } = {}) {
  return new Promise((resolve) => {
    let answer = false;
    const yes = h("button", { type: "button", class: danger ? "danger" : "primary", onclick: () => { answer = true; dialog.close(); } }, confirmLabel);
    const no = h("button", { type: "button", onclick: () => dialog.close() }, "Cancel");
    const dialog = openDialog({ title: "Please confirm", body: h("p", {}, message), actions: [no, yes], onClose: () => resolve(answer) });
    no.focus();
  });
}

// ---- formatting ------------------------------------------------------------------------------

const numberFormat = new Intl.NumberFormat(undefined);
export function fmtNumber(value) {
  return value === null || value === undefined ? "—" : numberFormat.format(value);
}

export function fmtCompact(value) {
  if (value === null || value === undefined) return "—";
  return new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 }).format(value);
}

export function fmtCost(value) {
  const n = Number(value || 0);
  if (n === 0) return "$0";
  if (n < 0.01) return `$${n.toPrecision(2)}`;
  return `$${n.toFixed(n < 1 ? 3 : 2)}`;
}

/** "1 user", "3 users" */
export function plural(count, word, many = `${word}s`) {
  return `${fmtNumber(count)} ${count === 1 ? word : many}`;
}

export function fmtMs(value) {
  if (value === null || value === undefined) return "—";
  return value >= 1000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
}

function fmtDate(iso, withTime = true) {
  if (!iso) return "—";
  const date = new Date(iso);
  return withTime ? date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" })
    : date.toLocaleDateString(undefined, { dateStyle: "medium" });
}

export function timeEl(iso, withTime = true) {
  return iso ? h("time", { datetime: iso }, fmtDate(iso, withTime)) : "—";
}

/** YYYY-MM-DD of a Date in UTC (the dashboards count UTC days). */
export function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

export function pageHead(title, subtitle, ...actions) {
  return h("div", { class: "page-head" },
    h("div", {}, h("h1", { tabindex: "-1" }, title), subtitle ? h("p", { class: "sub" }, subtitle) : null),
    actions.length ? h("div", { class: "actions" }, actions) : null);
}

/** A table from column definitions: [{label, cell(row), num}] */
export function table(columns, rows, { caption, empty = "Nothing here yet." } = {}) {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return h("div", { class: "table-wrap" },
    h("table", {},
      caption ? h("caption", {}, caption) : null,
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: [c.num && "num", c.class] }, c.label)))),
      h("tbody", {}, rows.map((row) => h("tr", {}, columns.map((c) => h("td", { class: [c.num && "num", c.class] }, c.cell(row))))))));
}

export function loading(text = "Loading…") {
  return h("p", { class: "loading", role: "status" }, text);
}

export function icon(name) {
  const paths = {
    agents: "M12 3a4 4 0 1 1 0 8 4 4 0 0 1 0-8zm-7 17c0-3.3 3.1-6 7-6s7 2.7 7 6",
    corpora: "M4 5h6l2 2h8v12H4z",
    usage: "M4 20V10m6 10V4m6 16v-8m4 8H2",
    admin: "M12 2l8 4v6c0 5-3.5 8.5-8 10-4.5-1.5-8-5-8-10V6z",
    up: "M7 10v11H3V10zm0 0l4-8a2 2 0 0 1 3 2l-1 5h6a2 2 0 0 1 2 2.3l-1.4 7A2 2 0 0 1 17.6 21H7",
    down: "M17 14V3h4v11zm0 0l-4 8a2 2 0 0 1-3-2l1-5H5a2 2 0 0 1-2-2.3l1.4-7A2 2 0 0 1 6.4 3H17",
    comment: "M4 5h16v11H9l-5 4z",
    pin: "M9 3h6l-1 6 4 4H6l4-4zm3 10v8",
  };
  return s("svg", { viewBox: "0 0 24 24", "aria-hidden": "true", fill: "none", stroke: "currentColor", "stroke-width": "2", "stroke-linecap": "round", "stroke-linejoin": "round" },
    s("path", { d: paths[name] }));
}

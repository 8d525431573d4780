// Administration: users, teams, projects, API keys (the secret is shown once), LLM configs and
// feature flags. Members who are not organisation admins see their own API keys only.

import { api } from "../api.js";
import {
  announce, checkbox, clear, confirmDialog, errorNotice, field, formDialog, h, loading, openDialog,
  pageHead, plural, select, table, timeEl, toast, uid,
} from "../dom.js";

const TABS = [
  ["users", "Users", users, true],
  ["teams", "Teams", teams, true],
  ["projects", "Projects", projects, true],
  ["keys", "API keys", apiKeys, false],
  ["llm", "LLM configs", llmConfigs, true],
  ["flags", "Feature flags", featureFlags, true],
];

export async function render(main, [tabParam], { me }) {
  const tabs = TABS.filter(([, , , adminOnly]) => me.is_superuser || !adminOnly);
  const current = tabs.find(([key]) => key === tabParam) || tabs[0];
  const [key, label, show] = current;
  const box = h("div", {}, loading());
  main.append(pageHead(me.is_superuser ? `Admin: ${label}` : label,
    me.is_superuser ? "Manage the organisation's people, access and models." : "Keys for calling the API from scripts and other tools."));
  if (tabs.length > 1) {
    main.append(h("nav", { class: "subnav", "aria-label": "Admin sections" }, tabs.map(([k, text]) =>
      h("a", { href: `#/admin/${k}`, "aria-current": k === key ? "page" : null }, text))));
  }
  main.append(box);
  const reload = () => show(box, reload, me).catch((error) => clear(box, errorNotice(error)));
  await reload();
}

/** A button that runs an action, reports success and reloads the tab. */
function action(label, run, { done, reload, confirm, className = "small", aria } = {}) {
  return h("button", {
    type: "button", class: className, "aria-label": aria,
    onclick: async () => {
      if (confirm && !(await confirmDialog(confirm))) return;
      try {
        await run();
        if (done) toast(done);
        await reload();
      } catch (error) {
        toast(error.message, "error");
      }
    },
  }, label);
}

function userName(u) {
  return [u.first_name, u.last_name].filter(Boolean).join(" ") || "—";
}

// ---- users ------------------------------------------------------------------------------------

async function users(box, reload, me) {
  const data = await api.get("/v2/api/user?items_per_page=500");
  const add = h("button", { type: "button", class: "primary", onclick: () => formDialog({
    title: "Add a user",
    submitLabel: "Add user",
    fields: [
      field("Email", h("input", { type: "email", name: "email", required: true, autocomplete: "off" })),
      h("div", { class: "row" },
        field("First name", h("input", { name: "first_name", required: true })),
        field("Last name", h("input", { name: "last_name" }))),
      field("Password", h("input", { type: "password", name: "password", minlength: "8", autocomplete: "new-password" }),
        "At least 8 characters. Leave empty to set one later (the user cannot sign in until then)."),
      checkbox("Organisation administrator", { name: "is_superuser" }),
    ],
    onSubmit: async (form) => {
      const body = {
        email: form.get("email").trim(), first_name: form.get("first_name").trim(), last_name: form.get("last_name").trim(),
        is_superuser: form.get("is_superuser") === "on",
      };
      if (form.get("password")) body.password = form.get("password");
      const user = await api.post("/v2/api/user", body);
      toast(`Added ${user.email}`);
      await reload();
    },
  }) }, "Add user");
  clear(box,
    h("div", { class: "actions" }, add),
    h("br"),
    table([
      { label: "Email", cell: (u) => u.email },
      { label: "Name", class: "hide-sm", cell: userName },
      { label: "Role", cell: (u) => h("span", { class: `badge ${u.is_superuser ? "accent" : ""}` }, u.is_superuser ? "Admin" : "Member") },
      { label: "Status", cell: (u) => h("span", { class: `badge ${u.is_active ? "ok" : ""}` }, u.is_active ? "Active" : "Inactive") },
      { label: "Last sign-in", class: "hide-sm", cell: (u) => timeEl(u.last_login) },
      { label: "Actions", cell: (u) => u.id === me.id ? h("span", { class: "muted small-text" }, "You") : h("div", { class: "actions" },
        action(u.is_superuser ? "Make member" : "Make admin", () => api.put(`/v2/api/user/${u.id}`, { is_superuser: !u.is_superuser }),
          { done: `Updated ${u.email}`, reload, aria: `${u.is_superuser ? "Make member" : "Make admin"}: ${u.email}` }),
        action(u.is_active ? "Deactivate" : "Activate", () => api.put(`/v2/api/user/${u.id}`, { is_active: !u.is_active }),
          { done: `Updated ${u.email}`, reload, aria: `${u.is_active ? "Deactivate" : "Activate"} ${u.email}` }),
        action("Delete", () => api.del(`/v2/api/user/${u.id}`),
          { done: `Deleted ${u.email}`, reload, confirm: `Delete ${u.email}? Their sign-ins and API keys stop working at once.`, className: "small danger", aria: `Delete ${u.email}` })) },
    ], data.users, { caption: plural(data.count, "user") }));
}

// ---- teams ------------------------------------------------------------------------------------

async function teams(box, reload) {
  const [data, people] = await Promise.all([api.get("/v2/api/team?items_per_page=500"), api.get("/v2/api/user?items_per_page=500")]);
  const add = h("button", { type: "button", class: "primary", onclick: () => formDialog({
    title: "New team",
    submitLabel: "Create team",
    fields: [field("Name", h("input", { name: "team_name", required: true, maxlength: "200" })), field("Description", h("textarea", { name: "description", rows: "2" }))],
    onSubmit: async (form) => {
      await api.post("/v2/api/team", { team_name: form.get("team_name").trim(), description: form.get("description") });
      toast("Team created");
      await reload();
    },
  }) }, "New team");

  const teamCard = (team) => {
    const members = h("div", {}, loading());
    const loadMembers = async () => {
      const list = await api.get(`/v2/api/team/${team.id}/user`);
      const inTeam = new Set(list.map((m) => m.id));
      const candidates = people.users.filter((u) => !inTeam.has(u.id));
      const who = select(candidates.map((u) => [u.id, u.email]));
      const role = select(["Member", "Admin", "Owner"]);
      const addButton = h("button", { type: "submit" }, "Add member");
      const form = h("form", { class: "row" }, field("User", who), field("Role", role), h("div", { class: "field" }, addButton));
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        try {
          await api.post(`/v2/api/team/${team.id}/user`, { users: [{ user_id: Number(who.value), role: role.value }] });
          announce("Member added.");
          await loadMembers();
        } catch (error) {
          toast(error.message, "error");
        }
      });
      clear(members,
        h("ul", { class: "list-plain" }, list.map((m) => h("li", {},
          h("span", { class: "grow" }, m.email), h("span", { class: "badge" }, m.role),
          action("Remove", () => api.del(`/v2/api/team/${team.id}/user`, { user_ids: [m.id] }),
            { done: `Removed ${m.email}`, reload: loadMembers, className: "small danger", aria: `Remove ${m.email} from ${team.team_name}` })))),
        candidates.length ? form : null);
    };
    loadMembers().catch((error) => clear(members, errorNotice(error)));
    return h("section", { class: "card", "aria-labelledby": `team-${team.id}` },
      h("div", { class: "section-title" }, h("h2", { id: `team-${team.id}` }, team.team_name), h("span", { class: "spacer" }),
        action("Delete team", () => api.del(`/v2/api/team/${team.id}`),
          { done: "Team deleted", reload, confirm: `Delete the team ${team.team_name}?`, className: "small danger", aria: `Delete team ${team.team_name}` })),
      team.description ? h("p", { class: "muted" }, team.description) : null,
      members);
  };
  clear(box, h("div", { class: "actions" }, add), h("br"),
    data.teams.length ? data.teams.map(teamCard) : h("p", { class: "empty" }, "No teams yet. Agents live in projects, and projects belong to teams: start with a team."));
}

// ---- projects ---------------------------------------------------------------------------------

async function projects(box, reload) {
  const [data, teamList] = await Promise.all([api.get("/v2/api/project?items_per_page=500"), api.get("/v2/api/team?items_per_page=500")]);
  const add = h("button", { type: "button", class: "primary", onclick: () => {
    if (!teamList.teams.length) {
      toast("Create a team first.", "error");
      return;
    }
    formDialog({
      title: "New project",
      submitLabel: "Create project",
      fields: [
        field("Name", h("input", { name: "project_name", required: true, maxlength: "200" })),
        field("Team", select(teamList.teams.map((t) => [t.id, t.team_name]), { name: "team_id" })),
        field("Description", h("textarea", { name: "description", rows: "2" })),
      ],
      onSubmit: async (form) => {
        await api.post("/v2/api/project", { project_name: form.get("project_name").trim(), team_id: Number(form.get("team_id")), description: form.get("description") });
        toast("Project created");
        await reload();
      },
    });
  } }, "New project");
  clear(box, h("div", { class: "actions" }, add), h("br"), table([
    { label: "Project", cell: (p) => p.project_name },
    { label: "Team", cell: (p) => p.team?.team_name ?? "—" },
    { label: "Description", class: "hide-sm", cell: (p) => p.description || "—" },
    { label: "Created", class: "hide-sm", cell: (p) => timeEl(p.created_on, false) },
    { label: "Actions", cell: (p) => action("Delete", () => api.del(`/v2/api/project/${p.id}`),
      { done: "Project deleted", reload, confirm: `Delete the project ${p.project_name}?`, className: "small danger", aria: `Delete project ${p.project_name}` }) },
  ], data.projects, { caption: plural(data.count, "project"), empty: "No projects yet." }));
}

// ---- API keys -----------------------------------------------------------------------------------

async function apiKeys(box, reload, me) {
  const keys = await api.get("/v2/api/api-key");
  const add = h("button", { type: "button", class: "primary", onclick: () => formDialog({
    title: "Create an API key",
    submitLabel: "Create key",
    fields: [
      field("Name", h("input", { name: "name", maxlength: "200", placeholder: "CI pipeline" })),
      field("Scope", select([["all", "Everything this user may do"], ["read_only", "Read only (GET requests)"]], { name: "scope" })),
    ],
    onSubmit: async (form) => {
      const key = await api.post("/v2/api/api-key", { name: form.get("name").trim(), scope: form.get("scope") });
      await reload();
      showSecret(key);
    },
  }) }, "Create API key");
  clear(box, h("div", { class: "actions" }, add), h("br"), table([
    { label: "Name", cell: (k) => k.name || h("span", { class: "muted" }, "(no name)") },
    { label: "Key", cell: (k) => h("code", {}, `${k.prefix}…`) },
    { label: "Scope", cell: (k) => k.scope.replace("_", " ") },
    { label: "Owner", class: "hide-sm", cell: (k) => (k.user === me.id ? "You" : k.created_by) },
    { label: "Last used", class: "hide-sm", cell: (k) => timeEl(k.last_used_on) },
    { label: "Status", cell: (k) => h("span", { class: `badge ${k.is_active ? "ok" : ""}` }, k.is_active ? "Active" : "Revoked") },
    { label: "Actions", cell: (k) => k.is_active ? action("Revoke", () => api.del(`/v2/api/api-key/${k.id}`),
      { done: "Key revoked", reload, confirm: `Revoke ${k.name || "this key"}? Anything using it stops working at once.`, className: "small danger", aria: `Revoke key ${k.name || k.prefix}` }) : "" },
  ], keys, { caption: plural(keys.length, "key"), empty: "No API keys yet." }));
}

function showSecret(key) {
  const secretId = uid("secret");
  const copy = h("button", { type: "button", onclick: async () => {
    try {
      await navigator.clipboard.writeText(key.secret);
      toast("Copied to the clipboard");
    } catch {
      document.getElementById(secretId).focus();
      toast("Select the key and copy it.", "error");
    }
  } }, "Copy");
  // Forget the secret as the dialog closes, not when its close event is handled later.
  const close = h("button", { type: "button", class: "primary", onclick: () => {
    document.getElementById(secretId).textContent = "";
    dialog.close();
  } }, "I have saved it");
  const dialog = openDialog({
    title: "Your new API key",
    body: h("div", {},
      h("div", { class: "notice warn" }, "Copy this key now. It is shown only once and cannot be recovered."),
      h("div", { class: "secret", id: secretId, tabindex: "0", "aria-label": "API key secret" }, key.secret),
      h("p", { class: "muted small-text" }, "Send it as ", h("code", {}, "Ocp-Apim-Subscription-Key"), " or as a Bearer token.")),
    actions: [copy, close],
  });
  close.focus();
}

// ---- LLM configs --------------------------------------------------------------------------------

const PROVIDERS = [["openai", "OpenAI-compatible"], ["azure", "Azure OpenAI"], ["llamacpp", "llama.cpp (local)"], ["offline", "Offline answerer"]];

function configDialog(config, reload) {
  const value = (key, fallback = "") => (config ? config[key] ?? fallback : fallback);
  const fields = [
    h("div", { class: "row" },
      field("Name", h("input", { name: "name", required: true, maxlength: "200", value: value("name") })),
      field("Provider", select(PROVIDERS, { name: "provider", value: value("provider", "openai") }))),
    h("div", { class: "row" },
      field("Model", h("input", { name: "model", required: true, maxlength: "200", value: value("model"), placeholder: "gpt-4o-mini" })),
      field("Endpoint", h("input", { name: "endpoint", type: "url", value: value("endpoint"), placeholder: "https://api.openai.com/v1" }))),
    field("API key", h("input", { name: "api_key", type: "password", autocomplete: "off" }),
      config?.api_key_set ? "A key is stored. Leave empty to keep it." : "Stored encrypted; never shown again."),
    h("div", { class: "row" },
      field("Input price / 1M tokens", h("input", { name: "price_input_per_million", inputmode: "decimal", value: value("price_input_per_million", "0") })),
      field("Output price / 1M tokens", h("input", { name: "price_output_per_million", inputmode: "decimal", value: value("price_output_per_million", "0") }))),
    h("div", { class: "row" },
      field("Context window", h("input", { name: "context_window", type: "number", min: "1", value: value("context_window", 8192) })),
      field("Max output tokens", h("input", { name: "max_output_tokens", type: "number", min: "1", value: value("max_output_tokens", 1024) })),
      field("Temperature", h("input", { name: "temperature", type: "number", min: "0", max: "2", step: "0.1", value: value("temperature", 0) }))),
    checkbox("Active", { name: "is_active", checked: config ? config.is_active : true }),
    checkbox("Organisation default", { name: "is_default", checked: config ? config.is_default : false }),
  ];
  formDialog({
    title: config ? `Edit ${config.name}` : "New LLM config",
    submitLabel: config ? "Save" : "Create config",
    wide: true,
    fields,
    onSubmit: async (form) => {
      const body = {
        name: form.get("name").trim(),
        provider: form.get("provider"),
        model: form.get("model").trim(),
        price_input_per_million: form.get("price_input_per_million") || "0",
        price_output_per_million: form.get("price_output_per_million") || "0",
        context_window: Number(form.get("context_window")),
        max_output_tokens: Number(form.get("max_output_tokens")),
        temperature: Number(form.get("temperature")),
        is_active: form.get("is_active") === "on",
        is_default: form.get("is_default") === "on",
      };
      if (form.get("endpoint")) body.endpoint = form.get("endpoint").trim();
      if (form.get("api_key")) body.api_key = form.get("api_key");
      if (config) await api.put(`/v2/api/llm-config/${config.id}`, body);
      else await api.post("/v2/api/llm-config", body);
      toast(config ? "LLM config saved" : "LLM config created");
      await reload();
    },
  });
}

async function llmConfigs(box, reload) {
  const configs = await api.get("/v2/api/llm-config");
  clear(box,
    h("p", { class: "muted" }, "Without a config, agents answer with Parley's built-in offline answerer. Agents use their own config, else the organisation default."),
    h("div", { class: "actions" }, h("button", { type: "button", class: "primary", onclick: () => configDialog(null, reload) }, "New LLM config")),
    h("br"),
    table([
      { label: "Name", cell: (c) => h("span", {}, c.name, c.is_default ? [" ", h("span", { class: "badge accent" }, "default")] : null) },
      { label: "Provider", cell: (c) => c.provider },
      { label: "Model", cell: (c) => c.model },
      { label: "Prices in / out", class: "hide-sm", cell: (c) => `${Number(c.price_input_per_million)} / ${Number(c.price_output_per_million)}` },
      { label: "Key", class: "hide-sm", cell: (c) => (c.api_key_set ? "Stored" : "—") },
      { label: "Status", cell: (c) => h("span", { class: `badge ${c.is_active ? "ok" : ""}` }, c.is_active ? "Active" : "Inactive") },
      { label: "Actions", cell: (c) => h("div", { class: "actions" },
        h("button", { type: "button", class: "small", "aria-label": `Edit ${c.name}`, onclick: () => configDialog(c, reload) }, "Edit"),
        action("Delete", () => api.del(`/v2/api/llm-config/${c.id}`),
          { done: "LLM config deleted", reload, confirm: `Delete ${c.name}? Agents using it switch to the organisation default.`, className: "small danger", aria: `Delete ${c.name}` })) },
    ], configs, { caption: plural(configs.length, "LLM config"), empty: "No LLM configs yet." }));
}

// ---- feature flags ------------------------------------------------------------------------------

async function featureFlags(box, reload) {
  const flags = await api.get("/v2/api/feature-flag");
  clear(box, h("ul", { class: "list-plain card" }, flags.map((flag) => {
    const toggle = h("input", { type: "checkbox", role: "switch", checked: flag.is_enabled, id: uid("flag") });
    toggle.addEventListener("change", async () => {
      try {
        await api.put(`/v2/api/feature-flag/${flag.name}`, { is_enabled: toggle.checked });
        announce(`${flag.name} ${toggle.checked ? "on" : "off"}.`);
        await reload();
      } catch (error) {
        toggle.checked = !toggle.checked;
        toast(error.message, "error");
      }
    });
    return h("li", {},
      h("label", { class: "switch grow", for: toggle.id }, toggle,
        h("span", {}, h("strong", { class: "mono" }, flag.name), h("br"), h("span", { class: "muted small-text" }, flag.description))),
      flag.is_overridden ? [h("span", { class: "badge accent" }, "Set for this organisation"),
        action("Reset", () => api.del(`/v2/api/feature-flag/${flag.name}`), { done: `${flag.name} reset to the default`, reload, aria: `Reset ${flag.name}` })]
        : h("span", { class: "badge" }, "Default"));
  })));
}

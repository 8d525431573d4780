// Agents: starred, recently used and all the agents the caller can see; star, open, create.

import { api, query } from "../api.js";
import { clear, errorNotice, field, formDialog, h, loading, pageHead, select, toast } from "../dom.js";

const PAGE_SIZE = 24;

export async function render(main, _params, { me }) {
  const state = { page: 1, search: "", starred: new Set() };
  const starredBox = h("div");
  const recentBox = h("div");
  const allBox = h("div", {}, loading());
  const search = h("input", { type: "search", class: "search", placeholder: "Search by name" });
  const newButton = h("button", { type: "button", class: "primary", onclick: () => createAgent(me) }, "New agent");

  main.append(
    pageHead("Agents", "Chat with an agent, or change what it knows and how it answers.", newButton),
    starredBox, recentBox,
    h("div", { class: "section-title" }, h("h2", { id: "all-agents" }, "All agents")),
    h("div", { class: "field search" }, h("label", { for: "agent-search", class: "visually-hidden" }, "Search agents"), search),
    allBox);
  search.id = "agent-search";

  const card = (agent) => {
    const starred = state.starred.has(agent.id);
    const star = h("button", {
      type: "button", class: "star", "aria-pressed": String(starred),
      "aria-label": `Star ${agent.agent_name}`, title: starred ? "Unstar" : "Star",
      onclick: async () => {
        const on = star.getAttribute("aria-pressed") !== "true";
        try {
          if (on) await api.post(`/v2/api/agent/${agent.id}/starred`);
          else await api.del(`/v2/api/agent/${agent.id}/starred`);
          toast(on ? `Starred ${agent.agent_name}` : `Removed the star from ${agent.agent_name}`);
          await refreshMarks();
        } catch (error) {
          toast(error.message, "error");
        }
      },
    }, starred ? "★" : "☆");
    return h("article", { class: "card agent-card" },
      h("div", { class: "top" }, h("h3", {}, h("a", { href: `#/agents/${agent.id}/chat` }, agent.agent_name)), star),
      h("p", { class: "desc" }, agent.domain || "No description."),
      h("div", { class: "tags" },
        h("span", { class: "badge" }, agent.agent_type?.name || "Agent"),
        h("span", { class: "badge" }, agent.access)),
      h("div", { class: "actions" },
        h("a", { class: "button primary small", href: `#/agents/${agent.id}/chat` }, "Chat"),
        h("a", { class: "button small", href: `#/agents/${agent.id}/settings` }, "Settings")));
  };

  const section = (title, items) => items.length
    ? [h("div", { class: "section-title" }, h("h2", {}, title)), h("div", { class: "grid" }, items.map(card))]
    : [];

  async function refreshMarks() {
    const [starred, recent] = await Promise.all([
      api.get("/v2/api/agent/starred"), api.get("/v2/api/agent/recent")]);
    state.starred = new Set(starred.map((s) => s.agent.id));
    clear(starredBox, section("Starred", starred.map((s) => s.agent)));
    clear(recentBox, section("Recently used", recent.slice(0, 6).map((r) => r.agent)));
    await loadAll();
  }

  async function loadAll() {
    try {
      const data = await api.get(`/v2/api/agent${query({ page: state.page, items_per_page: PAGE_SIZE, query: state.search })}`);
      const pager = data.num_pages > 1 ? h("div", { class: "pager" },
        h("button", { type: "button", disabled: state.page <= 1, onclick: () => { state.page -= 1; loadAll(); } }, "Previous"),
        h("span", {}, `Page ${data.current_page} of ${data.num_pages}`),
        h("button", { type: "button", disabled: state.page >= data.num_pages, onclick: () => { state.page += 1; loadAll(); } }, "Next")) : null;
      clear(allBox, data.agents.length
        ? [h("div", { class: "grid", "aria-labelledby": "all-agents" }, data.agents.map(card)), pager]
        : h("p", { class: "empty" }, state.search ? "No agent matches this search." : "No agents yet. Create the first one."));
    } catch (error) {
      clear(allBox, errorNotice(error));
    }
  }

  let timer;
  search.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => { state.search = search.value.trim(); state.page = 1; loadAll(); }, 250);
  });
  await refreshMarks();
  return () => clearTimeout(timer);
}

async function createAgent(me) {
  let projects;
  try {
    projects = (await api.get("/v2/api/project?items_per_page=500")).projects;
  } catch (error) {
    toast(error.message, "error");
    return;
  }
  if (!projects.length) {
    toast(me.is_superuser ? "Create a team and a project first (Admin → Projects)." : "Ask an administrator to add you to a project first.", "error");
    return;
  }
  const name = h("input", { name: "name", required: true, maxlength: "200" });
  formDialog({
    title: "New agent",
    submitLabel: "Create agent",
    fields: [
      field("Name", name),
      field("Project", select(projects.map((p) => [p.id, `${p.project_name} (${p.team?.team_name ?? "team"})`]), { name: "project_id" })),
      field("Description", h("textarea", { name: "description", rows: "3" }), "What the agent is for; shown on its card."),
      field("Who can use it", select([["Only me", "Only me"], ["Only team", "The project's team"], ["Public", "Everyone in the organisation"]], { name: "access" })),
    ],
    onSubmit: async (form) => {
      const agent = await api.post("/v2/api/agent", {
        name: form.get("name").trim(),
        project_id: Number(form.get("project_id")),
        description: form.get("description"),
        access: form.get("access"),
      });
      toast(`Created ${agent.agent_name}`);
      location.hash = `#/agents/${agent.id}/settings`;
    },
  });
}

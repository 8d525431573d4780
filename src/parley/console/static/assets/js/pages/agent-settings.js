// Agent settings: instructions, corpora, LLM config, tools, access (level and sharing) and
// conversation starters. Each section saves on its own.

import { api } from "../api.js";
import {
  announce, clear, confirmDialog, errorNotice, field, h, loading, pageHead, select, toast, uid,
} from "../dom.js";

const SECTIONS = [
  ["general", "Instructions"],
  ["corpora", "Corpora"],
  ["model", "Model"],
  ["tools", "Tools"],
  ["access", "Access"],
  ["starters", "Conversation starters"],
];

export async function render(main, [agentId], { me }) {
  let agent = await api.get(`/v2/api/agent/${agentId}`);
  const ownerId = agent.user?.id ?? agent.user;
  const boxes = Object.fromEntries(SECTIONS.map(([key]) => [key, h("div", {}, loading())]));
  const head = pageHead(`${agent.agent_name}: settings`, null,
    h("a", { class: "button primary", href: `#/agents/${agentId}/chat` }, "Open chat"));
  main.append(
    h("p", { class: "small-text" }, h("a", { href: "#/agents" }, "← All agents")),
    head,
    // Editors also include users it is shared with for editing and the team's managers; the
    // server decides, this only warns the others before they try.
    h("div", {}, ownerId === me.id || me.is_superuser ? null
      : h("p", { class: "notice warn" }, "Only this agent's owner, its editors and its team's managers can change these settings.")),
    h("div", { class: "settings-layout" },
      h("nav", { class: "toc", "aria-label": "Settings sections" },
        h("ul", {}, SECTIONS.map(([key, label]) => h("li", {}, h("a", {
          href: `#section-${key}`,
          onclick: (event) => {
            // Jump within the page without touching the route in the URL fragment.
            event.preventDefault();
            const target = document.getElementById(`section-${key}`);
            target.scrollIntoView({ behavior: "smooth", block: "start" });
            target.querySelector("h2").focus({ preventScroll: true });
          },
        }, label))))),
      h("div", {}, SECTIONS.map(([key, label]) => h("section", { class: "card", id: `section-${key}`, "aria-labelledby": `title-${key}` },
        h("h2", { id: `title-${key}`, tabindex: "-1" }, label), boxes[key])))));

  const setAgent = (updated) => {
    agent = updated;
    head.querySelector("h1").textContent = `${agent.agent_name}: settings`;
  };
  const loaders = {
    general: () => general(boxes.general, agent, setAgent),
    corpora: () => corpora(boxes.corpora, agentId),
    model: () => model(boxes.model, agentId),
    tools: () => tools(boxes.tools, agentId),
    access: () => access(boxes.access, agent, setAgent),
    starters: () => starters(boxes.starters, agentId),
  };
  // A section that cannot load (e.g. no right to read LLM configs) says so; the others still work.
  await Promise.all(Object.entries(loaders).map(([key, load]) => load().catch((error) => clear(boxes[key], errorNotice(error)))));
}

/** Run a save action with a busy button and report the outcome. */
async function saving(button, action, done) {
  button.disabled = true;
  try {
    await action();
    toast(done);
  } catch (error) {
    toast(error.message, "error");
  } finally {
    button.disabled = false;
  }
}

async function general(box, agent, setAgent) {
  const name = h("input", { name: "name", required: true, maxlength: "200", value: agent.agent_name });
  const description = h("textarea", { rows: "2", value: agent.domain || "" });
  const instructions = h("textarea", { rows: "5", value: agent.instructions.map((i) => i.instruction).join("\n") });
  const prefix = h("textarea", { rows: "3", value: agent.prefix_prompt || "" });
  const save = h("button", { type: "submit", class: "primary" }, "Save instructions");
  const form = h("form", {},
    field("Name", name),
    field("Description", description, "Shown on the agent's card and above an empty conversation."),
    field("Instructions", instructions, "One instruction per line; the agent follows them when it answers."),
    field("Prompt prefix", prefix, "Text put before every prompt (optional)."),
    h("div", { class: "actions" }, save));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    saving(save, async () => {
      setAgent(await api.put(`/v2/api/agent/${agent.id}`, {
        name: name.value.trim(),
        description: description.value,
        prefix_prompt: prefix.value,
        custom_instructions: instructions.value.split("\n").map((line) => line.trim()).filter(Boolean),
      }));
    }, "Instructions saved");
  });
  clear(box, form);
}

async function corpora(box, agentId) {
  const [links, all] = await Promise.all([
    api.get(`/v2/api/agent/${agentId}/corpus`),
    api.get("/v2/api/corpus?items_per_page=500"),
  ]);
  const linked = new Set(links.map((l) => l.corpus.id));
  const reload = () => corpora(box, agentId).catch((error) => clear(box, errorNotice(error)));
  const list = h("ul", { class: "list-plain" }, links.map((link) => {
    const toggle = h("input", { type: "checkbox", role: "switch", checked: link.is_enabled, id: uid("link") });
    toggle.addEventListener("change", async () => {
      try {
        await api.put(`/v2/api/agent/${agentId}/corpus/${link.corpus.id}`, { is_enabled: toggle.checked });
        announce(`${link.corpus.name} ${toggle.checked ? "enabled" : "disabled"}.`);
      } catch (error) {
        toggle.checked = !toggle.checked;
        toast(error.message, "error");
      }
    });
    return h("li", {},
      h("div", { class: "grow" }, h("a", { href: `#/corpora/${link.corpus.id}` }, link.corpus.name),
        " ", link.is_default ? h("span", { class: "badge" }, "default") : null),
      h("label", { class: "switch", for: toggle.id }, toggle, "Answer from it"),
      link.is_default ? null : h("button", {
        type: "button", class: "small danger", "aria-label": `Disconnect ${link.corpus.name}`,
        onclick: async () => {
          if (!(await confirmDialog(`Disconnect ${link.corpus.name} from this agent?`, { confirmLabel: "Disconnect" }))) return;
          try {
            await api.del(`/v2/api/agent/${agentId}/corpus/${link.corpus.id}`);
            toast(`Disconnected ${link.corpus.name}`);
            reload();
          } catch (error) {
            toast(error.message, "error");
          }
        },
      }, "Disconnect"));
  }));
  const available = all.corpora.filter((c) => !linked.has(c.id));
  const picker = select(available.map((c) => [c.id, c.name]));
  const connect = h("button", { type: "submit" }, "Connect");
  const form = h("form", { class: "row" }, field("Connect a corpus", picker), h("div", { class: "field" }, connect));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    saving(connect, async () => {
      await api.post(`/v2/api/agent/${agentId}/corpus/${picker.value}`);
      reload();
    }, "Corpus connected");
  });
  clear(box,
    h("p", { class: "muted" }, "The agent answers from the enabled corpora below (and only from what the asking user may read)."),
    links.length ? list : h("p", { class: "empty" }, "No corpora connected."),
    available.length ? form : h("p", { class: "muted small-text" }, "Every corpus you can see is connected."));
}

async function model(box, agentId) {
  const [configs, active] = await Promise.all([
    api.get("/v2/api/llm-config"),
    api.get(`/v2/api/llm-config/active?agent_id=${agentId}`),
  ]);
  const usable = configs.filter((c) => c.is_active);
  const current = active.source === "agent" ? String(active.llm_config.id) : "";
  const picker = select([["", "Organisation default"], ...usable.map((c) => [c.id, `${c.name} (${c.provider} · ${c.model})`])], { value: current });
  const save = h("button", { type: "submit", class: "primary" }, "Save model");
  const describe = {
    agent: `Answers with ${active.llm_config?.name} (${active.llm_config?.model}).`,
    default: `Answers with the organisation's default, ${active.llm_config?.name} (${active.llm_config?.model}).`,
    offline: "Answers with Parley's built-in offline answerer, which quotes the best passages (no model, no cost).",
  }[active.source];
  const form = h("form", {},
    h("p", { class: "muted" }, describe),
    field("LLM config", picker, usable.length ? null : "No LLM configs yet; an administrator adds them under Admin → LLM configs."),
    h("div", { class: "actions" }, save));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    saving(save, async () => {
      await api.put(`/v2/api/agent/${agentId}/llm-config`, { llm_config_id: picker.value ? Number(picker.value) : null });
      await model(box, agentId);
    }, "Model saved");
  });
  clear(box, form);
}

async function tools(box, agentId) {
  const list = await api.get(`/v2/api/agent/${agentId}/tool`);
  clear(box, list.length ? h("ul", { class: "list-plain" }, list.map((tool) => {
    // The built-in Rag Tool is on while the agent answers from an enabled corpus: it is switched
    // through the agent's corpora, not here.
    const followsCorpora = tool.is_builtin && tool.tool_type === "rag";
    const toggle = h("input", { type: "checkbox", role: "switch", checked: tool.is_enabled, id: uid("tool"), disabled: followsCorpora || !tool.organization_enabled || !tool.is_active });
    toggle.addEventListener("change", async () => {
      try {
        const path = `/v2/api/agent/${agentId}/tool/${tool.id}`;
        if (toggle.checked) await api.post(path);
        else await api.del(path);
        announce(`${tool.name} ${toggle.checked ? "enabled" : "disabled"}.`);
      } catch (error) {
        toggle.checked = !toggle.checked;
        toast(error.message, "error");
      }
    });
    return h("li", {},
      h("label", { class: "switch grow", for: toggle.id }, toggle,
        h("span", {}, h("strong", {}, tool.name), h("br"), h("span", { class: "muted small-text" }, tool.description || tool.tool_type))),
      followsCorpora ? h("span", { class: "muted small-text" }, "Follows the agent's corpora") : null,
      tool.organization_enabled ? null : h("span", { class: "badge" }, "Disabled for the organisation"));
  })) : h("p", { class: "empty" }, "No tools available."));
}

async function access(box, agent, setAgent) {
  const [shares, users] = await Promise.all([
    api.get(`/v2/api/agent/${agent.id}/user`),
    api.get("/v2/api/user?items_per_page=500"),
  ]);
  const reload = () => access(box, agent, setAgent).catch((error) => clear(box, errorNotice(error)));
  const levels = [["Only me", "Only me (and people I share it with)"], ["Only team", "The project's team"], ["Public", "Everyone in the organisation"]];
  const name = uid("access");
  const radios = h("fieldset", {}, h("legend", {}, "Who can use this agent"),
    levels.map(([value, label]) => {
      const input = h("input", { type: "radio", name, value, checked: agent.access === value, id: uid("r") });
      return h("label", { class: "check", for: input.id }, input, label);
    }));
  const saveAccess = h("button", { type: "submit", class: "primary" }, "Save access");
  const accessForm = h("form", {}, radios, h("div", { class: "actions" }, saveAccess));
  accessForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = accessForm.querySelector("input:checked")?.value;
    saving(saveAccess, async () => setAgent(await api.put(`/v2/api/agent/${agent.id}/access`, { access: value })), "Access saved");
  });

  const shared = new Set(shares.map((s) => s.user.id));
  const candidates = users.users.filter((u) => !shared.has(u.id) && u.id !== (agent.user?.id ?? agent.user));
  const userPicker = select(candidates.map((u) => [u.id, `${u.email}${u.first_name ? ` (${u.first_name} ${u.last_name})` : ""}`]));
  const permission = select([["view", "Can use"], ["edit", "Can edit"]]);
  const share = h("button", { type: "submit" }, "Share");
  const shareForm = h("form", { class: "row" }, field("Share with", userPicker), field("Permission", permission), h("div", { class: "field" }, share));
  shareForm.addEventListener("submit", (event) => {
    event.preventDefault();
    saving(share, async () => {
      await api.post(`/v2/api/agent/${agent.id}/user`, { users: [{ user_id: Number(userPicker.value), permission: permission.value }] });
      reload();
    }, "Agent shared");
  });
  clear(box, accessForm,
    h("h3", {}, "Shared with"),
    shares.length ? h("ul", { class: "list-plain" }, shares.map((s) => h("li", {},
      h("span", { class: "grow" }, s.user.email), h("span", { class: "badge" }, s.permission === "edit" ? "Can edit" : "Can use"),
      h("button", { type: "button", class: "small danger", "aria-label": `Stop sharing with ${s.user.email}`, onclick: async () => {
        try {
          await api.del(`/v2/api/agent/${agent.id}/user/${s.user.id}`);
          toast(`Stopped sharing with ${s.user.email}`);
          reload();
        } catch (error) {
          toast(error.message, "error");
        }
      } }, "Remove"))))
      : h("p", { class: "muted" }, "Not shared with anyone."),
    candidates.length ? shareForm : null);
}

async function starters(box, agentId) {
  const list = await api.get(`/v2/api/agent/${agentId}/conversation-starter`);
  const reload = () => starters(box, agentId).catch((error) => clear(box, errorNotice(error)));
  const act = (action, done) => async () => {
    try {
      await action();
      announce(done);
      await reload();
    } catch (error) {
      toast(error.message, "error");
    }
  };
  const path = (s) => `/v2/api/agent/${agentId}/conversation-starter/${s.id}`;
  const items = list.map((s, i) => {
    const text = h("input", { value: s.starter, maxlength: "1000", "aria-label": `Starter ${i + 1}` });
    return h("li", {},
      h("span", { class: "muted", "aria-hidden": "true" }, `${i + 1}.`),
      h("div", { class: "grow" }, text),
      h("button", { type: "button", class: "small", onclick: act(() => api.put(path(s), { starter: text.value }), "Starter saved.") }, "Save"),
      h("button", { type: "button", class: "small", disabled: i === 0, "aria-label": `Move starter ${i + 1} up`, onclick: act(() => api.put(path(s), { position: i }), "Starter moved up.") }, "↑"),
      h("button", { type: "button", class: "small", disabled: i === list.length - 1, "aria-label": `Move starter ${i + 1} down`, onclick: act(() => api.put(path(s), { position: i + 2 }), "Starter moved down.") }, "↓"),
      h("button", { type: "button", class: "small danger", "aria-label": `Delete starter ${i + 1}`, onclick: act(() => api.del(path(s)), "Starter deleted.") }, "Delete"));
  });
  const input = h("input", { maxlength: "1000", required: true, placeholder: "How do I request leave?" });
  const add = h("button", { type: "submit" }, "Add starter");
  const form = h("form", { class: "row" }, field("New starter", input), h("div", { class: "field" }, add));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(() => api.post(`/v2/api/agent/${agentId}/conversation-starter`, { starter: input.value }), "Starter added.")();
  });
  clear(box,
    h("p", { class: "muted" }, "Suggested first questions, shown in an empty conversation (at most 10)."),
    list.length ? h("ol", { class: "list-plain" }, items) : h("p", { class: "empty" }, "No conversation starters yet."),
    list.length < 10 ? form : null);
}

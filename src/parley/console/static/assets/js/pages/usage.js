// Usage: responses, tokens, cost, latency and feedback over time and by agent and user (the
// Agent Response Dashboard), calls by model, and the table of model calls with their payloads
// (Parley's /parley/v1/usage endpoints, organisation admins).

import { api, query } from "../api.js";
import { barChart, hbarChart, lineChart } from "../charts.js";
import {
  clear, errorNotice, field, fmtCompact, fmtCost, fmtMs, fmtNumber, h, isoDay, loading, openDialog,
  pageHead, select, table, timeEl,
} from "../dom.js";

const DAY_MS = 86_400_000;
const CALLS_PAGE = 25;

export async function render(main, _params, { me }) {
  const admin = me.is_superuser;
  const agents = (await api.get("/v2/api/agent?items_per_page=500")).agents;
  const today = new Date();
  const start = h("input", { type: "date", value: isoDay(new Date(today.getTime() - 29 * DAY_MS)), max: isoDay(today) });
  const end = h("input", { type: "date", value: isoDay(today), max: isoDay(today) });
  const agentChoices = agents.map((a) => [a.id, a.agent_name]);
  const agentPicker = select(admin ? [["", "All agents"], ...agentChoices] : agentChoices);
  const dashboardBox = h("div", {}, loading());
  const callsBox = h("section", { "aria-labelledby": "calls-title" });

  main.append(
    pageHead("Usage", admin ? "Answers, tokens, cost, latency and feedback across the organisation." : "Answers, tokens, cost, latency and feedback for an agent you manage."),
    h("form", { class: "filters", "aria-label": "Dashboard filters", onsubmit: (e) => e.preventDefault() },
      field("From", start), field("To", end), field("Agent", agentPicker)),
    dashboardBox,
    callsBox);

  if (!admin && !agents.length) {
    clear(dashboardBox, h("p", { class: "empty" }, "No agents yet."));
    return;
  }

  const calls = admin ? callsSection(callsBox, () => ({
    start_date: start.value, end_date: end.value, agent_ids: agentPicker.value || undefined,
  })) : null;

  async function load() {
    clear(dashboardBox, loading());
    const body = { start_date: start.value, end_date: end.value, group_by: ["day", "agent", "user"] };
    const agentId = agentPicker.value;
    let models = null;
    try {
      const path = admin ? "/v2/api/agent-response/dashboard" : `/v2/api/agent/${agentId}/response/dashboard`;
      let dashboard;
      [dashboard, models] = await Promise.all([
        api.post(path, admin && agentId ? { ...body, agent_ids: [Number(agentId)] } : body),
        admin ? api.get(`/parley/v1/usage/models${query({ start_date: start.value, end_date: end.value, agent_ids: agentId || undefined })}`) : null,
      ]);
      clear(dashboardBox, dashboardView(dashboard, models));
    } catch (error) {
      clear(dashboardBox, errorNotice(error));
    }
    // The model summary also gives the call table's model and feature choices.
    if (calls) calls.reload(models);
  }
  for (const input of [start, end, agentPicker]) input.addEventListener("change", load);
  await load();
}

function kpi(label, value) {
  return h("div", { class: "kpi" }, h("div", { class: "label" }, label), h("div", { class: "value" }, value));
}

function dashboardView(data, models) {
  const t = data.totals;
  const days = data.by_day || [];
  const labels = days.map((d) => d.date);
  const series = (key) => days.map((d) => d[key]);
  const breakdownColumns = [
    { label: "Tokens", cell: (r) => fmtNumber(r.total_tokens) },
    { label: "Cost", cell: (r) => fmtCost(r.cost) },
    { label: "Avg latency", cell: (r) => fmtMs(r.avg_latency_ms) },
    { label: "Up / down", cell: (r) => `${r.upvotes} / ${r.downvotes}` },
  ];
  const parts = [
    h("div", { class: "kpis" },
      kpi("Responses", fmtNumber(t.responses)),
      kpi("Users", fmtNumber(t.users)),
      kpi("Tokens", fmtCompact(t.total_tokens)),
      kpi("Cost", fmtCost(t.cost)),
      kpi("Avg latency", fmtMs(t.avg_latency_ms)),
      kpi("Helpful / not", `${fmtNumber(t.upvotes)} / ${fmtNumber(t.downvotes)}`)),
  ];
  if (!t.responses) {
    parts.push(h("p", { class: "empty" }, "No answers in this period yet. Ask an agent something and come back."));
  }
  parts.push(
    h("h2", {}, "Over time"),
    h("div", { class: "charts" },
      barChart({ title: "Responses per day", labels, series: [{ name: "Responses", values: series("responses") }], format: fmtCompact }),
      barChart({ title: "Tokens per day", labels, format: fmtCompact, series: [
        { name: "Prompt", values: series("prompt_tokens") }, { name: "Completion", values: series("completion_tokens") }] }),
      lineChart({ title: "Cost per day", labels, series: [{ name: "Cost", values: days.map((d) => Number(d.cost)) }], format: fmtCost }),
      lineChart({ title: "Latency per day", labels, format: fmtMs, series: [
        { name: "Average", values: series("avg_latency_ms") },
        ...(days.some((d) => d.p95_latency_ms !== null) ? [{ name: "95th percentile", values: series("p95_latency_ms") }] : [])] }),
      barChart({ title: "Feedback per day", labels, format: fmtCompact, series: [
        { name: "Helpful", values: series("upvotes"), color: "var(--series-3)" },
        { name: "Not helpful", values: series("downvotes"), color: "var(--series-2)" }] })),
    h("h2", {}, "Breakdown"),
    h("div", { class: "charts" },
      data.by_agent ? hbarChart({ title: "Responses by agent", valueName: "Responses", extraColumns: breakdownColumns,
        rows: data.by_agent.slice(0, 12).map((r) => ({ label: r.agent_name || `Agent ${r.agent_id}`, value: r.responses, item: r })) }) : null,
      data.by_user ? hbarChart({ title: "Responses by user", valueName: "Responses", extraColumns: breakdownColumns,
        rows: data.by_user.slice(0, 12).map((r) => ({ label: r.email || `User ${r.user_id}`, value: r.responses, item: r })) }) : null,
      models ? hbarChart({ title: "Model calls by model", valueName: "Calls", extraColumns: [
        { label: "Failures", cell: (r) => fmtNumber(r.failures) },
        { label: "Tokens in / out", cell: (r) => `${fmtNumber(r.request_tokens)} / ${fmtNumber(r.response_tokens)}` },
        { label: "Cost", cell: (r) => fmtCost(r.cost) },
        { label: "Avg time", cell: (r) => fmtMs(r.avg_time_taken_ms) }],
      rows: models.models.map((r) => ({ label: r.model_name || "(none)", value: r.calls, item: r })) }) : null));
  return parts;
}

// ---- the model calls ---------------------------------------------------------------------------

function callsSection(box, pageFilters) {
  const state = { offset: 0 };
  const model = select([["", "Any model"]]);
  const feature = select([["", "Any feature"]]);
  const status = select([["", "Any status"], ["success", "Success"], ["failure", "Failure"]]);
  const results = h("div", {}, loading());
  clear(box,
    h("div", { class: "section-title" }, h("h2", { id: "calls-title" }, "Model calls")),
    h("p", { class: "muted" }, "Every call to a model (answers, query rewrites, follow-ups, embeddings, tools), newest first. Open one to see its request and response."),
    h("div", { class: "filters" }, field("Model", model), field("Feature", feature), field("Status", status)),
    results);

  const refillChoices = (picker, values, anyLabel) => {
    const current = picker.value;
    clear(picker, h("option", { value: "" }, anyLabel), values.map((v) => h("option", { value: v }, v || "(none)")));
    picker.value = values.includes(current) ? current : "";
  };

  async function loadPage() {
    const params = { ...pageFilters(), model: model.value, feature: feature.value, status: status.value, limit: CALLS_PAGE, offset: state.offset };
    try {
      const data = await api.get(`/parley/v1/usage/calls${query(params)}`);
      clear(results, table([
        { label: "Time", cell: (c) => timeEl(c.start_time) },
        { label: "Feature", cell: (c) => c.feature_name },
        { label: "Model", cell: (c) => c.model_name },
        { label: "Agent", class: "hide-sm", cell: (c) => c.agent?.agent_name ?? (c.agent ? `Agent ${c.agent.id}` : "—") },
        { label: "User", class: "hide-sm", cell: (c) => c.user?.email ?? "—" },
        { label: "Tokens in / out", num: true, class: "hide-sm", cell: (c) => `${fmtNumber(c.request_tokens)} / ${fmtNumber(c.response_tokens)}` },
        { label: "Cost", num: true, class: "hide-sm", cell: (c) => fmtCost(c.cost) },
        { label: "Time taken", num: true, cell: (c) => fmtMs(c.time_taken_ms) },
        { label: "Status", cell: (c) => h("span", { class: `badge ${c.status === "success" ? "ok" : "error"}` }, c.status) },
        { label: "Payloads", cell: (c) => h("button", { type: "button", class: "small", onclick: () => showCall(c.id), "aria-label": `View call ${c.id}` }, "View") },
      ], data.calls, { empty: "No model calls match these filters." }),
      h("div", { class: "pager" },
        h("button", { type: "button", disabled: state.offset === 0, onclick: () => { state.offset = Math.max(0, state.offset - CALLS_PAGE); loadPage(); } }, "Newer"),
        h("span", { class: "muted" }, data.calls.length ? `Calls ${state.offset + 1}–${state.offset + data.calls.length}` : ""),
        h("button", { type: "button", disabled: !data.has_more, onclick: () => { state.offset += CALLS_PAGE; loadPage(); } }, "Older")));
    } catch (error) {
      clear(results, errorNotice(error));
    }
  }

  async function reload(summary) {
    state.offset = 0;
    if (summary) {
      refillChoices(model, summary.models.map((m) => m.model_name), "Any model");
      refillChoices(feature, summary.features, "Any feature");
    }
    await loadPage();
  }
  for (const picker of [model, feature, status]) picker.addEventListener("change", () => { state.offset = 0; loadPage(); });
  return { reload };
}

async function showCall(callId) {
  const body = h("div", {}, loading());
  const close = h("button", { type: "button", onclick: () => dialog.close() }, "Close");
  const dialog = openDialog({ title: `Model call ${callId}`, body, wide: true, actions: [close] });
  try {
    const call = await api.get(`/parley/v1/usage/calls/${callId}`);
    const facts = [
      ["Started", timeEl(call.start_time)], ["Time taken", fmtMs(call.time_taken_ms)],
      ["Feature", call.feature_name], ["Prompt", call.prompt_name || "—"],
      ["Model", call.model_name], ["Integration", call.integration],
      ["Agent", call.agent?.agent_name ?? "—"], ["User", call.user?.email ?? "—"],
      ["Tokens in / out", `${fmtNumber(call.request_tokens)} / ${fmtNumber(call.response_tokens)}`], ["Cost", fmtCost(call.cost)],
      ["Status", `${call.status} (HTTP ${call.status_code})`], ["Answer", call.agent_response_id ?? "—"],
    ];
    clear(body,
      h("dl", { class: "facts" }, facts.map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v)))),
      call.error ? h("div", { class: "notice error" }, call.error) : null,
      h("h3", {}, "Request payload"), h("pre", { tabindex: "0", "aria-label": "Request payload" }, JSON.stringify(call.request_payload, null, 2)),
      h("h3", {}, "Response payload"), h("pre", { tabindex: "0", "aria-label": "Response payload" }, JSON.stringify(call.response_payload, null, 2)));
  } catch (error) {
    clear(body, errorNotice(error));
  }
}

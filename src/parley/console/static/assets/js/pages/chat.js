// Chat with an agent: threads, streamed answers (Server-Sent Events over fetch), numbered
// citations that open the cited passage and its page, groundedness per sentence, follow-up
// questions, feedback, comments and pins.

import { api, documentBlob, streamAnswer } from "../api.js";
import {
  announce, clear, confirmDialog, errorNotice, fmtMs, fmtNumber, h, icon, loading, openDialog, plural, timeEl, toast,
  uid,
} from "../dom.js";

// Below this a sentence counts as unsupported (docs/api/ejento-answers.md).
const SUPPORTED = 0.5;

export async function render(main, [agentId, threadParam], { me }) {
  main.className = "chat-main";
  const agent = await api.get(`/v2/api/agent/${agentId}`);
  api.post(`/v2/api/agent/${agentId}/recent`).catch(() => {}); // "recently used", best effort

  let threadId = threadParam ? Number(threadParam) : null;
  let busy = false;
  let controller = null;
  let threadLoaded = Promise.resolve();

  // ---- layout ------------------------------------------------------------------------------
  const threadList = h("ul");
  const threadsId = uid("threads");
  const threadsAside = h("aside", { class: "threads", id: threadsId, "aria-label": "Conversations" },
    h("div", { class: "threads-head" },
      h("a", { class: "button primary", href: `#/agents/${agentId}/chat` }, "New conversation")),
    threadList);
  const threadsToggle = h("button", {
    type: "button", class: "small threads-toggle", "aria-expanded": "false", "aria-controls": threadsId,
    onclick: () => {
      const open = !threadsAside.classList.contains("open");
      threadsAside.classList.toggle("open", open);
      threadsToggle.setAttribute("aria-expanded", String(open));
      if (open) threadsAside.querySelector("a")?.focus();
    },
  }, "Conversations");
  const messages = h("ol", { class: "messages", "aria-label": "Messages" });
  const input = h("textarea", { id: uid("ask"), rows: "1", placeholder: `Ask ${agent.agent_name}…`, maxlength: "20000" });
  const send = h("button", { type: "submit", class: "primary" }, "Send");
  const form = h("form", {},
    h("label", { for: input.id, class: "visually-hidden" }, `Question for ${agent.agent_name}`), input, send);
  const panel = sourcePanel();
  const conversation = h("section", { class: "conversation", "aria-labelledby": "chat-title" },
    h("div", { class: "conv-head" },
      threadsToggle,
      h("h1", { id: "chat-title", tabindex: "-1" }, agent.agent_name),
      h("button", { type: "button", class: "small", onclick: () => showPinned(agentId) }, "Pinned"),
      h("a", { class: "button small", href: `#/agents/${agentId}/settings` }, "Settings")),
    messages,
    h("div", { class: "composer" }, form));
  main.append(h("div", { class: "chat" }, threadsAside, conversation, panel.element));

  // ---- threads -----------------------------------------------------------------------------
  async function loadThreads() {
    let threads;
    try {
      threads = await api.get(`/v2/api/agent/${agentId}/chat-thread`);
    } catch (error) {
      clear(threadList, h("li", {}, errorNotice(error)));
      return;
    }
    clear(threadList, threads.length ? threads.map((t) => h("li", {},
      h("a", { href: `#/agents/${agentId}/chat/${t.id}`, "aria-current": t.id === threadId ? "page" : null, title: t.title }, t.title),
      h("button", {
        type: "button", class: "ghost small", "aria-label": `Delete conversation ${t.title}`, title: "Delete",
        onclick: async () => {
          if (!(await confirmDialog(`Delete the conversation "${t.title}"?`))) return;
          try {
            await api.del(`/v2/api/chat-thread/${t.id}`);
            toast("Conversation deleted");
            if (t.id === threadId) location.hash = `#/agents/${agentId}/chat`;
            else loadThreads();
          } catch (error) {
            toast(error.message, "error");
          }
        },
      }, "✕"))) : h("li", { class: "muted small-text" }, "No conversations yet."));
  }

  // ---- turns -------------------------------------------------------------------------------
  const context = { agentId, me, panel, ask: (text) => ask(text) };

  async function loadThread() {
    if (!threadId) {
      await showStarters();
      return;
    }
    clear(messages, h("li", {}, loading()));
    try {
      const responses = await api.get(`/v2/api/chat-thread/${threadId}/agent-response`);
      clear(messages, responses.map((r) => renderTurn(r, context)));
      if (!responses.length) await showStarters();
      messages.scrollTop = messages.scrollHeight;
    } catch (error) {
      clear(messages, h("li", {}, errorNotice(error)));
    }
  }

  async function showStarters() {
    let starters = [];
    try {
      starters = (await api.get(`/v2/api/agent/${agentId}/conversation-starter`)).map((s) => s.starter);
    } catch {
      starters = [agent.sample_q1, agent.sample_q2, agent.sample_q3].filter(Boolean);
    }
    clear(messages, h("li", { class: "starters" },
      h("h2", {}, `Ask ${agent.agent_name} anything`),
      h("p", { class: "muted" }, agent.domain || "Answers come from the agent's documents, with numbered sources."),
      starters.length ? h("div", { class: "actions" }, starters.map((text) =>
        h("button", { type: "button", onclick: () => ask(text) }, text))) : null));
  }

  async function ask(text) {
    const question = text.trim();
    if (!question || busy) return;
    busy = true;
    send.disabled = true;
    input.value = "";
    // A question sent while the thread is still loading waits for it: the load replaces the list.
    await threadLoaded;
    messages.querySelector(".starters")?.remove();
    const status = h("p", { class: "status-line", role: "status" }, h("span", { class: "spinner", "aria-hidden": "true" }), "Analyzing…");
    const streamed = h("div", { class: "answer-text" });
    const answerBox = h("article", { class: "answer", "aria-busy": "true", "aria-label": "Answer" }, status, streamed);
    const turn = h("li", { class: "turn" }, h("div", { class: "question" }, question), answerBox);
    messages.append(turn);
    messages.scrollTop = messages.scrollHeight;

    controller = new AbortController();
    let final = null;
    let failure = null;
    try {
      await streamAnswer(agentId, { user_query: question, chat_thread_id: threadId ?? undefined, query_source: "web" }, (event, data) => {
        if (event === "start" || event === "status") {
          status.lastChild.textContent = data.message;
        } else if (event === "token") {
          streamed.textContent += data.delta;
          messages.scrollTop = messages.scrollHeight;
        } else if (event === "end") {
          final = data.output;
        } else if (event === "error") {
          failure = new Error(data.message || "The answer failed.");
        }
      }, controller.signal);
    } catch (error) {
      if (error.name !== "AbortError") failure = error;
    }
    controller = null;
    busy = false;
    send.disabled = false;
    if (!turn.isConnected) return;
    if (final) {
      turn.replaceWith(renderTurn({
        id: final.agent_response_id, question, response: final, feedback: [], comments: [], pinned: false,
        created_on: new Date().toISOString(),
      }, context));
      announce("Answer ready.");
      if (threadId !== final.thread_id) {
        threadId = final.thread_id;
        // Keep the address in step without re-rendering the page.
        history.replaceState(null, "", `#/agents/${agentId}/chat/${threadId}`);
      }
      loadThreads();
    } else {
      answerBox.removeAttribute("aria-busy");
      clear(answerBox, errorNotice(failure || new Error("The answer stream ended without an answer.")));
    }
    messages.scrollTop = messages.scrollHeight;
    input.focus();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    ask(input.value);
  });
  input.addEventListener("keydown", (event) => {
    // Enter sends, Shift+Enter adds a line.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      ask(input.value);
    }
  });
  input.addEventListener("input", () => {
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight + 2, 192)}px`;
  });

  threadLoaded = loadThread();
  await Promise.all([loadThreads(), threadLoaded]);
  return () => {
    if (controller) controller.abort();
    panel.close(false);
  };
}

// ---- one question and its answer --------------------------------------------------------

function renderTurn(response, context) {
  const payload = response.response || {};
  const answer = h("article", { class: "answer", "aria-label": "Answer" });
  answer.append(answerText(payload, context.panel));

  const unsupported = (payload.groundedness_scores || []).filter(isUnsupported).length;
  const meta = h("div", { class: "answer-meta" });
  if (payload.groundedness !== null && payload.groundedness !== undefined) {
    meta.append(h("span", { class: ["badge", unsupported ? "warn" : "ok"], title: "Mean groundedness of the answer's sentences" },
      `Grounded ${Math.round(payload.groundedness * 100)}%`));
  }
  if (unsupported) {
    meta.append(h("span", { class: "badge warn" }, plural(unsupported, "unsupported sentence")));
  }
  const facts = [
    payload.model,
    payload.total_tokens !== undefined ? `${fmtNumber(payload.total_tokens)} tokens` : null,
    payload.timings?.total_ms !== undefined ? fmtMs(payload.timings.total_ms) : null,
  ].filter(Boolean);
  if (facts.length) meta.append(h("span", {}, facts.join(" · ")));
  if (response.created_on) meta.append(timeEl(response.created_on));
  answer.append(meta);

  const references = [...(payload.references || [])].sort((a, b) => a.order - b.order);
  if (references.length) {
    const headingId = uid("src");
    answer.append(h("div", { class: "sources" },
      h("h2", { id: headingId }, "Sources"),
      h("ol", { "aria-labelledby": headingId }, references.map((ref) => {
        const point = dataPoint(payload, ref.number);
        return h("li", {}, h("button", {
          type: "button", class: "small",
          onclick: (event) => context.panel.open(payload, ref.number, event.currentTarget),
        }, h("strong", {}, `[${ref.number}]`), h("span", { class: "name" }, point?.document_name || ref.url),
        point?.page ? h("span", { class: "muted" }, `p. ${point.page}`) : null));
      }))));
  }

  if (payload.followup_questions?.length) {
    answer.append(h("div", { class: "followups", role: "group", "aria-label": "Follow-up questions" },
      payload.followup_questions.map((q) => h("button", { type: "button", onclick: () => context.ask(q) }, q))));
  }
  if (response.id) answer.append(turnActions(response, context));

  return h("li", { class: "turn" }, h("div", { class: "question" }, response.question), answer);
}

function isUnsupported(score) {
  return score.supported === false || score.score < SUPPORTED;
}

function dataPoint(payload, number) {
  return (payload.data_points || []).find((p) => p.number === number);
}

/** The answer with each scored sentence marked, and [n] markers as buttons that open the source. */
function answerText(payload, panel) {
  // Offsets are Python string indexes (code points), so index code points, not UTF-16 units.
  const chars = Array.from(payload.answer || "");
  const box = h("div", { class: "answer-text" });
  const scores = [...(payload.groundedness_scores || [])].sort((a, b) => a.start_idx - b.start_idx);
  let at = 0;
  const citeText = (text) => {
    const parts = [];
    let last = 0;
    for (const match of text.matchAll(/\[(\d+)\]/g)) {
      const number = Number(match[1]);
      const point = dataPoint(payload, number);
      if (!point) continue;
      parts.push(text.slice(last, match.index));
      parts.push(h("button", {
        type: "button", class: "cite",
        "aria-label": `Source ${number}: ${point.document_name}${point.page ? `, page ${point.page}` : ""}`,
        onclick: (event) => panel.open(payload, number, event.currentTarget),
      }, String(number)));
      last = match.index + match[0].length;
    }
    parts.push(text.slice(last));
    return parts;
  };
  for (const score of scores) {
    if (score.start_idx < at) continue;
    box.append(...citeText(chars.slice(at, score.start_idx).join("")));
    const sentence = chars.slice(score.start_idx, score.end_idx).join("");
    if (isUnsupported(score)) {
      box.append(h("span", {
        class: "sentence unsupported",
        title: `Not supported by the sources (groundedness ${score.score.toFixed(2)})`,
      }, citeText(sentence), h("span", { class: "flag" }, "unsupported")));
    } else {
      box.append(h("span", { class: "sentence" }, citeText(sentence)));
    }
    at = score.end_idx;
  }
  box.append(...citeText(chars.slice(at).join("")));
  return box;
}

// ---- feedback, comments, pins ---------------------------------------------------------------

function turnActions(response, { agentId, me }) {
  const mine = (response.feedback || []).find((f) => f.user === me.id);
  let vote = mine?.is_upvote ? "up" : mine?.is_downvote ? "down" : null;
  const up = h("button", { type: "button", class: "small icon-button", "aria-label": "Helpful", title: "Helpful" }, icon("up"));
  const down = h("button", { type: "button", class: "small icon-button", "aria-label": "Not helpful", title: "Not helpful" }, icon("down"));
  const showVote = () => {
    up.setAttribute("aria-pressed", String(vote === "up"));
    down.setAttribute("aria-pressed", String(vote === "down"));
  };
  const castVote = async (choice) => {
    const next = vote === choice ? null : choice;
    try {
      await api.post(`/v2/api/agent-response/${response.id}/feedback`,
        next ? { vote_type: next } : { is_upvote: false, is_downvote: false });
      vote = next;
      showVote();
      announce(next ? "Thanks for the feedback." : "Feedback withdrawn.");
    } catch (error) {
      toast(error.message, "error");
    }
  };
  up.addEventListener("click", () => castVote("up"));
  down.addEventListener("click", () => castVote("down"));
  showVote();

  let pinned = Boolean(response.pinned);
  const pin = h("button", { type: "button", class: "small" });
  const showPin = () => {
    pin.setAttribute("aria-pressed", String(pinned));
    clear(pin, icon("pin"), pinned ? "Pinned" : "Pin");
  };
  pin.addEventListener("click", async () => {
    try {
      const path = `/v2/api/agent/${agentId}/response/${response.id}/pin`;
      if (pinned) await api.del(path);
      else await api.put(path);
      pinned = !pinned;
      showPin();
      announce(pinned ? "Answer pinned." : "Answer unpinned.");
    } catch (error) {
      toast(error.message, "error");
    }
  });
  showPin();

  const commentsId = uid("comments");
  const commentsBox = h("div", { class: "comments", id: commentsId, hidden: true });
  let count = (response.comments || []).length;
  const commentLabel = h("span", {}, count ? `Comments (${count})` : "Comment");
  const commentToggle = h("button", { type: "button", class: "small", "aria-expanded": "false", "aria-controls": commentsId },
    icon("comment"), commentLabel);
  commentToggle.addEventListener("click", async () => {
    const open = commentsBox.hidden;
    commentsBox.hidden = !open;
    commentToggle.setAttribute("aria-expanded", String(open));
    if (open) await loadComments();
  });

  async function loadComments() {
    clear(commentsBox, loading());
    let comments;
    try {
      comments = await api.get(`/v2/api/agent-response/${response.id}/comment`);
    } catch (error) {
      clear(commentsBox, errorNotice(error));
      return;
    }
    const text = h("input", { type: "text", maxlength: "5000", required: true, id: uid("comment") });
    const form = h("form", {},
      h("label", { for: text.id, class: "visually-hidden" }, "Add a comment"), text,
      h("button", { type: "submit", class: "small" }, "Add comment"));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      try {
        await api.post(`/v2/api/agent-response/${response.id}/comment`, { comment: text.value });
        count += 1;
        commentLabel.textContent = `Comments (${count})`;
        await loadComments();
        commentsBox.querySelector("input")?.focus();
      } catch (error) {
        toast(error.message, "error");
      }
    });
    clear(commentsBox,
      comments.length ? h("ul", {}, comments.map((c) => h("li", {},
        h("strong", {}, c.created_by), " ", h("span", { class: "muted small-text" }, timeEl(c.created_on)), h("div", {}, c.comment))))
        : h("p", { class: "muted small-text" }, "No comments yet."),
      form);
    text.focus();
  }

  return h("div", {},
    h("div", { class: "turn-actions", role: "group", "aria-label": "Answer actions" }, up, down, commentToggle, pin),
    commentsBox);
}

async function showPinned(agentId) {
  const body = h("div", {}, loading());
  openDialog({ title: "Pinned answers", body, wide: true, actions: [h("button", { type: "button", onclick: (e) => e.target.closest("dialog").close() }, "Close")] });
  try {
    const pins = await api.get(`/v2/api/agent/${agentId}/response/pin`);
    clear(body, pins.length ? h("ul", { class: "list-plain" }, pins.map((p) => h("li", {},
      h("div", { class: "grow" },
        h("a", { href: `#/agents/${agentId}/chat/${p.chat_thread_id}`, onclick: (e) => e.target.closest("dialog").close() }, p.question),
        h("div", { class: "muted small-text" }, (p.response?.answer || "").slice(0, 220))),
      timeEl(p.created_on))))
      : h("p", { class: "empty" }, "No pinned answers yet. Pin an answer to keep it here."));
  } catch (error) {
    clear(body, errorNotice(error));
  }
}

// ---- the cited passage -------------------------------------------------------------------------

function sourcePanel() {
  const title = h("h2", { id: uid("source-title"), tabindex: "-1" }, "Source");
  const body = h("div", { class: "body" });
  let opener = null;
  const close = (restoreFocus = true) => {
    element.hidden = true;
    if (restoreFocus && opener?.isConnected) opener.focus();
  };
  const element = h("aside", { class: "source-panel", hidden: true, "aria-labelledby": title.id },
    h("header", {}, title, h("button", { type: "button", class: "ghost", "aria-label": "Close source", onclick: () => close() }, "✕")),
    body);
  element.addEventListener("keydown", (event) => {
    if (event.key === "Escape") close();
  });

  const open = (payload, number, from) => {
    const point = dataPoint(payload, number);
    if (!point) return;
    opener = from;
    title.textContent = `Source [${number}]`;
    const openPage = h("button", { type: "button", class: "primary", onclick: () => openDocument(point) },
      point.page ? `Open page ${point.page}` : "Open document");
    clear(body,
      h("dl", {},
        h("dt", {}, "Document"), h("dd", {}, point.document_name),
        h("dt", {}, "Page"), h("dd", {}, point.page ? String(point.page) : "—"),
        h("dt", {}, "Relevance"), h("dd", {}, point.score !== undefined ? point.score.toFixed(3) : "—")),
      h("h3", {}, "Cited passage"),
      h("div", { class: "passage" }, highlight(point.content, citingSentences(payload, number))),
      h("div", { class: "actions" }, openPage));
    element.hidden = false;
    title.focus();
  };
  return { element, open, close };
}

/** The answer's sentences that cite source `number`, without their markers. */
function citingSentences(payload, number) {
  const chars = Array.from(payload.answer || "");
  return (payload.groundedness_scores || [])
    .map((s) => chars.slice(s.start_idx, s.end_idx).join(""))
    .filter((text) => text.includes(`[${number}]`))
    .map((text) => text.replace(/\[\d+\]/g, "").replace(/^\s*[-*]\s+/, "").replace(/\s+([.,;:!?])/g, "$1").trim())
    .filter((text) => text.length > 12);
}

/** The passage with the sentences the answer drew from marked. */
function highlight(content, sentences) {
  const ranges = [];
  const lower = content.toLowerCase();
  for (const sentence of sentences) {
    // Try the sentence, then without its final punctuation (the answer may add one).
    for (const candidate of [sentence, sentence.replace(/[.!?]$/, "")]) {
      const at = lower.indexOf(candidate.toLowerCase());
      if (at >= 0) {
        ranges.push([at, at + candidate.length]);
        break;
      }
    }
  }
  ranges.sort((a, b) => a[0] - b[0]);
  const parts = [];
  let at = 0;
  for (const [start, end] of ranges) {
    if (start < at) continue;
    parts.push(content.slice(at, start), h("mark", {}, content.slice(start, end)));
    at = end;
  }
  parts.push(content.slice(at));
  return parts;
}

async function openDocument(point) {
  // Open the tab during the click (popup blockers), then point it at the fetched document.
  const tab = window.open("", "_blank");
  try {
    const blob = await documentBlob(point.document_id);
    const url = URL.createObjectURL(blob);
    const target = blob.type === "application/pdf" && point.page ? `${url}#page=${point.page}` : url;
    if (tab) tab.location.href = target;
    else window.location.assign(target);
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  } catch (error) {
    if (tab) tab.close();
    toast(error.message, "error");
  }
}

// Corpora: the list, and one corpus with drag-and-drop upload, per-document progress through
// the ingestion stages (Document Polling), failures with their reason, duplicate warnings
// (Check Duplicate Documents), tags and reindexing.

import { api, query, uploadWithProgress } from "../api.js";
import {
  announce, checkbox, clear, confirmDialog, errorNotice, field, fmtNumber, formDialog, h, loading,
  pageHead, plural, select, table, timeEl, toast, uid,
} from "../dom.js";

const STAGES = ["queued", "parsing", "chunking", "embedding", "indexing", "completed"];
const FINAL = new Set(["completed", "failed", "cancelled"]);
const POLL_MS = 1000;
const PAGE_SIZE = 25;

export async function render(main, [corpusId]) {
  return corpusId ? renderCorpus(main, Number(corpusId)) : renderList(main);
}

// ---- the list ------------------------------------------------------------------------------

async function renderList(main) {
  const listBox = h("div", {}, loading());
  const create = h("button", { type: "button", class: "primary", onclick: () => createCorpus() }, "New corpus");
  main.append(pageHead("Corpora", "Document collections that agents answer from.", create), listBox);
  const data = await api.get("/v2/api/corpus?items_per_page=500");
  clear(listBox, table([
    { label: "Name", cell: (c) => h("a", { href: `#/corpora/${c.id}` }, c.name) },
    { label: "Description", class: "hide-sm", cell: (c) => c.description || h("span", { class: "muted" }, "—") },
    { label: "Tags", class: "hide-sm", cell: (c) => h("div", { class: "tags" }, c.tags.map((t) => h("span", { class: "tag plain" }, t))) },
    { label: "Visibility", cell: (c) => h("span", { class: "badge" }, c.is_public ? "Public" : "Private") },
    { label: "Created", class: "hide-sm", cell: (c) => timeEl(c.created_on, false) },
  ], data.corpora, { caption: plural(data.count, "corpus", "corpora"), empty: "No corpora yet. Create one, then drop documents into it." }));
}

function createCorpus() {
  formDialog({
    title: "New corpus",
    submitLabel: "Create corpus",
    fields: [
      field("Name", h("input", { name: "name", required: true, maxlength: "255" })),
      field("Description", h("textarea", { name: "description", rows: "3" })),
      field("Tags", h("input", { name: "tags", placeholder: "hr, policies" }), "Separate tags with commas."),
      checkbox("Everyone in the organisation can read it", { name: "is_public" }),
    ],
    onSubmit: async (form) => {
      const corpus = await api.post("/v2/api/corpus", {
        name: form.get("name").trim(),
        description: form.get("description"),
        tags: splitTags(form.get("tags")),
        is_public: form.get("is_public") === "on",
      });
      toast(`Created ${corpus.name}`);
      location.hash = `#/corpora/${corpus.id}`;
    },
  });
}

function splitTags(text) {
  return (text || "").split(",").map((t) => t.trim()).filter(Boolean);
}

// ---- one corpus ----------------------------------------------------------------------------

async function renderCorpus(main, corpusId) {
  let corpus = await api.get(`/v2/api/corpus/${corpusId}`);
  const timers = new Set();
  const filters = { page: 1, status: "", query: "" };
  const tagsBox = h("div", { class: "tags" });
  const documentsBox = h("div", {}, loading());
  const uploads = h("ul", { class: "uploads", "aria-label": "Uploads" });

  const reindex = h("button", { type: "button", onclick: async () => {
    if (!(await confirmDialog(`Reindex every document of ${corpus.name}? The current chunks stay searchable until each document is done.`, { confirmLabel: "Reindex", danger: false }))) return;
    try {
      const result = await api.post(`/v2/api/corpus/${corpusId}/refresh`);
      toast(`${plural(result.count, "document")} queued for reindexing`);
      loadDocuments();
    } catch (error) {
      toast(error.message, "error");
    }
  } }, "Reindex all");
  const remove = h("button", { type: "button", class: "danger", onclick: async () => {
    if (!(await confirmDialog(`Delete the corpus ${corpus.name}? Agents stop answering from it.`))) return;
    try {
      await api.del(`/v2/api/corpus/${corpusId}`);
      toast(`Deleted ${corpus.name}`);
      location.hash = "#/corpora";
    } catch (error) {
      toast(error.message, "error");
    }
  } }, "Delete corpus");

  function showTags() {
    clear(tagsBox, h("span", { class: "muted small-text" }, "Tags:"), tagChips(corpus.tags, {
      label: corpus.name,
      onRemove: (tag) => annotate(corpus.tags.filter((t) => t !== tag)),
      onAdd: (tags) => annotate([...corpus.tags, ...tags]),
    }));
  }
  async function annotate(tags) {
    corpus = await api.put(`/v2/api/corpus/${corpusId}/annotate`, { tags: [...new Set(tags)] });
    showTags();
    announce("Corpus tags saved.");
  }

  // Drag and drop, or the file picker (the keyboard and screen-reader way in).
  const picker = h("input", { type: "file", multiple: true, id: uid("files"), class: "visually-hidden" });
  const dropzone = h("div", { class: "dropzone" },
    h("p", { class: "big" }, "Drop files here to add them"),
    h("p", { class: "muted" }, "PDF, Word, PowerPoint, Excel, HTML, Markdown or text."),
    h("p", {}, h("label", { for: picker.id, class: "button primary" }, "Choose files"), picker));
  picker.addEventListener("change", () => {
    addFiles([...picker.files]);
    picker.value = "";
  });
  dropzone.addEventListener("dragover", (event) => {
    event.preventDefault();
    dropzone.classList.add("over");
  });
  dropzone.addEventListener("dragleave", () => dropzone.classList.remove("over"));
  dropzone.addEventListener("drop", (event) => {
    event.preventDefault();
    dropzone.classList.remove("over");
    addFiles([...event.dataTransfer.files]);
  });

  let queue = Promise.resolve();
  function addFiles(files) {
    for (const file of files) {
      const item = uploadItem(file);
      uploads.prepend(item.element);
      // One upload at a time; indexing progress is polled for all of them at once.
      queue = queue.then(() => uploadOne(file, item)).catch(() => {});
    }
  }

  async function uploadOne(file, item) {
    item.status("Checking for duplicates…");
    const duplicates = await findDuplicates(corpusId, file).catch(() => []);
    if (duplicates.length && !(await item.confirmDuplicate(duplicates))) {
      item.skipped();
      return;
    }
    const form = new FormData();
    form.append("content_type", "file");
    form.append("upload_from", "web");
    form.append("source", file, file.name);
    let documentRow;
    try {
      documentRow = await uploadWithProgress(`/v2/api/corpus/${corpusId}/document`, form, (share) => item.uploading(share));
    } catch (error) {
      item.failed(error.message);
      return;
    }
    item.polling({ status: documentRow.status, progress: 0 });
    poll(documentRow.id, item);
  }

  function poll(documentId, item) {
    const tick = async () => {
      timers.delete(timer);
      let state;
      try {
        state = await api.get(`/v2/api/document/${documentId}/polling`);
      } catch (error) {
        item.failed(error.message);
        return;
      }
      item.polling(state);
      if (FINAL.has(state.status)) {
        loadDocuments();
        return;
      }
      timer = setTimeout(tick, POLL_MS);
      timers.add(timer);
    };
    let timer = setTimeout(tick, 300);
    timers.add(timer);
  }

  let tableTimer = null;
  async function loadDocuments() {
    clearTimeout(tableTimer);
    let data;
    try {
      data = await api.get(`/v2/api/corpus/${corpusId}/document${query({ page: filters.page, items_per_page: PAGE_SIZE, status: filters.status, query: filters.query })}`);
    } catch (error) {
      clear(documentsBox, errorNotice(error));
      return;
    }
    const pager = data.num_pages > 1 ? h("div", { class: "pager" },
      h("button", { type: "button", disabled: filters.page <= 1, onclick: () => { filters.page -= 1; loadDocuments(); } }, "Previous"),
      h("span", {}, `Page ${data.current_page} of ${data.num_pages}`),
      h("button", { type: "button", disabled: filters.page >= data.num_pages, onclick: () => { filters.page += 1; loadDocuments(); } }, "Next")) : null;
    clear(documentsBox, documentsTable(data, { corpusId, reload: loadDocuments }), pager);
    // Keep reindexing documents' statuses current.
    if (data.documents.some((d) => !FINAL.has(d.status))) tableTimer = setTimeout(loadDocuments, 2000);
  }

  const search = h("input", { type: "search", placeholder: "Search by name" });
  const statusFilter = select([["", "Any status"], ...STAGES.map((s) => [s, s]), ["failed", "failed"], ["cancelled", "cancelled"]]);
  let searchTimer;
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => { filters.query = search.value.trim(); filters.page = 1; loadDocuments(); }, 250);
  });
  statusFilter.addEventListener("change", () => { filters.status = statusFilter.value; filters.page = 1; loadDocuments(); });

  main.append(
    h("p", { class: "small-text" }, h("a", { href: "#/corpora" }, "← All corpora")),
    pageHead(corpus.name, corpus.description || null, reindex, remove),
    tagsBox,
    h("section", { class: "section", "aria-labelledby": "upload-title" },
      h("div", { class: "section-title" }, h("h2", { id: "upload-title" }, "Add documents")), dropzone, uploads),
    h("section", { "aria-labelledby": "documents-title" },
      h("div", { class: "section-title" }, h("h2", { id: "documents-title" }, "Documents")),
      h("div", { class: "filters" }, field("Search", search), field("Status", statusFilter)),
      documentsBox));
  showTags();
  await loadDocuments();
  return () => {
    for (const timer of timers) clearTimeout(timer);
    clearTimeout(tableTimer);
    clearTimeout(searchTimer);
  };
}

async function sha256(file) {
  // crypto.subtle exists only in secure contexts (https or localhost); names are checked anyway.
  if (!globalThis.crypto?.subtle || file.size > 256 * 1024 * 1024) return null;
  const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Live documents of the corpus with the same content or name (Check Duplicate Documents). */
async function findDuplicates(corpusId, file) {
  const hash = await sha256(file);
  const result = await api.post(`/v2/api/corpus/${corpusId}/document/duplicates`,
    { names: [file.name], ...(hash ? { hashes: [hash] } : {}) });
  const found = new Map();
  for (const entry of [...(result.hashes || []), ...(result.names || [])]) {
    for (const doc of entry.duplicates) {
      if (!found.has(doc.id)) found.set(doc.id, { ...doc, sameContent: Boolean(entry.hash) });
    }
  }
  return [...found.values()];
}

function uploadItem(file) {
  const badge = h("span", { class: "badge" }, "Waiting");
  const message = h("div", { class: "small-text muted", role: "status" });
  const progress = h("progress", { max: "1", value: "0", "aria-label": `Progress of ${file.name}` });
  const stages = h("ol", { class: "stages", "aria-label": "Ingestion stages" }, STAGES.map((s) => h("li", {}, s)));
  const extra = h("div");
  const element = h("li", { class: "upload" },
    h("div", { class: "line" }, h("span", { class: "name" }, file.name), h("span", { class: "muted small-text" }, sizeText(file.size)), badge),
    progress, stages, message, extra);
  const setBadge = (text, kind) => {
    badge.textContent = text;
    badge.className = `badge ${kind || ""}`;
  };
  const markStages = (status) => {
    const at = STAGES.indexOf(status);
    [...stages.children].forEach((li, i) => {
      li.className = i < at || status === "completed" ? "done" : i === at ? "current" : "";
    });
  };
  return {
    element,
    status(text) {
      message.textContent = text;
    },
    uploading(share) {
      setBadge(`Uploading ${Math.round(share * 100)}%`, "accent");
      progress.value = share * 0.1;
      message.textContent = "Uploading…";
    },
    polling(state) {
      progress.value = state.status === "queued" ? Math.max(progress.value, 0.1) : 0.1 + 0.9 * (state.progress || 0);
      if (!FINAL.has(state.status) || state.status === "completed") markStages(state.status);
      if (state.status === "completed") {
        setBadge("Indexed", "ok");
        message.textContent = [state.page_count ? plural(state.page_count, "page") : null,
          plural(state.chunk_count, "chunk"), plural(state.token_count, "token")].filter(Boolean).join(", ");
        announce(`${file.name} is indexed.`);
      } else if (state.status === "failed" || state.status === "cancelled") {
        // Stages that finished have a timing; it failed in the next one (queued is stage 0).
        const reached = STAGES.slice(1).filter((stage) => state.stage_timings?.[stage] !== undefined).length;
        markStages(STAGES[Math.min(reached + 1, STAGES.length - 2)]);
        this.failed(state.status_reason || `Ingestion ${state.status}.`, state.status);
      } else {
        setBadge(state.status === "queued" ? "Queued" : `${state.status[0].toUpperCase()}${state.status.slice(1)}…`, "accent");
        message.textContent = state.status_reason || "";
      }
    },
    failed(reason, status = "failed") {
      setBadge(status === "cancelled" ? "Cancelled" : "Failed", "error");
      // The stage it failed in: the one under way, else the first not done.
      const stage = stages.querySelector(".current") || stages.querySelector("li:not(.done)");
      if (stage) stage.className = "failed";
      progress.value = 1;
      clear(message);
      clear(extra, h("div", { class: "notice error", role: "alert" }, `${file.name}: ${reason}`));
    },
    skipped() {
      setBadge("Skipped");
      progress.value = 0;
      message.textContent = "Not uploaded: it is already in this corpus.";
      clear(extra);
    },
    confirmDuplicate(duplicates) {
      setBadge("Duplicate?", "warn");
      message.textContent = "";
      return new Promise((resolve) => {
        const choose = (answer) => () => {
          clear(extra);
          resolve(answer);
        };
        const upload = h("button", { type: "button", class: "small", onclick: choose(true) }, "Upload anyway");
        clear(extra, h("div", { class: "notice warn", role: "alert" },
          h("p", {}, duplicates.some((d) => d.sameContent)
            ? "A document with the same content is already in this corpus:"
            : "A document with the same name is already in this corpus:"),
          h("ul", {}, duplicates.map((d) => h("li", {}, `${d.name} (${d.status}, added `, timeEl(d.created_on, false), ")"))),
          h("div", { class: "actions" }, upload, h("button", { type: "button", class: "small", onclick: choose(false) }, "Skip"))));
        upload.focus();
      });
    },
  };
}

function sizeText(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function statusBadge(doc) {
  const kind = doc.status === "completed" ? "ok" : doc.status === "failed" || doc.status === "cancelled" ? "error" : "accent";
  return h("span", { class: `badge ${kind}` }, doc.status === "completed" ? "indexed" : doc.status);
}

function documentsTable(data, { corpusId, reload }) {
  const refresh = (doc) => async () => {
    try {
      await api.post(`/v2/api/document/${doc.id}/refresh`);
      toast(`${doc.name} queued for reindexing`);
      reload();
    } catch (error) {
      toast(error.message, "error");
    }
  };
  const remove = (doc) => async () => {
    if (!(await confirmDialog(`Delete ${doc.name}? Its passages stop being used at once.`))) return;
    try {
      await api.del(`/v2/api/corpus/${corpusId}/document`, { document_ids: [doc.id] });
      toast(`Deleted ${doc.name}`);
      reload();
    } catch (error) {
      toast(error.message, "error");
    }
  };
  const editTags = (doc) => ({
    label: doc.name,
    onRemove: async (tag) => { await api.put(`/v2/api/document/${doc.id}/tags`, { remove: [tag] }); reload(); },
    onAdd: async (tags) => { await api.put(`/v2/api/document/${doc.id}/tags`, { add: tags }); reload(); },
  });
  return table([
    { label: "Name", cell: (d) => h("div", {}, h("div", {}, d.name),
      d.status === "failed" && d.status_reason ? h("div", { class: "error-text small-text" }, d.status_reason) : null) },
    { label: "Status", cell: statusBadge },
    { label: "Pages", num: true, class: "hide-sm", cell: (d) => fmtNumber(d.page_count) },
    { label: "Chunks", num: true, class: "hide-sm", cell: (d) => fmtNumber(d.chunk_count) },
    { label: "Tags", cell: (d) => tagChips(d.tags, editTags(d)) },
    { label: "Added", class: "hide-sm", cell: (d) => timeEl(d.created_on) },
    { label: "Actions", cell: (d) => h("div", { class: "actions" },
      h("button", { type: "button", class: "small", onclick: refresh(d), "aria-label": `Reindex ${d.name}` }, "Reindex"),
      h("button", { type: "button", class: "small danger", onclick: remove(d), "aria-label": `Delete ${d.name}` }, "Delete")) },
  ], data.documents, { caption: plural(data.count, "document"), empty: "No documents match." });
}

/** Tag chips with remove buttons and an "add" button that asks for new tags. */
function tagChips(tags, { label, onAdd, onRemove }) {
  const wrap = (action) => async (...args) => {
    try {
      await action(...args);
    } catch (error) {
      toast(error.message, "error");
    }
  };
  return h("div", { class: "tags" },
    tags.map((tag) => h("span", { class: "tag" }, tag,
      h("button", { type: "button", "aria-label": `Remove tag ${tag} from ${label}`, onclick: () => wrap(onRemove)(tag) }, "×"))),
    h("button", { type: "button", class: "small ghost", "aria-label": `Add tags to ${label}`, onclick: () => formDialog({
      title: `Add tags to ${label}`,
      submitLabel: "Add",
      fields: [field("Tags", h("input", { name: "tags", required: true }), "Separate tags with commas.")],
      onSubmit: async (form) => onAdd(splitTags(form.get("tags"))),
    }) }, "+ Tag"));
}

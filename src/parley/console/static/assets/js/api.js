// The console is a client of Parley's own APIs: the Ejento V2 surface (login tokens as Bearer)
// and, for usage records, the Parley-native /parley/v1 endpoints.

const SESSION_KEY = "parley.console.session";

class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

export const auth = {
  get() {
    try {
      return JSON.parse(localStorage.getItem(SESSION_KEY));
    } catch {
      return null;
    }
  },
  set(session) {
    localStorage.setItem(SESSION_KEY, JSON.stringify(session));
  },
  clear() {
    localStorage.removeItem(SESSION_KEY);
  },
};

function messageOf(status, body) {
  // Each surface has its own error shape.
  const message = body?.message || body?.error?.message
    || (typeof body?.detail === "string" ? body.detail : null);
  if (message) return message;
  if (status === 0) return "The server could not be reached.";
  return `The request failed (HTTP ${status}).`;
}

async function readBody(response) {
  const type = response.headers.get("content-type") || "";
  if (!type.includes("json")) return null;
  try {
    return await response.json();
  } catch {
    return null;
  }
}

let refreshing = null;

/** Trade the refresh token for new tokens once, however many requests hit a 401 at once. */
function refreshTokens() {
  const session = auth.get();
  if (!session?.refresh_token) return Promise.resolve(false);
  refreshing ??= fetch("/v2/api/auth/refresh", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh_token: session.refresh_token }),
  }).then(async (response) => {
    const body = await readBody(response);
    if (!response.ok || !body?.data?.access_token) return false;
    auth.set({ ...session, ...body.data, user: session.user });
    return true;
  }).catch(() => false).finally(() => { refreshing = null; });
  return refreshing;
}

function signedOut() {
  auth.clear();
  window.dispatchEvent(new CustomEvent("parley:signed-out"));
}

function authHeaders(extra = {}) {
  const session = auth.get();
  return session ? { Authorization: `Bearer ${session.access_token}`, ...extra } : { ...extra };
}

/** fetch with the login token; a 401 refreshes the tokens once and retries. */
async function authedFetch(path, { method = "GET", json, form, headers = {}, signal } = {}) {
  const init = () => {
    const options = { method, signal, headers: authHeaders(headers) };
    if (json !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(json);
    } else if (form !== undefined) {
      options.body = form;
    }
    return options;
  };
  let response;
  try {
    response = await fetch(path, init());
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, messageOf(0, null), null);
  }
  if (response.status === 401 && auth.get()) {
    if (await refreshTokens()) {
      response = await fetch(path, init());
    }
    if (response.status === 401) signedOut();
  }
  return response;
}

async function request(method, path, options = {}) {
  const response = await authedFetch(path, { ...options, method });
  const body = await readBody(response);
  if (!response.ok) throw new ApiError(response.status, messageOf(response.status, body), body);
  // Ejento answers in {success, message, data}; Parley's own endpoints answer bare.
  return body && typeof body === "object" && "success" in body && "data" in body ? body.data : body;
}

export const api = {
  get: (path, options) => request("GET", path, options),
  post: (path, json, options) => request("POST", path, { ...options, json }),
  put: (path, json, options) => request("PUT", path, { ...options, json }),
  del: (path, json, options) => request("DELETE", path, { ...options, json }),
  form: (path, form, method = "POST") => request(method, path, { form }),
};

/** Query string from an object, leaving out empty values; arrays become repeated keys. */
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === null || value === undefined || value === "") continue;
    for (const item of Array.isArray(value) ? value : [value]) search.append(key, String(item));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

export async function login(email, password) {
  const response = await fetch("/v2/api/auth/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email, password }),
  }).catch(() => null);
  if (!response) throw new ApiError(0, messageOf(0, null), null);
  const body = await readBody(response);
  if (!response.ok) throw new ApiError(response.status, messageOf(response.status, body), body);
  auth.set(body.data);
  return body.data.user;
}

export async function logout() {
  try {
    await request("POST", "/v2/api/auth/logout");
  } finally {
    auth.clear();
  }
}

/** Parse a Server-Sent Events stream from a fetch response, calling onEvent(name, data). */
async function readEvents(response, onEvent) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  const dispatch = (block) => {
    let name = "message";
    const data = [];
    for (const line of block.split(/\r\n|\r|\n/)) {
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const fieldName = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (fieldName === "event") name = value;
      else if (fieldName === "data") data.push(value);
    }
    if (!data.length) return;
    let parsed;
    try {
      parsed = JSON.parse(data.join("\n"));
    } catch {
      parsed = data.join("\n");
    }
    onEvent(name, parsed);
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let match;
    while ((match = /\r\n\r\n|\n\n|\r\r/.exec(buffer))) {
      dispatch(buffer.slice(0, match.index));
      buffer = buffer.slice(match.index + match[0].length);
    }
  }
  if (buffer.trim()) dispatch(buffer);
}

/** POST a question to the response service's streaming endpoint. */
export async function streamAnswer(agentId, body, onEvent, signal) {
  const response = await authedFetch(`/response-service/api/v2/agents/${agentId}/responses/stream`, {
    method: "POST",
    json: body,
    headers: { Accept: "text/event-stream" },
    signal,
  });
  if (!response.ok) {
    const errorBody = await readBody(response);
    throw new ApiError(response.status, messageOf(response.status, errorBody), errorBody);
  }
  await readEvents(response, onEvent);
}

/** Upload a file as multipart form data, reporting upload progress (fetch cannot). */
export function uploadWithProgress(path, form, onProgress) {
  const send = () => new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    for (const [key, value] of Object.entries(authHeaders())) xhr.setRequestHeader(key, value);
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch { /* not JSON */ }
      resolve({ status: xhr.status, body });
    });
    xhr.addEventListener("error", () => resolve({ status: 0, body: null }));
    xhr.send(form);
  });
  return send().then(async (result) => {
    if (result.status === 401 && (await refreshTokens())) result = await send();
    if (result.status < 200 || result.status >= 300) {
      if (result.status === 401) signedOut();
      throw new ApiError(result.status, messageOf(result.status, result.body), result.body);
    }
    return result.body.data;
  });
}

/** The stored bytes of a document, as a blob (for opening a cited page). */
export async function documentBlob(documentId) {
  const response = await authedFetch(`/v2/api/document/${documentId}/content`);
  if (!response.ok) {
    const body = await readBody(response);
    throw new ApiError(response.status, messageOf(response.status, body), body);
  }
  return response.blob();
}

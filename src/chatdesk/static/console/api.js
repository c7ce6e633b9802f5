// The JSON API client: session cookie + X-CSRF-Token on unsafe methods.

export class ApiError extends Error {
  constructor(status, code, message, details, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
    this.retryAfter = retryAfter;
  }
}

let csrfToken = document.querySelector('meta[name="csrf-token"]')?.getAttribute("content") || "";

export function setCsrfToken(token) {
  csrfToken = token || "";
}

/** The header an unsafe request made without api() carries (an upload). */
export function csrfHeader() {
  return { "X-CSRF-Token": csrfToken };
}

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** An API field name as words: "allowed_origins.0" -> "Allowed origins". */
export function fieldWords(loc) {
  const parts = (loc || []).filter((part) => part !== "body" && part !== "query");
  const named = parts.filter((part) => !/^\d+$/.test(part));
  const text = named.join(" ").replaceAll("_", " ").replaceAll(".", " ");
  return text ? text[0].toUpperCase() + text.slice(1) : "";
}

function describe(body, status) {
  const error = body?.error;
  if (!error) return `The server answered ${status}.`;
  if (error.code === "validation_error" && Array.isArray(error.details) && error.details.length) {
    const first = error.details[0];
    const field = fieldWords(first.loc);
    return field ? `${field}: ${first.msg}` : first.msg;
  }
  return error.message || `The server answered ${status}.`;
}

/** fetch() a JSON endpoint; resolves to the parsed body (null for 204), throws ApiError. */
export async function api(method, path, body, { signal, redirectOn401 = true } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (UNSAFE.has(method)) headers["X-CSRF-Token"] = csrfToken;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      signal,
    });
  } catch (error) {
    if (error && error.name === "AbortError") throw error;
    throw new ApiError(0, "network_error", "Cannot reach the server. Check your connection.");
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    if (response.status === 401 && redirectOn401) goToLogin();
    const retry = Number(response.headers.get("Retry-After")) || undefined;
    let message = describe(data, response.status);
    if (response.status === 429) {
      message = `Too many requests; try again in ${retry || "a few"} seconds.`;
    }
    throw new ApiError(
      response.status,
      data?.error?.code || "error",
      message,
      data?.error?.details,
      retry,
    );
  }
  return data;
}

// Set while signing out: the sign-out itself goes to the sign-in page, and a stream
// that its ending cut off must not race it there with a ``next`` of its own.
let signingOut = false;

export function signingOutNow() {
  signingOut = true;
}

export function goToLogin() {
  if (signingOut) return;
  const here = location.pathname;
  const next =
    here.startsWith("/admin") && here !== "/admin/login" ? `?next=${encodeURIComponent(here)}` : "";
  location.assign(`/admin/login${next}`);
}

/**
 * Handle a server-rendered form here. Its submit buttons are rendered disabled (and the
 * form as ``method="post"``): submitted before this script ran, the browser would send
 * it as a plain form, passwords and all, in the address's query. ``enableNow: false``
 * for a form whose fields are filled in later: its caller enables the buttons then.
 */
export function handleSubmit(form, handler, { enableNow = true } = {}) {
  if (!form) return;
  form.addEventListener("submit", handler);
  if (!enableNow) return;
  for (const button of form.querySelectorAll("button[data-needs-script]")) button.disabled = false;
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, value);
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

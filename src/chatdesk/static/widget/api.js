// The visitor API over fetch: JSON in and out, the token in a header (never in a URL).

export class ApiError extends Error {
  constructor(status, code, message, retryAfter, details = null) {
    super(message);
    this.status = status; // 0: the network failed
    this.code = code;
    this.retryAfter = retryAfter; // seconds, from Retry-After on a 429
    this.details = details; // e.g. {reason: "blocked"} on a 403
  }

  get blocked() {
    return this.status === 403 && this.details?.reason === "blocked";
  }

  get transient() {
    return this.status === 0 || this.status === 429 || this.status >= 500;
  }
}

export async function errorFrom(response) {
  let error = {};
  try {
    error = (await response.json()).error || {};
  } catch {
    // not JSON: keep the status alone
  }
  const retry = Number(response.headers.get("Retry-After")) || 0;
  return new ApiError(
    response.status,
    error.code || `http_${response.status}`,
    error.message || "",
    retry,
    error.details && typeof error.details === "object" ? error.details : null,
  );
}

export function makeApi(session) {
  return async function api(method, path, body, { signal } = {}) {
    const headers = { Accept: "application/json" };
    if (session.token) headers.Authorization = `Bearer ${session.token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit",
        cache: "no-store",
        signal,
      });
    } catch (error) {
      if (error && error.name === "AbortError") throw error;
      throw new ApiError(0, "network", "The network is unreachable.", 0);
    }
    if (!response.ok) {
      const error = await errorFrom(response);
      if (error.status === 401 && session.token) session.onUnauthorized();
      throw error;
    }
    return response.status === 204 || response.status === 202 ? null : response.json();
  };
}

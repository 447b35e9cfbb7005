// The admin API client (docs/admin-api.md): every request carries `Authorization: Bearer
// <token>`; a 401 or 403 is reported to the app (back to sign-in) and thrown as an ApiError like
// any other non-2xx answer. The token lives in sessionStorage (this tab only), never elsewhere.

const kTokenKey = 'sipwsAdmin.token';

/** A non-2xx answer: `status`, the server's `{"error", "field"}` when it sent one. */
export class ApiError extends Error {
  constructor(status, body, text) {
    const msg = (body && body.error) || text || `HTTP ${status}`;
    super(msg);
    this.status = status;
    this.field = (body && body.field) || '';
    this.body = body;
  }
}

export function loadToken() {
  try {
    return sessionStorage.getItem(kTokenKey) || '';
  } catch {
    return '';
  }
}

export function saveToken(token) {
  try {
    if (token) sessionStorage.setItem(kTokenKey, token);
    else sessionStorage.removeItem(kTokenKey);
  } catch {
    // No storage: the token lasts until the page is reloaded.
  }
}

/** `/api/v1/` + the path segments, each percent-encoded (an AOR's `@` stays readable). */
export function apiPath(...segments) {
  return `/api/v1/${segments.map((s) => encodeURIComponent(String(s)).replace(/%40/g, '@')).join('/')}`;
}

/** A query string of the non-empty values of `params` (object or URLSearchParams), with `?`. */
export function queryString(params) {
  const q = new URLSearchParams();
  const entries = params instanceof URLSearchParams ? params.entries() : Object.entries(params);
  for (const [k, v] of entries) {
    if (v !== undefined && v !== null && String(v) !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

/**
 * @param {object} o
 * @param {() => string} o.token  the token to send
 * @param {(status: number) => void} o.onAuthFailure  401 (wrong token) or 403 (API off)
 */
export function createApi({ token, onAuthFailure }) {
  /**
   * One request. @returns {Promise<{status, headers, json, text, blob}>} for a 2xx answer
   * (`blob` instead of text with `as: 'blob'`). @throws ApiError otherwise; TypeError when
   * the server cannot be reached; AbortError when `signal` aborts.
   */
  async function request(method, path, { body, signal, as = 'json', authToken } = {}) {
    const headers = { Authorization: `Bearer ${authToken ?? token()}` };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const r = await fetch(path, {
      method, headers, signal, cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (r.ok && as === 'blob') return { status: r.status, headers: r.headers, blob: await r.blob() };
    const text = await r.text();
    let json;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (!r.ok) {
      const err = new ApiError(r.status, json, text.trim().slice(0, 200));
      if ((r.status === 401 || r.status === 403) && authToken === undefined) onAuthFailure(r.status);
      throw err;
    }
    return { status: r.status, headers: r.headers, json, text };
  }
  return {
    request,
    get: (path, o) => request('GET', path, o),
    post: (path, body, o) => request('POST', path, { ...o, body }),
    put: (path, body, o) => request('PUT', path, { ...o, body }),
    del: (path, o) => request('DELETE', path, o),
  };
}

/** The text an operator reads for an error of a request (an ApiError, a network failure...). */
export function describeError(err) {
  if (err instanceof ApiError) {
    if (err.status === 401) return 'Wrong token: sign in again.';
    if (err.status === 403) return 'The admin API is disabled: set admin_token in the sipws configuration.';
    if (err.status === 503) return `The store is unavailable (${err.message}); try again.`;
    return `${err.message}${err.field ? ` (${err.field})` : ''} [${err.status}]`;
  }
  if (err && err.name === 'TypeError') return `Cannot reach sipws: ${err.message}`;
  return String((err && err.message) || err);
}

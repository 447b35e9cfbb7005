// The admin API as tests call it (docs/admin-api.md).

/** The admin_token the admin tests start sipws with. */
export const kAdminToken = 'test-admin-token-0123456789abcdef';

/**
 * A request to daemon `d`'s admin listener; resolves with {status, headers, json, text}.
 * `token` null sends no Authorization; `body` is sent as JSON, `rawBody` as it is.
 */
export async function adminApi(d, method, path, { body, token = kAdminToken, rawBody } = {}) {
  const headers = {};
  if (token !== null) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined || rawBody !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(`http://127.0.0.1:${d.ports.admin}${path}`, {
    method, headers, body: rawBody ?? (body === undefined ? undefined : JSON.stringify(body)),
  });
  const text = await r.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {}
  return { status: r.status, headers: r.headers, json, text };
}

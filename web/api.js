// The monitor's read-only JSON API, as the views read it.

/** The JSON at `path`; an error with the API's message when it refuses. */
export async function api(path) {
  const res = await fetch(path, { headers: { accept: 'application/json' } });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error ?? `${res.status} ${res.statusText}`);
  return body;
}

// The API over fetch with the signed-in key (sessionStorage: gone when the tab closes).

const KEY = "ssnas_api_key";

export class ApiError extends Error {
  constructor(status, message) { super(`HTTP ${status}: ${message}`); this.status = status; this.detail = message; }
}

export const auth = {
  get key() { return sessionStorage.getItem(KEY); },
  set(key) { sessionStorage.setItem(KEY, key); },
  clear() { sessionStorage.removeItem(KEY); },
};

async function message(r) {
  try {
    const body = await r.json();
    const d = body.detail;
    if (typeof d === "string") return d;
    if (Array.isArray(d)) return d.map((x) => `${(x.loc || []).join(".")}: ${x.msg}`).join("; ");
    return JSON.stringify(body);
  } catch { return r.statusText || "error"; }
}

// fetch a path of the API; 401 signs out; other non-2xx (except those in ok) throw ApiError
export async function api(path, { method = "GET", json, body, headers = {}, ok = [], key } = {}) {
  const h = { ...headers, Authorization: `Bearer ${key || auth.key}` };
  if (json !== undefined) { h["Content-Type"] = "application/json"; body = JSON.stringify(json); }
  const r = await fetch(path, { method, headers: h, body, cache: "no-store" });
  if (r.ok || ok.includes(r.status)) return r;
  const msg = await message(r);
  if (r.status === 401 && !key) { auth.clear(); location.hash = "#/signin"; }
  throw new ApiError(r.status, msg);
}

export const getJson = async (path, opts) => (await api(path, opts)).json();

// GET /jobs/{id} with If-None-Match: {job: null} while unchanged (304), else the job and its new ETag
export async function pollJob(id, etag) {
  const r = await api(`/jobs/${encodeURIComponent(id)}`, { headers: etag ? { "If-None-Match": etag } : {}, ok: [304] });
  if (r.status === 304) return { job: null, etag };
  return { job: await r.json(), etag: r.headers.get("ETag") };
}

// every row of a cursor route (/metrics, /logs) after `after`
export async function cursorAll(path, after = 0) {
  const items = [];
  for (;;) {
    const page = await getJson(`${path}?after=${after}&limit=1000`);
    items.push(...page.items);
    if (!page.items.length) return { items, after };
    after = page.next_after;
  }
}

// all pages of a paged list (/jobs, /datasets)
export async function listAll(path, extra = "") {
  const items = [];
  for (let offset = 0; ; offset += 1000) {
    const page = await getJson(`${path}?limit=1000&offset=${offset}${extra}`);
    items.push(...page.items);
    if (items.length >= page.total || !page.items.length) return items;
  }
}

export async function blobUrl(path) {
  return URL.createObjectURL(await (await api(path)).blob());
}

// The one door to the server. The admin key is sent once (sign-in) and then
// forgotten: every later call rides the HttpOnly session cookie, and every
// mutation carries the session's CSRF token, kept in memory only.

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public requestId?: string,
  ) {
    super(message);
  }
}

let csrf: string | null = null;
let onSignedOut: () => void = () => {};

export function setSignedOutHandler(f: () => void) {
  onSignedOut = f;
}

export function hasSession() {
  return csrf !== null;
}

type Opts = { method?: string; body?: unknown; query?: Record<string, string | number | boolean | undefined | null> };

export function url(path: string, query?: Opts["query"]) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

async function raw(path: string, opts: Opts = {}): Promise<Response> {
  const method = opts.method ?? "GET";
  const headers: Record<string, string> = { Accept: "application/json" };
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD" && csrf) headers["X-CSRF-Token"] = csrf;
  const r = await fetch(url(path, opts.query), {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    credentials: "same-origin",
  });
  if (!r.ok) {
    let code = "error", message = `${r.status} ${r.statusText}`, rid: string | undefined;
    try {
      const j = await r.json();
      if (j && typeof j.error === "object") ({ code, message, request_id: rid } = j.error);
      else if (j && typeof j.error === "string") {
        code = j.error;
        message = j.error_description ?? j.message ?? j.error;
      }
    } catch {
      /* not JSON */
    }
    if (r.status === 401 && path !== "/api/v1/admin/session") {
      csrf = null;
      onSignedOut();
    }
    throw new ApiError(r.status, code, message, rid);
  }
  return r;
}

export async function api<T = any>(path: string, opts: Opts = {}): Promise<T> {
  const r = await raw(path, opts);
  if (r.status === 204) return undefined as T;
  return (await r.json()) as T;
}

export async function apiText(path: string, opts: Opts = {}): Promise<{ text: string; headers: Headers }> {
  const r = await raw(path, opts);
  return { text: await r.text(), headers: r.headers };
}

export async function signIn(adminKey: string) {
  const s = await api<{ csrf_token: string; expires_at: string }>("/api/v1/admin/session", {
    method: "POST",
    body: { admin_key: adminKey },
  });
  csrf = s.csrf_token;
  return s;
}

// A reloaded page still holds the cookie: ask for the CSRF token again.
export async function resume() {
  try {
    const s = await api<{ csrf_token: string; expires_at: string }>("/api/v1/admin/session");
    csrf = s.csrf_token;
    return s;
  } catch {
    csrf = null;
    return null;
  }
}

export async function signOut() {
  try {
    await api("/api/v1/admin/session", { method: "DELETE" });
  } finally {
    csrf = null;
  }
}

// Listings answer {data|items, total?, next_cursor?}.
export function rowsOf(page: any): any[] {
  if (Array.isArray(page)) return page;
  return page?.data ?? page?.items ?? [];
}

// Whether the server can count a destructive action before doing it: the
// OpenAPI document it serves gives that operation a dry_run parameter. Asked
// once; a server without the document, or without dry runs for the
// operation, gets a confirmation without counts (never a request that would
// act). The YAML parser loads only when a confirmation first opens.
let doc: Promise<any> | null = null;
export async function supportsDryRun(path: string, method: string): Promise<boolean> {
  doc ??= fetch("/api/openapi.yaml", { credentials: "same-origin" })
    .then(async (r) => {
      if (!r.ok) return null;
      const [{ parse }, text] = await Promise.all([import("yaml"), r.text()]);
      return parse(text, { maxAliasCount: -1 });
    })
    .catch(() => null);
  return hasDryRun(await doc, path, method);
}

export function hasDryRun(spec: any, path: string, method: string): boolean {
  const item = spec?.paths?.[path];
  if (!item || typeof item !== "object") return false;
  const resolve = (p: any) => {
    const ref = typeof p?.$ref === "string" && p.$ref.match(/^#\/components\/parameters\/(.+)$/);
    return ref ? spec?.components?.parameters?.[ref[1]] : p;
  };
  const params = [...(item.parameters ?? []), ...(item[method.toLowerCase()]?.parameters ?? [])];
  return params.map(resolve).some((p: any) => p?.name === "dry_run" && p?.in === "query");
}

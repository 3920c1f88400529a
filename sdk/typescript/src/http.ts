// The one place requests are sent: JSON or form bodies, the two error
// envelopes mapped to typed errors, and retries where they are safe
// (idempotent requests answered 429 or 503 with a Retry-After).
import {
  AuthenticationError, NotFoundError, OAuthError, RateLimitError, SharkError, VaultError,
  type SharkErrorOptions,
} from './errors.js'

export interface TransportOptions {
  baseUrl: string
  /** Sent as "Authorization: Bearer <token>" unless a call names its own. */
  token?: string | undefined
  /** Retries of an idempotent request answered 429/503 with Retry-After (default 2). */
  maxRetries?: number | undefined
  /** Per-request timeout in milliseconds (default 30000). */
  timeoutMs?: number | undefined
}

/** Longest Retry-After honoured, in seconds; a longer wait is the caller's to decide. */
const MAX_RETRY_DELAY = 10

/** Which error envelope a route answers with. */
export type Surface = 'api' | 'oauth' | 'vault'

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined | null> | undefined
  json?: unknown
  form?: Record<string, string | undefined | null> | undefined
  headers?: Record<string, string> | undefined
  /** The Authorization header value; null sends none. Default: Bearer <token>. */
  authorization?: string | null | undefined
  surface?: Surface | undefined
  /** Overrides the method's idempotency (GET, HEAD, PUT and DELETE are). */
  idempotent?: boolean | undefined
}

export interface HttpResult {
  status: number
  headers: Headers
  text: string
  json: any
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export function trimBase(url: string): string {
  if (typeof url !== 'string' || !/^https?:\/\//i.test(url)) {
    throw new TypeError(`baseUrl must be an http(s) URL, got ${JSON.stringify(url)}`)
  }
  return url.replace(/\/+$/, '')
}

/** Retry-After in seconds (delta-seconds or an HTTP date), or undefined. */
export function retryAfterSeconds(h: Headers): number | undefined {
  const v = h.get('retry-after')
  if (v === null) return undefined
  if (/^\d+$/.test(v.trim())) return Number(v.trim())
  const t = Date.parse(v)
  return Number.isNaN(t) ? undefined : Math.max(0, Math.ceil((t - Date.now()) / 1000))
}

/** The typed error for a failed answer. */
export function errorFor(res: HttpResult, surface: Surface): SharkError {
  const body = res.json
  const base: SharkErrorOptions = { statusCode: res.status, body }
  let code: string | undefined
  let message: string | undefined
  if (body && typeof body === 'object') {
    if (typeof body.error === 'string') {
      code = body.error
      message = typeof body.error_description === 'string' ? body.error_description : undefined
    } else if (body.error && typeof body.error === 'object') {
      code = typeof body.error.code === 'string' ? body.error.code : undefined
      message = typeof body.error.message === 'string' ? body.error.message : undefined
      if (typeof body.error.request_id === 'string') base.requestId = body.error.request_id
    }
  }
  base.requestId ??= res.headers.get('x-request-id') ?? undefined
  if (code !== undefined) base.code = code
  const text = message ?? code ?? (res.text.slice(0, 200) || `HTTP ${res.status}`)
  if (surface === 'vault') return new VaultError(text, res.status, base)
  if (surface === 'oauth' && code !== undefined && typeof body?.error === 'string') {
    if (res.status === 429) {
      return new RateLimitError(text, { ...base, retryAfter: retryAfterSeconds(res.headers) })
    }
    return new OAuthError(code, message, { ...base, wwwAuthenticate: res.headers.get('www-authenticate') ?? undefined })
  }
  if (res.status === 401) return new AuthenticationError(text, base)
  if (res.status === 404) return new NotFoundError(text, base)
  if (res.status === 429) return new RateLimitError(text, { ...base, retryAfter: retryAfterSeconds(res.headers) })
  return new SharkError(text, base)
}

function encodeForm(form: Record<string, string | undefined | null>): string {
  const p = new URLSearchParams()
  for (const [k, v] of Object.entries(form)) if (v !== undefined && v !== null) p.set(k, v)
  return p.toString()
}

export class Transport {
  readonly baseUrl: string
  readonly token: string | undefined
  readonly maxRetries: number
  readonly timeoutMs: number

  constructor(options: TransportOptions) {
    this.baseUrl = trimBase(options.baseUrl)
    this.token = options.token
    this.maxRetries = options.maxRetries ?? 2
    this.timeoutMs = options.timeoutMs ?? 30_000
  }

  url(path: string, query?: RequestOptions['query']): string {
    const u = new URL(this.baseUrl + path)
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v !== undefined && v !== null) u.searchParams.set(k, String(v))
    }
    return u.href
  }

  /** Sends one request (with the retries above); never throws for a status. */
  async send(method: string, path: string, o: RequestOptions = {}): Promise<HttpResult> {
    const headers: Record<string, string> = { accept: 'application/json', ...o.headers }
    const auth = o.authorization === undefined ? (this.token ? `Bearer ${this.token}` : null) : o.authorization
    if (auth !== null) headers.authorization = auth
    let body: string | undefined
    if (o.json !== undefined) {
      headers['content-type'] = 'application/json'
      body = JSON.stringify(o.json)
    } else if (o.form !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded'
      body = encodeForm(o.form)
    }
    const idempotent = o.idempotent ?? ['GET', 'HEAD', 'PUT', 'DELETE'].includes(method)
    const url = this.url(path, o.query)
    for (let attempt = 0; ; attempt++) {
      let r: Response
      try {
        r = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(this.timeoutMs) })
      } catch (e) {
        // Connection refused, reset, timed out: an idempotent request may go again.
        if (idempotent && attempt < this.maxRetries) {
          await sleep(250 * 2 ** attempt)
          continue
        }
        throw new SharkError(`cannot reach ${this.baseUrl}: ${(e as Error).cause ?? (e as Error).message}`, { body: e })
      }
      const text = await r.text()
      let json: unknown = null
      try { json = text ? JSON.parse(text) : null } catch { /* not JSON */ }
      const res = { status: r.status, headers: r.headers, text, json }
      const wait = retryAfterSeconds(r.headers)
      if (idempotent && (r.status === 429 || r.status === 503) && wait !== undefined &&
          wait <= MAX_RETRY_DELAY && attempt < this.maxRetries) {
        await sleep(wait * 1000 + 50)
        continue
      }
      return res
    }
  }

  /** send(), then the body of a 2xx answer, else the typed error. */
  async call(method: string, path: string, o: RequestOptions = {}): Promise<any> {
    const res = await this.send(method, path, o)
    if (res.status < 200 || res.status >= 300) throw errorFor(res, o.surface ?? 'api')
    return res.json
  }
}

/** A path segment, percent-encoded (ids never change the route). */
export function seg(id: string): string {
  if (typeof id !== 'string' || id === '') throw new TypeError('an id must be a non-empty string')
  return encodeURIComponent(id)
}

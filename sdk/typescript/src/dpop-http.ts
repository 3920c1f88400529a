// HTTP calls to a resource server with a DPoP-bound token: each request gets
// a fresh proof binding htm, htu and ath, and a use_dpop_nonce challenge
// (RFC 9449 §9) is answered once with the server's nonce.
import { withNonceRetry, type DPoPProver } from './dpop.js'
import { SharkError } from './errors.js'
import { trimBase } from './http.js'

export interface DPoPGetOptions {
  token: string
  prover: DPoPProver
  /** Query parameters. */
  params?: Record<string, string | number | boolean | undefined> | undefined
  headers?: Record<string, string> | undefined
}

export interface DPoPDeleteOptions {
  token: string
  prover: DPoPProver
  headers?: Record<string, string> | undefined
}

export interface DPoPBodyOptions {
  token: string
  prover: DPoPProver
  /** A JSON body (sets content-type). */
  json?: unknown
  /** A form body (an object, form-encoded) or a raw body sent as is. */
  data?: Record<string, string> | string | Uint8Array<ArrayBuffer> | undefined
  headers?: Record<string, string> | undefined
}

export type DPoPRequestOptions = DPoPGetOptions & DPoPBodyOptions

/** A response, with raiseForStatus() and json() as in the Python SDK. */
export class DPoPResponse {
  readonly status: number
  readonly headers: Headers
  readonly url: string
  readonly #text: string

  /** @internal */
  constructor(status: number, headers: Headers, url: string, text: string) {
    this.status = status
    this.headers = headers
    this.url = url
    this.#text = text
  }

  get ok(): boolean {
    return this.status >= 200 && this.status < 300
  }

  text(): string {
    return this.#text
  }

  json(): any {
    return JSON.parse(this.#text)
  }

  /** Throws SharkError (with statusCode and the WWW-Authenticate challenge in the message) unless 2xx. */
  raiseForStatus(): this {
    if (!this.ok) {
      const challenge = this.headers.get('www-authenticate')
      throw new SharkError(`HTTP ${this.status} from ${this.url}${challenge ? ` (${challenge})` : ''}`, {
        statusCode: this.status, body: this.#text,
      })
    }
    return this
  }
}

export class DPoPHTTPClient {
  readonly baseUrl: string
  readonly #timeoutMs: number

  constructor(options: { baseUrl: string, timeoutMs?: number | undefined }) {
    this.baseUrl = trimBase(options.baseUrl)
    this.#timeoutMs = options.timeoutMs ?? 30_000
  }

  async requestWithDpop(method: string, path: string, options: DPoPRequestOptions): Promise<DPoPResponse> {
    if (!options?.token || !options.prover) throw new TypeError('a DPoP request needs { token, prover }')
    const u = new URL(/^https?:\/\//i.test(path) ? path : this.baseUrl + (path.startsWith('/') ? path : `/${path}`))
    for (const [k, v] of Object.entries(options.params ?? {})) if (v !== undefined) u.searchParams.set(k, String(v))
    const headers: Record<string, string> = { ...options.headers, authorization: `DPoP ${options.token}` }
    let body: string | Uint8Array<ArrayBuffer> | undefined
    if (options.json !== undefined) {
      headers['content-type'] = 'application/json'
      body = JSON.stringify(options.json)
    } else if (typeof options.data === 'string' || options.data instanceof Uint8Array) {
      body = options.data
    } else if (options.data !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded'
      body = new URLSearchParams(options.data).toString()
    }
    const m = method.toUpperCase()
    const res = await withNonceRetry(options.prover, m, u.href, options.token, async (proof: string) => {
      let r: Response
      try {
        r = await fetch(u, { method: m, headers: { ...headers, dpop: proof }, body, signal: AbortSignal.timeout(this.#timeoutMs) })
      } catch (e) {
        throw new SharkError(`cannot reach ${u.origin}: ${(e as Error).cause ?? (e as Error).message}`, { body: e })
      }
      const text = await r.text()
      let json: unknown = null
      try { json = JSON.parse(text) } catch { /* not JSON */ }
      return { status: r.status, headers: r.headers, text, json }
    })
    return new DPoPResponse(res.status, res.headers, u.href, res.text)
  }

  getWithDpop(path: string, options: DPoPGetOptions): Promise<DPoPResponse> {
    return this.requestWithDpop('GET', path, options)
  }

  postWithDpop(path: string, options: DPoPBodyOptions): Promise<DPoPResponse> {
    return this.requestWithDpop('POST', path, options)
  }

  putWithDpop(path: string, options: DPoPBodyOptions): Promise<DPoPResponse> {
    return this.requestWithDpop('PUT', path, options)
  }

  patchWithDpop(path: string, options: DPoPBodyOptions): Promise<DPoPResponse> {
    return this.requestWithDpop('PATCH', path, options)
  }

  deleteWithDpop(path: string, options: DPoPDeleteOptions): Promise<DPoPResponse> {
    return this.requestWithDpop('DELETE', path, options)
  }
}

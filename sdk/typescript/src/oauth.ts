// The OAuth 2.1 endpoints (/oauth/*): client credentials with and without
// DPoP, token exchange (RFC 8693), refresh, the device flow (RFC 8628),
// introspection (RFC 7662), revocation (RFC 7009); and the admin's bulk
// revocation by client-id pattern.
import { withNonceRetry, type DPoPProver } from './dpop.js'
import { b64urlDecode } from './encoding.js'
import { OAuthError } from './errors.js'
import { Transport, errorFor, type HttpResult, type TransportOptions } from './http.js'
import {
  toIntrospection, type BulkRevokeResult, type DeviceAuthorization, type IntrospectionResult, type TokenResponse,
} from './types.js'

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange'
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code'
export const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token'

export interface OAuthClientOptions extends Omit<TransportOptions, 'token'> {
  /** The admin key, for bulkRevokeByPattern (and introspection without client credentials). */
  token?: string | undefined
  /** Default client credentials for the calls that authenticate a client. */
  clientId?: string | undefined
  clientSecret?: string | undefined
}

interface Creds { clientId?: string | undefined, clientSecret?: string | undefined }

/** The payload of a JWT, unverified; null when the string is not a JWT. */
export function decodeJwtPayload(jwt: string): Record<string, any> | null {
  const parts = typeof jwt === 'string' ? jwt.split('.') : []
  if (parts.length !== 3) return null
  try {
    const v = JSON.parse(new TextDecoder().decode(b64urlDecode(parts[1] as string)))
    return v && typeof v === 'object' && !Array.isArray(v) ? v : null
  } catch {
    return null
  }
}

function toTokenResponse(j: any): TokenResponse {
  const claims = decodeJwtPayload(j.access_token) ?? {}
  return {
    accessToken: j.access_token,
    tokenType: j.token_type,
    expiresIn: typeof j.expires_in === 'number' ? j.expires_in : null,
    scope: typeof j.scope === 'string' ? j.scope : null,
    refreshToken: typeof j.refresh_token === 'string' ? j.refresh_token : null,
    idToken: typeof j.id_token === 'string' ? j.id_token : null,
    issuedTokenType: typeof j.issued_token_type === 'string' ? j.issued_token_type : null,
    cnfJkt: typeof claims.cnf?.jkt === 'string' ? claims.cnf.jkt : null,
    act: claims.act && typeof claims.act === 'object' ? claims.act : null,
    raw: j,
  }
}

// RFC 6749 §2.3.1: each part form-urlencoded, then base64.
function basic(id: string, secret: string): string {
  const enc = (s: string) => encodeURIComponent(s).replace(/%20/g, '+')
  const raw = new TextEncoder().encode(`${enc(id)}:${enc(secret)}`)
  let bin = ''
  for (const b of raw) bin += String.fromCharCode(b)
  return `Basic ${btoa(bin)}`
}

export class OAuthClient {
  readonly #http: Transport
  readonly #token: string | undefined
  readonly #clientId: string | undefined
  readonly #clientSecret: string | undefined

  /** new OAuthClient({ baseUrl }) — or new OAuthClient(baseUrl), as the spec's Python writes it. */
  constructor(options: OAuthClientOptions | string) {
    const o: OAuthClientOptions = typeof options === 'string' ? { baseUrl: options } : options
    this.#http = new Transport({ baseUrl: o.baseUrl, maxRetries: o.maxRetries, timeoutMs: o.timeoutMs })
    this.#token = o.token
    this.#clientId = o.clientId
    this.#clientSecret = o.clientSecret
  }

  /** @internal */
  get tokenEndpoint(): string {
    return this.#http.url('/oauth/token')
  }

  // Client authentication: client_secret_basic with a secret, else the
  // client_id in the form (a public client).
  #auth(c: Creds, form: Record<string, string | undefined>): string | null {
    const id = c.clientId ?? this.#clientId
    const secret = c.clientId !== undefined ? c.clientSecret : (c.clientSecret ?? this.#clientSecret)
    if (id === undefined) throw new TypeError('a clientId is needed (in the call or the OAuthClient)')
    if (secret === undefined) {
      form.client_id = id
      return null
    }
    return basic(id, secret)
  }

  async #tokenRequest(form: Record<string, string | undefined>, c: Creds, prover?: DPoPProver): Promise<TokenResponse> {
    const authorization = this.#auth(c, form)
    const send = (proof?: string) => this.#http.send('POST', '/oauth/token', {
      form, authorization, headers: proof ? { dpop: proof } : {}, idempotent: false,
    })
    const res: HttpResult = prover
      ? await withNonceRetry(prover, 'POST', this.tokenEndpoint, undefined, send)
      : await send()
    if (res.status !== 200) throw errorFor(res, 'oauth')
    const t = toTokenResponse(res.json)
    if (prover && t.cnfJkt !== null && t.cnfJkt !== prover.jkt) {
      throw new OAuthError('invalid_token', 'the issued token is bound to another key than the prover', { statusCode: res.status })
    }
    return t
  }

  /** A DPoP-bound token (RFC 9449) by client credentials, bound to dpopProver's key. */
  async getTokenWithDpop(options: {
    grantType?: 'client_credentials' | undefined
    dpopProver: DPoPProver
    clientId?: string | undefined
    clientSecret?: string | undefined
    scope?: string | undefined
    audience?: string | undefined
    resource?: string | undefined
  }): Promise<TokenResponse> {
    if (!options?.dpopProver) throw new TypeError('getTokenWithDpop needs dpopProver')
    const grant = options.grantType ?? 'client_credentials'
    if (grant !== 'client_credentials') {
      throw new TypeError(`unsupported grantType ${JSON.stringify(grant)}: use client_credentials (refresh() for refresh tokens)`)
    }
    return this.#tokenRequest({ grant_type: grant, scope: options.scope, resource: options.resource, audience: options.audience },
      options, options.dpopProver)
  }

  /** client_credentials without DPoP: a bearer token. */
  async getToken(options: { clientId?: string | undefined, clientSecret?: string | undefined, scope?: string | undefined, resource?: string | undefined, audience?: string | undefined } = {}): Promise<TokenResponse> {
    return this.#tokenRequest({ grant_type: 'client_credentials', scope: options.scope, resource: options.resource, audience: options.audience }, options)
  }

  /** RFC 8693: exchanges subjectToken for a token acting for its subject (act names the client). */
  async tokenExchange(options: {
    subjectToken: string
    dpopProver?: DPoPProver | undefined
    scope?: string | undefined
    audience?: string | undefined
    resource?: string | undefined
    actorToken?: string | undefined
    clientId?: string | undefined
    clientSecret?: string | undefined
  }): Promise<TokenResponse> {
    if (!options?.subjectToken) throw new TypeError('tokenExchange needs subjectToken')
    return this.#tokenRequest({
      grant_type: TOKEN_EXCHANGE_GRANT, subject_token: options.subjectToken, subject_token_type: ACCESS_TOKEN_TYPE,
      actor_token: options.actorToken, actor_token_type: options.actorToken ? ACCESS_TOKEN_TYPE : undefined,
      scope: options.scope, audience: options.audience, resource: options.resource,
    }, options, options.dpopProver)
  }

  /** Refresh grant; pass dpopProver for a DPoP-bound refresh token. */
  async refresh(options: { refreshToken: string, scope?: string | undefined, dpopProver?: DPoPProver | undefined, clientId?: string | undefined, clientSecret?: string | undefined }): Promise<TokenResponse> {
    return this.#tokenRequest({ grant_type: 'refresh_token', refresh_token: options.refreshToken, scope: options.scope }, options, options.dpopProver)
  }

  /** RFC 8628 §3.1: a device code and the user code to show. */
  async deviceAuthorization(options: { clientId?: string | undefined, clientSecret?: string | undefined, scope?: string | undefined } = {}): Promise<DeviceAuthorization> {
    const form: Record<string, string | undefined> = { scope: options.scope }
    const authorization = this.#auth(options, form)
    const j = await this.#http.call('POST', '/oauth/device_authorization', { form, authorization, surface: 'oauth', idempotent: false })
    return {
      deviceCode: j.device_code, userCode: j.user_code, verificationUri: j.verification_uri,
      verificationUriComplete: j.verification_uri_complete ?? null, expiresIn: j.expires_in, interval: j.interval ?? 5,
    }
  }

  /**
   * RFC 8628 §3.4: polls until the user decides. authorization_pending
   * waits the interval, slow_down adds 5 s; access_denied, expired_token
   * and the rest are thrown as OAuthError; so is running past timeoutMs.
   */
  async pollDeviceToken(options: { deviceCode: string, interval?: number | undefined, timeoutMs?: number | undefined, dpopProver?: DPoPProver | undefined, clientId?: string | undefined, clientSecret?: string | undefined }): Promise<TokenResponse> {
    let interval = options.interval ?? 5
    const deadline = Date.now() + (options.timeoutMs ?? 600_000)
    for (;;) {
      try {
        return await this.#tokenRequest({ grant_type: DEVICE_CODE_GRANT, device_code: options.deviceCode }, options, options.dpopProver)
      } catch (e) {
        if (!(e instanceof OAuthError) || (e.error !== 'authorization_pending' && e.error !== 'slow_down')) throw e
        if (e.error === 'slow_down') interval += 5
        if (Date.now() + interval * 1000 > deadline) throw new OAuthError('expired_token', 'gave up polling: timeoutMs passed')
        await new Promise((r) => setTimeout(r, interval * 1000))
      }
    }
  }

  /** RFC 7662, with client credentials (a resource server agent) or else the admin key. */
  async introspect(token: string, options: { clientId?: string | undefined, clientSecret?: string | undefined } = {}): Promise<IntrospectionResult> {
    const form: Record<string, string | undefined> = { token }
    const hasClient = (options.clientId ?? this.#clientId) !== undefined
    const authorization = hasClient ? this.#auth(options, form) : (this.#token ? `Bearer ${this.#token}` : null)
    return toIntrospection(await this.#http.call('POST', '/oauth/introspect', { form, authorization, surface: 'oauth', idempotent: true }))
  }

  /** RFC 7009: revokes a token the client holds (200 also for an unknown token, §2.2). */
  async revoke(token: string, options: { tokenTypeHint?: 'access_token' | 'refresh_token' | undefined, clientId?: string | undefined, clientSecret?: string | undefined } = {}): Promise<void> {
    const form: Record<string, string | undefined> = { token, token_type_hint: options.tokenTypeHint }
    const authorization = this.#auth(options, form)
    await this.#http.call('POST', '/oauth/revoke', { form, authorization, surface: 'oauth', idempotent: true })
  }

  /** Layer 4 (admin key): revokes every token of the clients whose id matches a GLOB (* and ?). */
  async bulkRevokeByPattern(options: { clientIdPattern: string, reason: string }): Promise<BulkRevokeResult> {
    if (!this.#token) throw new TypeError('bulkRevokeByPattern needs the admin key: new OAuthClient({ baseUrl, token })')
    const j = await this.#http.call('POST', '/api/v1/admin/oauth/revoke-by-pattern', {
      authorization: `Bearer ${this.#token}`, json: { client_id_pattern: options.clientIdPattern, reason: options.reason },
    })
    return { revokedCount: j.revoked_count, auditEventId: j.audit_event_id, patternMatched: j.pattern_matched }
  }
}

/** tokenExchange in one call: new OAuthClient({ baseUrl: authUrl }).tokenExchange(…). */
export async function exchangeToken(options: {
  authUrl: string
  subjectToken: string
  dpopProver?: DPoPProver | undefined
  scope?: string | undefined
  audience?: string | undefined
  resource?: string | undefined
  actorToken?: string | undefined
  clientId?: string | undefined
  clientSecret?: string | undefined
}): Promise<TokenResponse> {
  const { authUrl, ...rest } = options
  return new OAuthClient({ baseUrl: authUrl }).tokenExchange(rest)
}

// The resource-server helper: verifies a request to an API or MCP server —
// an RFC 9068 JWT access token against the issuer's JWKS (cached by jose),
// its DPoP proof (RFC 9449 §4.3 and §7), required scopes, and optionally
// revocation through introspection — and answers refusals with the right
// WWW-Authenticate, naming the RFC 9728 metadata it also serves.
import { EmbeddedJWK, calculateJwkThumbprint, decodeProtectedHeader, errors as joseErrors, jwtVerify } from 'jose'
import { VerifiedClaims } from './claims.js'
import { htuOf } from './dpop.js'
import { sha256b64url } from './encoding.js'
import { SharkError, TokenVerificationError } from './errors.js'
import { JWKSCache, verifyToken } from './jwks.js'
import { OAuthClient } from './oauth.js'

const PROOF_ALGS = ['ES256', 'EdDSA', 'Ed25519', 'RS256', 'PS256']

export interface ResourceServerOptions {
  /** The SharkAuth issuer (its base URL); tokens must carry it as iss. */
  issuer: string
  /** This resource's identifier (RFC 9728 resource, RFC 8707 resource indicator). */
  resource: string
  /** What tokens must name as aud (default: resource). */
  audience?: string | string[] | undefined
  /** Scopes every request needs (a call to verify or middleware may add more). */
  requiredScopes?: string[] | undefined
  /** scopes_supported of the metadata document (default: requiredScopes). */
  scopesSupported?: string[] | undefined
  /** true (default): only DPoP-bound tokens with a valid proof; false: bearer tokens too. */
  requireDpop?: boolean | undefined
  /**
   * Also check every token at the introspection endpoint, so a revoked
   * token is refused at once: with the credentials of an agent registered
   * with resourceServer: true, or with introspectionToken (the admin key).
   */
  introspect?: boolean | undefined
  introspectionClientId?: string | undefined
  introspectionClientSecret?: string | undefined
  introspectionToken?: string | undefined
  /** Where the issuer's keys are (default issuer + /.well-known/jwks.json). */
  jwksUrl?: string | undefined
  /** How far a proof's iat may be from now, in seconds (default 60). */
  dpopIatWindow?: number | undefined
  /** Seconds of clock skew allowed for the token's exp (default 30). */
  leeway?: number | undefined
  /** Where seen proof ids are kept (default: one per ResourceServer). */
  replayCache?: ReplayCache | undefined
  /** resource_name of the metadata document. */
  resourceName?: string | undefined
  /** This server's public base URL, for htu (default: the request's Host, over http). */
  publicBaseUrl?: string | undefined
  /** Timeout of the JWKS and introspection requests, in milliseconds (default 10000). */
  timeoutMs?: number | undefined
}

/** A request as any framework has it: Fetch API Request, or node/Express/Fastify request. */
export interface RequestLike {
  method?: string | undefined
  url?: string | undefined
  originalUrl?: string | undefined
  headers: Headers | Record<string, string | string[] | undefined>
}

/**
 * DPoP proof ids seen within their acceptance window (bounded). One per
 * process; resource servers behind a load balancer need a shared store:
 * extend it and override seen().
 */
export class ReplayCache {
  readonly maxEntries: number
  readonly #seen = new Map<string, number>()

  constructor(options: { maxEntries?: number | undefined } = {}) {
    this.maxEntries = options.maxEntries ?? 100_000
  }

  /** Records key until expiresAt (Unix seconds); true when it was already there. */
  seen(key: string, expiresAt: number): boolean {
    const now = Date.now() / 1000
    // Oldest first (insertion order): drop the expired, and the oldest when full.
    for (const [k, exp] of this.#seen) {
      if (exp > now && this.#seen.size < this.maxEntries) break
      this.#seen.delete(k)
    }
    const until = this.#seen.get(key)
    if (until !== undefined && until > now) return true
    this.#seen.set(key, expiresAt)
    return false
  }
}

function header(h: RequestLike['headers'], name: string): string[] {
  if (typeof (h as Headers).get === 'function') {
    const v = (h as Headers).get(name)
    return v === null ? [] : name === 'dpop' ? v.split(/\s*,\s*/) : [v]
  }
  const v = (h as Record<string, string | string[] | undefined>)[name]
  if (v === undefined) return []
  return Array.isArray(v) ? v : [v]
}

const quote = (s: string) => s.replace(/[\\"]/g, '\\$&')

export class ResourceServer {
  readonly issuer: string
  readonly resource: string
  readonly audience: string[]
  readonly requiredScopes: string[]
  readonly requireDpop: boolean
  readonly #jwks: JWKSCache
  readonly #o: ResourceServerOptions
  readonly #replay: ReplayCache
  readonly #introspector: OAuthClient | undefined

  constructor(options: ResourceServerOptions) {
    if (!options?.issuer || !options.resource) throw new TypeError('ResourceServer needs { issuer, resource }')
    this.#o = options
    this.issuer = options.issuer.replace(/\/+$/, '')
    this.resource = options.resource
    const aud = options.audience ?? options.resource
    this.audience = Array.isArray(aud) ? aud : [aud]
    this.requiredScopes = options.requiredScopes ?? []
    this.requireDpop = options.requireDpop ?? true
    this.#jwks = new JWKSCache(options.jwksUrl ?? `${this.issuer}/.well-known/jwks.json`, { timeoutMs: options.timeoutMs })
    this.#replay = options.replayCache ?? new ReplayCache()
    if (options.introspect) {
      if (!options.introspectionToken && !(options.introspectionClientId && options.introspectionClientSecret)) {
        throw new TypeError('introspect needs introspectionClientId and introspectionClientSecret, or introspectionToken')
      }
      this.#introspector = new OAuthClient({
        baseUrl: this.issuer, token: options.introspectionToken, timeoutMs: options.timeoutMs,
        clientId: options.introspectionClientId, clientSecret: options.introspectionClientSecret,
      })
    }
  }

  /** RFC 9728 §3.1: the metadata URL, /.well-known/oauth-protected-resource inserted before the resource's path. */
  get resourceMetadataUrl(): string {
    const u = new URL(this.resource)
    const path = u.pathname === '/' ? '' : u.pathname.replace(/\/+$/, '')
    return `${u.origin}/.well-known/oauth-protected-resource${path}`
  }

  /** The RFC 9728 protected-resource metadata document. */
  metadata(): Record<string, unknown> {
    const m: Record<string, unknown> = {
      resource: this.resource,
      authorization_servers: [this.issuer],
      bearer_methods_supported: ['header'],
      dpop_signing_alg_values_supported: ['ES256', 'EdDSA', 'RS256'],
      dpop_bound_access_tokens_required: this.requireDpop,
    }
    const scopes = this.#o.scopesSupported ?? this.requiredScopes
    if (scopes.length) m.scopes_supported = scopes
    if (this.#o.resourceName) m.resource_name = this.#o.resourceName
    return m
  }

  /**
   * The WWW-Authenticate value for a refusal (error undefined: no
   * credentials were sent, RFC 6750 §3.1), with resource_metadata (RFC 9728 §5.1).
   */
  wwwAuthenticate(error?: string, description?: string, scope?: string[]): string {
    return this.#challenge(error, description, scope, 'DPoP')
  }

  #challenge(error: string | undefined, description: string | undefined, scope: string[] | undefined, scheme: 'DPoP' | 'Bearer'): string {
    const parts: string[] = []
    if (error) parts.push(`error="${quote(error)}"`)
    if (description) parts.push(`error_description="${quote(description)}"`)
    if (scope?.length) parts.push(`scope="${quote(scope.join(' '))}"`)
    if (scheme === 'DPoP') parts.push('algs="ES256 EdDSA RS256"')
    parts.push(`resource_metadata="${quote(this.resourceMetadataUrl)}"`)
    if (!this.requireDpop && !error) {
      return `Bearer resource_metadata="${quote(this.resourceMetadataUrl)}", DPoP ${parts.join(', ')}`
    }
    return `${scheme} ${parts.join(', ')}`
  }

  #fail(status: number, error: string, description: string, scope?: string[], scheme: 'DPoP' | 'Bearer' = 'DPoP'): never {
    throw new TokenVerificationError(error, description, status, this.#challenge(error, description, scope, scheme))
  }

  #requestUrl(req: RequestLike): string {
    const raw = req.originalUrl ?? req.url ?? '/'
    const base = this.#o.publicBaseUrl?.replace(/\/+$/, '')
    if (/^https?:\/\//i.test(raw)) return base ? base + new URL(raw).pathname : raw
    if (base) return base + (raw.startsWith('/') ? raw : `/${raw}`)
    const host = header(req.headers, 'host')[0]
    if (!host) this.#fail(400, 'invalid_request', 'the request has no Host header and no publicBaseUrl is configured')
    return `http://${host}${raw.startsWith('/') ? raw : `/${raw}`}`
  }

  /**
   * Verifies a request; resolves to its claims or throws
   * TokenVerificationError (statusCode 401 or 403, wwwAuthenticate set).
   */
  async verify(req: RequestLike, options: { requiredScopes?: string[] | undefined } = {}): Promise<VerifiedClaims> {
    const authz = header(req.headers, 'authorization')
    if (authz.length === 0) this.#fail401NoToken()
    if (authz.length > 1) this.#fail(400, 'invalid_request', 'more than one Authorization header')
    const m = /^(DPoP|Bearer)[ ]+([A-Za-z0-9\-._~+/]+=*)$/i.exec((authz[0] as string).trim())
    if (!m) {
      if (!/^(DPoP|Bearer)\b/i.test(authz[0] as string)) this.#fail401NoToken()
      this.#fail(401, 'invalid_token', 'malformed Authorization header')
    }
    const scheme = (m[1] as string).toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer'
    const token = m[2] as string
    if (scheme === 'Bearer' && this.requireDpop) {
      this.#fail(401, 'invalid_token', 'this resource requires a DPoP-bound token (Authorization: DPoP)')
    }

    let verified: VerifiedClaims
    try {
      verified = await verifyToken(token, { issuer: this.issuer, audience: this.audience, jwks: this.#jwks, leeway: this.#o.leeway })
    } catch (e) {
      if (e instanceof SharkError && e.statusCode !== undefined) {
        throw new TokenVerificationError('temporarily_unavailable', 'the issuer\'s keys cannot be read', 503, this.#challenge(undefined, undefined, undefined, scheme))
      }
      const why = e instanceof joseErrors.JWTExpired ? 'the token has expired'
        : e instanceof joseErrors.JWTClaimValidationFailed ? `the token's ${e.claim} claim is not accepted here`
          : e instanceof joseErrors.JWSSignatureVerificationFailed || e instanceof SharkError ? 'the token signature does not verify'
            : 'the token is not a valid access token'
      this.#fail(401, 'invalid_token', why, undefined, scheme)
    }
    const claims = verified.raw

    const jkt = typeof claims.cnf?.jkt === 'string' ? claims.cnf.jkt as string : null
    if (jkt !== null && scheme === 'Bearer') {
      this.#fail(401, 'invalid_token', 'a DPoP-bound token must be sent with Authorization: DPoP', undefined, 'DPoP')
    }
    if (scheme === 'DPoP') {
      if (jkt === null) this.#fail(401, 'invalid_token', 'the token is not DPoP-bound')
      await this.#checkProof(req, token, jkt)
    }

    const scopes = ((claims.scope as string | undefined) ?? '').split(' ')
    const needed = [...this.requiredScopes, ...(options.requiredScopes ?? [])]
    const missing = needed.filter((s) => !scopes.includes(s))
    if (missing.length) this.#fail(403, 'insufficient_scope', `the token lacks the scope ${missing.join(' ')}`, needed, scheme)

    if (this.#introspector) {
      let active = false
      try {
        active = (await this.#introspector.introspect(token)).active
      } catch {
        // Not the client's fault: 503, so it retries rather than discards the token.
        throw new TokenVerificationError('temporarily_unavailable', 'the token could not be checked for revocation', 503,
          this.#challenge(undefined, undefined, undefined, scheme))
      }
      if (!active) this.#fail(401, 'invalid_token', 'the token has been revoked', undefined, scheme)
    }
    return verified
  }

  #fail401NoToken(): never {
    throw new TokenVerificationError('invalid_request', 'no access token was sent', 401, this.wwwAuthenticate())
  }

  async #checkProof(req: RequestLike, token: string, jkt: string): Promise<void> {
    const proofs = header(req.headers, 'dpop')
    if (proofs.length !== 1 || !proofs[0]) {
      this.#fail(401, 'invalid_dpop_proof', proofs.length ? 'exactly one DPoP proof is needed' : 'the DPoP proof is missing')
    }
    const proof = proofs[0] as string
    let p: Record<string, any>
    let protectedHeader: Record<string, any>
    try {
      const h = decodeProtectedHeader(proof)
      if (h.typ !== 'dpop+jwt') throw new Error('typ')
      if (!h.jwk || typeof h.jwk !== 'object' || 'd' in h.jwk || 'k' in h.jwk) throw new Error('jwk')
      const r = await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: PROOF_ALGS })
      p = r.payload as Record<string, any>
      protectedHeader = r.protectedHeader as Record<string, any>
    } catch {
      this.#fail(401, 'invalid_dpop_proof', 'the DPoP proof is not a valid dpop+jwt signed by its embedded public key')
    }
    const method = (req.method ?? 'GET').toUpperCase()
    if (p.htm !== method) this.#fail(401, 'invalid_dpop_proof', 'the proof htm does not match the request method')
    let htu: string
    try {
      htu = htuOf(String(p.htu))
    } catch {
      this.#fail(401, 'invalid_dpop_proof', 'the proof htu is not a URL')
    }
    if (htu !== htuOf(this.#requestUrl(req))) this.#fail(401, 'invalid_dpop_proof', 'the proof htu does not match the request URL')
    const window = this.#o.dpopIatWindow ?? 60
    const now = Math.floor(Date.now() / 1000)
    if (typeof p.iat !== 'number' || Math.abs(now - p.iat) > window) {
      this.#fail(401, 'invalid_dpop_proof', 'the proof iat is outside the accepted window')
    }
    if (typeof p.jti !== 'string' || p.jti.length < 8 || p.jti.length > 256) {
      this.#fail(401, 'invalid_dpop_proof', 'the proof jti is missing')
    }
    if (p.ath !== await sha256b64url(token)) this.#fail(401, 'invalid_dpop_proof', 'the proof ath does not match the access token')
    const thumb = await calculateJwkThumbprint(protectedHeader.jwk, 'sha256')
    if (thumb !== jkt) this.#fail(401, 'invalid_token', 'the token is bound to another key than the proof (cnf.jkt)')
    if (this.#replay.seen(`${thumb}:${p.jti}`, Math.max(p.iat, now) + window)) {
      this.#fail(401, 'invalid_dpop_proof', 'the proof was replayed (jti seen before)')
    }
  }

  /**
   * Express/Connect (req, res, next) or Fastify preHandler (request, reply,
   * done) middleware: verified claims go to req.auth; refusals are answered
   * here with a JSON error and WWW-Authenticate.
   */
  middleware(options: { requiredScopes?: string[] | undefined } = {}) {
    return (req: any, res: any, next?: (err?: unknown) => void): Promise<void> => {
      return this.verify(req, options).then((claims) => {
        req.auth = claims
        if (next) next()
      }, (e) => {
        if (!(e instanceof TokenVerificationError)) {
          if (next) { next(e); return }
          throw e
        }
        respond(res, e.statusCode ?? 401, { error: e.error, error_description: e.errorDescription }, { 'www-authenticate': e.wwwAuthenticate })
      })
    }
  }

  /** Serves the metadata at its well-known path(s); other requests go on to next. */
  metadataMiddleware() {
    const paths = new Set([new URL(this.resourceMetadataUrl).pathname, '/.well-known/oauth-protected-resource'])
    return (req: any, res: any, next?: () => void): void => {
      const path = String(req.originalUrl ?? req.url ?? '/').split('?')[0] as string
      if ((req.method ?? 'GET').toUpperCase() === 'GET' && paths.has(path)) {
        respond(res, 200, this.metadata(), { 'cache-control': 'max-age=300' })
        return
      }
      if (next) next()
    }
  }

  /** For Fetch API servers: a Response for a refusal, null when the request may go on (claims in the second slot). */
  async handle(request: Request, options: { requiredScopes?: string[] | undefined } = {}): Promise<[Response | null, VerifiedClaims | null]> {
    if (request.method === 'GET' && new Set([new URL(this.resourceMetadataUrl).pathname, '/.well-known/oauth-protected-resource']).has(new URL(request.url).pathname)) {
      return [Response.json(this.metadata()), null]
    }
    try {
      return [null, await this.verify(request, options)]
    } catch (e) {
      if (!(e instanceof TokenVerificationError)) throw e
      return [Response.json({ error: e.error, error_description: e.errorDescription },
        { status: e.statusCode ?? 401, headers: { 'www-authenticate': e.wwwAuthenticate } }), null]
    }
  }
}

function respond(res: any, status: number, body: unknown, headers: Record<string, string>): void {
  const text = JSON.stringify(body)
  if (typeof res.code === 'function' && typeof res.header === 'function' && typeof res.send === 'function') {
    res.code(status)
    for (const [k, v] of Object.entries(headers)) res.header(k, v)
    res.header('content-type', 'application/json')
    res.send(text)
    return
  }
  res.statusCode = status
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v)
  res.setHeader('content-type', 'application/json')
  res.setHeader('cache-control', headers['cache-control'] ?? 'no-store')
  res.end(text)
}

const shared = new Map<string, ResourceServer>()

/**
 * The framework-agnostic check: verifies req against options (those of
 * ResourceServer). The server behind it, with its JWKS and proof-replay
 * caches, is kept per configuration, so calling this per request is cheap.
 */
export async function verifyRequest(req: RequestLike, options: ResourceServerOptions): Promise<VerifiedClaims> {
  const { requiredScopes, replayCache, ...rest } = options
  const key = JSON.stringify(Object.entries(rest).sort())
  let rs = shared.get(key)
  if (!rs) {
    rs = new ResourceServer({ ...rest, replayCache })
    shared.set(key, rs)
  }
  return rs.verify(req, { requiredScopes })
}

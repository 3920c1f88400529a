// Verifying access tokens: the issuer's JWKS, cached, and verifyToken's
// RFC 9068 checks (typ at+jwt, iss, aud, exp, a key of the issuer).
import { decodeProtectedHeader, errors as joseErrors, importJWK, jwtVerify, type JWK } from 'jose'
import { VerifiedClaims } from './claims.js'
import { SharkError } from './errors.js'

export const TOKEN_ALGORITHMS = ['ES256', 'EdDSA', 'Ed25519', 'RS256']

/**
 * The issuer's JWKS, fetched on first use and kept maxAge seconds; a token
 * naming an unknown kid refetches it (a key rotation), at most once every
 * minRefreshInterval seconds.
 */
export class JWKSCache {
  readonly jwksUrl: string
  readonly #maxAge: number
  readonly #minRefresh: number
  readonly #timeoutMs: number
  #keys = new Map<string, JWK>()
  #fetchedAt = 0
  #inflight: Promise<void> | null = null

  constructor(jwksUrl: string, options: { maxAge?: number | undefined, minRefreshInterval?: number | undefined, timeoutMs?: number | undefined } = {}) {
    this.jwksUrl = jwksUrl
    this.#maxAge = options.maxAge ?? 300
    this.#minRefresh = options.minRefreshInterval ?? 30
    this.#timeoutMs = options.timeoutMs ?? 10_000
  }

  async #refresh(): Promise<void> {
    this.#inflight ??= (async () => {
      try {
        let r: Response
        try {
          r = await fetch(this.jwksUrl, { headers: { accept: 'application/json' }, signal: AbortSignal.timeout(this.#timeoutMs) })
        } catch (e) {
          throw new SharkError(`cannot reach the JWKS at ${this.jwksUrl}: ${(e as Error).message}`, { statusCode: 503 })
        }
        const body = await r.json().catch(() => null) as { keys?: JWK[] } | null
        if (r.status !== 200 || !Array.isArray(body?.keys)) {
          throw new SharkError(`cannot read the JWKS at ${this.jwksUrl} (HTTP ${r.status})`, { statusCode: 503 })
        }
        const keys = new Map<string, JWK>()
        for (const k of body.keys) if (typeof k.kid === 'string' && !('d' in k)) keys.set(k.kid, k)
        this.#keys = keys
        this.#fetchedAt = Date.now()
      } finally {
        this.#inflight = null
      }
    })()
    return this.#inflight
  }

  /** The public JWK with this kid; throws SharkError when the issuer has none. */
  async get(kid: string): Promise<JWK> {
    const age = (Date.now() - this.#fetchedAt) / 1000
    if (this.#fetchedAt === 0 || age > this.#maxAge || (!this.#keys.has(kid) && age > this.#minRefresh)) await this.#refresh()
    const k = this.#keys.get(kid)
    if (!k) throw new SharkError(`the issuer has no key ${JSON.stringify(kid)}`)
    return k
  }
}

const caches = new Map<string, JWKSCache>()

/**
 * Verifies an access token (RFC 9068): signature by a key of the issuer's
 * JWKS, typ at+jwt, iss, aud (one of audience), exp. Resolves to its claims;
 * throws jose's errors (JWTExpired, JWTClaimValidationFailed, …) or
 * SharkError for an unknown key. DPoP binding is the caller's to check
 * (ResourceServer does).
 */
export async function verifyToken(token: string, options: {
  issuer: string
  audience: string | string[]
  /** A JWKSCache, or a JWKS object { keys: [...] }; default: a cache of jwksUrl. */
  jwks?: JWKSCache | { keys: JWK[] } | undefined
  /** Default issuer + /.well-known/jwks.json. */
  jwksUrl?: string | undefined
  algorithms?: string[] | undefined
  /** Seconds of clock skew allowed for exp and nbf (default 30). */
  leeway?: number | undefined
  /** The time to check against, in Unix seconds (default now). */
  now?: number | undefined
}): Promise<VerifiedClaims> {
  const issuer = options.issuer.replace(/\/+$/, '')
  let jwks = options.jwks
  if (jwks === undefined) {
    const url = options.jwksUrl ?? `${issuer}/.well-known/jwks.json`
    jwks = caches.get(url) ?? new JWKSCache(url)
    caches.set(url, jwks)
  }
  const source = jwks
  const { kid, alg } = decodeProtectedHeader(token)
  if (typeof kid !== 'string' || typeof alg !== 'string') throw new joseErrors.JWSInvalid('the token names no kid or alg')
  const jwk = source instanceof JWKSCache ? await source.get(kid) : source.keys.find((k) => k.kid === kid)
  if (!jwk) throw new SharkError(`the JWKS has no key ${JSON.stringify(kid)}`)
  const key = await importJWK(jwk, alg)
  const { payload } = await jwtVerify(token, key, {
    issuer, audience: options.audience, typ: 'at+jwt', algorithms: options.algorithms ?? TOKEN_ALGORITHMS,
    requiredClaims: ['exp', 'iat', 'sub', 'jti', 'client_id'], clockTolerance: options.leeway ?? 30,
    currentDate: options.now === undefined ? undefined : new Date(options.now * 1000),
  })
  return VerifiedClaims.fromPayload(payload as Record<string, unknown>)
}

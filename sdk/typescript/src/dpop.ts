// DPoP (RFC 9449) proofs signed with a WebCrypto key pair. The private key
// is created non-extractable: it can sign, and nothing can read it out.
import { b64url, sha256b64url, utf8 } from './encoding.js'

export type PublicJwk =
  | { kty: 'EC', crv: 'P-256', x: string, y: string }
  | { kty: 'OKP', crv: 'Ed25519', x: string }

export interface ProofOptions {
  /** The access token the proof goes with: adds ath (RFC 9449 §4.2). */
  accessToken?: string | undefined
  /** A server nonce; by default the last one this prover saw from that origin. */
  nonce?: string | undefined
}

/** RFC 7638 SHA-256 thumbprint of an EC P-256 or OKP Ed25519 public JWK. */
export async function jwkThumbprint(jwk: { kty: string, crv?: string, x?: string, y?: string }): Promise<string> {
  if (jwk.kty === 'EC' && jwk.crv && jwk.x && jwk.y) {
    return sha256b64url(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }))
  }
  if (jwk.kty === 'OKP' && jwk.crv && jwk.x) return sha256b64url(JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x }))
  throw new TypeError('an EC or OKP public JWK is expected')
}

/** htu of a URL: scheme, host and path, without query or fragment (§4.2). */
export function htuOf(url: string): string {
  const u = new URL(url)
  return `${u.protocol}//${u.host}${u.pathname}`
}

export class DPoPProver {
  readonly publicJwk: PublicJwk
  /** RFC 7638 thumbprint of publicJwk: the cnf.jkt a bound token carries. */
  readonly jkt: string
  /** The JWS alg of the proofs: ES256 or EdDSA. */
  readonly alg: 'ES256' | 'EdDSA'
  readonly #privateKey: CryptoKey
  readonly #nonces = new Map<string, string>()

  private constructor(privateKey: CryptoKey, publicJwk: PublicJwk, jkt: string) {
    this.#privateKey = privateKey
    this.publicJwk = publicJwk
    this.jkt = jkt
    this.alg = publicJwk.kty === 'EC' ? 'ES256' : 'EdDSA'
  }

  /** A fresh key pair: alg "ES256" (P-256, the default) or "EdDSA" (Ed25519). The private key is not extractable. */
  static async generate(options: { alg?: 'ES256' | 'EdDSA' | undefined } = {}): Promise<DPoPProver> {
    const alg = options.alg ?? 'ES256'
    if (alg !== 'ES256' && alg !== 'EdDSA') throw new TypeError('alg must be ES256 or EdDSA')
    const pair = alg === 'ES256'
      ? await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify'])
      : await crypto.subtle.generateKey({ name: 'Ed25519' }, false, ['sign', 'verify']) as CryptoKeyPair
    return DPoPProver.fromKeyPair(pair)
  }

  /** A prover over an existing WebCrypto key pair (ECDSA P-256 or Ed25519; the private key may be non-extractable). */
  static async fromKeyPair(pair: CryptoKeyPair): Promise<DPoPProver> {
    const alg = pair.privateKey.algorithm as EcKeyAlgorithm
    const full = await crypto.subtle.exportKey('jwk', pair.publicKey)
    let publicJwk: PublicJwk
    if (alg.name === 'ECDSA' && alg.namedCurve === 'P-256') {
      publicJwk = { kty: 'EC', crv: 'P-256', x: full.x as string, y: full.y as string }
    } else if (alg.name === 'Ed25519') {
      publicJwk = { kty: 'OKP', crv: 'Ed25519', x: full.x as string }
    } else {
      throw new TypeError('an ECDSA P-256 or Ed25519 key pair is expected')
    }
    return new DPoPProver(pair.privateKey, publicJwk, await jwkThumbprint(publicJwk))
  }

  /** The public JWK (a copy), as publicJwk. */
  publicKeyJwk(): PublicJwk {
    return { ...this.publicJwk }
  }

  /** A proof for one request to htu with method htm: typ dpop+jwt, the public key in the header. */
  async makeProof(htm: string, htu: string, options: ProofOptions = {}): Promise<string> {
    const header = { typ: 'dpop+jwt', alg: this.alg, jwk: this.publicKeyJwk() }
    const payload: Record<string, unknown> = {
      jti: b64url(crypto.getRandomValues(new Uint8Array(16))),
      htm: htm.toUpperCase(),
      htu: htuOf(htu),
      iat: Math.floor(Date.now() / 1000),
    }
    if (options.accessToken !== undefined) payload.ath = await sha256b64url(options.accessToken)
    const nonce = options.nonce ?? this.#nonces.get(new URL(htu).origin)
    if (nonce !== undefined) payload.nonce = nonce
    const input = `${b64url(utf8(JSON.stringify(header)))}.${b64url(utf8(JSON.stringify(payload)))}`
    const algorithm = this.alg === 'ES256' ? { name: 'ECDSA', hash: 'SHA-256' } : { name: 'Ed25519' }
    const sig = await crypto.subtle.sign(algorithm, this.#privateKey, utf8(input))
    return `${input}.${b64url(new Uint8Array(sig))}`
  }

  /** @internal Remembers a DPoP-Nonce the server at url sent, for the next proofs there. */
  observeNonce(url: string, headers: Headers): void {
    const n = headers.get('dpop-nonce')
    if (n) this.#nonces.set(new URL(url).origin, n)
  }
}

/**
 * Runs send(proof) and, when the server challenges with use_dpop_nonce
 * (RFC 9449 §8 and §9), once more with the nonce it gave.
 */
export async function withNonceRetry<R extends { status: number, headers: Headers, json?: any }>(
  prover: DPoPProver, method: string, url: string, accessToken: string | undefined,
  send: (proof: string) => Promise<R>,
): Promise<R> {
  let res = await send(await prover.makeProof(method, url, { accessToken }))
  prover.observeNonce(url, res.headers)
  const challenged = res.headers.get('dpop-nonce') && (res.status === 400 || res.status === 401) &&
    (res.json?.error === 'use_dpop_nonce' || /use_dpop_nonce/.test(res.headers.get('www-authenticate') ?? ''))
  if (challenged) {
    res = await send(await prover.makeProof(method, url, { accessToken }))
    prover.observeNonce(url, res.headers)
  }
  return res
}

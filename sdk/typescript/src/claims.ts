// Reading an agent token's claims. AgentTokenClaims.parse decodes the
// payload WITHOUT checking the signature: for display and routing, never
// for access decisions (ResourceServer.verify returns checked claims).
import { decodeJwtPayload } from './oauth.js'

/** One hop of the act chain (RFC 8693 §4.1). */
export interface ActorClaim {
  /** The acting client at this hop. */
  sub: string
  /** When it was delegated (Unix seconds), when the hop records it. */
  iat: number | null
  /** The scope at this hop, when recorded. */
  scope: string | null
  /** The DPoP key (cnf.jkt) bound at this hop, when recorded. */
  jkt: string | null
}

/** The act chain of a payload, outermost (most recent actor) first. */
function chainOf(raw: Record<string, any>): ActorClaim[] {
  const out: ActorClaim[] = []
  let a = raw.act
  while (a && typeof a === 'object' && typeof a.sub === 'string' && out.length < 64) {
    out.push({
      sub: a.sub,
      iat: typeof a.iat === 'number' ? a.iat : null,
      scope: typeof a.scope === 'string' ? a.scope : null,
      jkt: typeof a.cnf?.jkt === 'string' ? a.cnf.jkt : typeof a.jkt === 'string' ? a.jkt : null,
    })
    a = a.act
  }
  return out
}

const scopeOf = (raw: Record<string, any>) => (typeof raw.scope === 'string' ? raw.scope : null)
const jktOf = (raw: Record<string, any>) => (typeof raw.cnf?.jkt === 'string' ? raw.cnf.jkt as string : null)

export class AgentTokenClaims {
  readonly raw: Record<string, any>

  private constructor(raw: Record<string, any>) {
    this.raw = raw
  }

  /** Decodes a JWT's payload; no signature check. Throws TypeError for a non-JWT. */
  static parse(jwtToken: string): AgentTokenClaims {
    const raw = decodeJwtPayload(jwtToken)
    if (raw === null) throw new TypeError('not a JWT (three base64url parts with a JSON object payload)')
    return new AgentTokenClaims(raw)
  }

  get sub(): string { return this.raw.sub }
  get iss(): string { return this.raw.iss }
  get exp(): number { return this.raw.exp }
  get iat(): number { return this.raw.iat }
  get scope(): string | null { return scopeOf(this.raw) }
  get jkt(): string | null { return jktOf(this.raw) }

  /** The act chain, outermost (most recent actor) first; [] for a direct token. */
  delegationChain(): ActorClaim[] {
    return chainOf(this.raw)
  }

  isDelegated(): boolean {
    return this.delegationChain().length > 0
  }

  hasScope(scope: string): boolean {
    return (this.scope ?? '').split(' ').includes(scope)
  }
}

/**
 * The claims of a VERIFIED access token (verifyToken, ResourceServer.verify):
 * signature, issuer, audience and expiry checked, and for a DPoP request the
 * proof's key matched cnf.jkt.
 */
export class VerifiedClaims {
  readonly raw: Record<string, any>

  private constructor(raw: Record<string, any>) {
    this.raw = raw
  }

  /** Wraps an already verified payload. */
  static fromPayload(payload: Record<string, unknown>): VerifiedClaims {
    return new VerifiedClaims(payload)
  }

  get sub(): string { return this.raw.sub }
  get iss(): string { return this.raw.iss }
  get aud(): string | string[] { return this.raw.aud }
  get exp(): number { return this.raw.exp }
  get iat(): number { return this.raw.iat }
  get jti(): string { return this.raw.jti }
  get clientId(): string | null { return typeof this.raw.client_id === 'string' ? this.raw.client_id : null }
  get scope(): string | null { return scopeOf(this.raw) }
  get scopes(): string[] { return (this.scope ?? '').split(' ').filter(Boolean) }
  /** cnf.jkt: the DPoP key the token is bound to. */
  get jkt(): string | null { return jktOf(this.raw) }
  get act(): Record<string, unknown> | null { return this.raw.act && typeof this.raw.act === 'object' ? this.raw.act : null }

  delegationChain(): ActorClaim[] {
    return chainOf(this.raw)
  }

  isDelegated(): boolean {
    return this.delegationChain().length > 0
  }

  hasScope(scope: string): boolean {
    return this.scopes.includes(scope)
  }
}

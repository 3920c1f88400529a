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

export class AgentTokenClaims {
  readonly raw: Record<string, any>

  protected constructor(raw: Record<string, any>) {
    this.raw = raw
  }

  /** Decodes a JWT's payload; no signature check. Throws TypeError for a non-JWT. */
  static parse(jwt: string): AgentTokenClaims {
    const raw = decodeJwtPayload(jwt)
    if (raw === null) throw new TypeError('not a JWT (three base64url parts with a JSON object payload)')
    return new AgentTokenClaims(raw)
  }

  get sub(): string { return this.raw.sub }
  get iss(): string { return this.raw.iss }
  get exp(): number { return this.raw.exp }
  get iat(): number { return this.raw.iat }
  get scope(): string | null { return typeof this.raw.scope === 'string' ? this.raw.scope : null }
  get jkt(): string | null { return typeof this.raw.cnf?.jkt === 'string' ? this.raw.cnf.jkt : null }

  /** The act chain, outermost (most recent actor) first; [] for a direct token. */
  delegationChain(): ActorClaim[] {
    const out: ActorClaim[] = []
    let a = this.raw.act
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

  isDelegated(): boolean {
    return this.delegationChain().length > 0
  }

  hasScope(scope: string): boolean {
    return (this.scope ?? '').split(' ').includes(scope)
  }
}

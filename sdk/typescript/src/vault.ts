// The token vault: admin listing and disconnect (admin key), and the agent
// path, fetchToken, with a DPoP-bound Shark token carrying vault:read.
import { withNonceRetry, type DPoPProver } from './dpop.js'
import { Transport, errorFor, seg } from './http.js'
import { VaultError } from './errors.js'
import { nextCursor, pageQuery, rows, toPage, walk } from './pages.js'
import {
  camel, toConnection, type Page, type VaultConnectionList, type VaultConnectionRecord, type VaultDisconnectResult, type VaultTokenResult,
} from './types.js'

export interface VaultClientOptions {
  /** The SharkAuth server's base URL. */
  authUrl: string
  /** The agent's DPoP-bound access token, the default bearerToken of fetchToken. */
  accessToken?: string | undefined
  /** The admin key (sk_live_…) for listConnections and disconnect. */
  adminKey?: string | undefined
  maxRetries?: number | undefined
  timeoutMs?: number | undefined
}

/** A yes/no filter as the query spells it; undefined leaves it out. */
function flag(v: boolean | undefined): string | undefined {
  return v === undefined ? undefined : v ? 'true' : 'false'
}

export class VaultClient {
  readonly #http: Transport
  readonly #accessToken: string | undefined
  readonly #adminKey: string | undefined

  constructor(options: VaultClientOptions) {
    this.#http = new Transport({ baseUrl: options.authUrl, maxRetries: options.maxRetries, timeoutMs: options.timeoutMs })
    this.#accessToken = options.accessToken
    this.#adminKey = options.adminKey
  }

  #admin(): string {
    if (!this.#adminKey) throw new VaultError('this call needs the admin key: new VaultClient({ authUrl, adminKey })', undefined)
    return `Bearer ${this.#adminKey}`
  }

  /**
   * One page of connections, newest first, with the total; pass nextCursor back as cursor (iterConnections walks them all).
   * needsReauth: true keeps only those the user must connect again, false only the others; absent, both.
   */
  async listConnections(options: { providerId?: string | undefined, userId?: string | undefined, needsReauth?: boolean | undefined, limit?: number | undefined, offset?: number | undefined, cursor?: string | undefined } = {}): Promise<VaultConnectionList> {
    const j = await this.#http.call('GET', '/api/v1/vault/connections', {
      authorization: this.#admin(), surface: 'vault',
      query: { provider_id: options.providerId, user_id: options.userId, needs_reauth: flag(options.needsReauth), ...pageQuery(options.limit ?? 50, options.cursor, options.offset, true) },
    })
    return { total: j.total ?? 0, items: rows(j, 'items').map(toConnection), nextCursor: nextCursor(j) }
  }

  /** Every matching connection, newest first: for await (const c of vault.iterConnections({ providerId })). */
  iterConnections(options: { providerId?: string | undefined, userId?: string | undefined, needsReauth?: boolean | undefined, pageSize?: number | undefined } = {}): AsyncGenerator<VaultConnectionRecord> {
    return walk(this.#http, '/api/v1/vault/connections', { provider_id: options.providerId, user_id: options.userId, needs_reauth: flag(options.needsReauth) }, toConnection, {
      pageSize: options.pageSize, authorization: this.#admin(), surface: 'vault', key: 'items',
    })
  }

  /** One page of providers (the built-in templates and the custom ones). */
  async listProviders(options: { limit?: number | undefined, cursor?: string | undefined, total?: boolean | undefined } = {}): Promise<Page<Record<string, unknown>>> {
    const j = await this.#http.call('GET', '/api/v1/vault/providers', {
      authorization: this.#admin(), surface: 'vault', query: pageQuery(options.limit, options.cursor, undefined, options.total),
    })
    return toPage(j, camel, 'items')
  }

  /** Every provider, page by page. */
  iterProviders(options: { pageSize?: number | undefined } = {}): AsyncGenerator<Record<string, unknown>> {
    return walk(this.#http, '/api/v1/vault/providers', {}, camel, { pageSize: options.pageSize, authorization: this.#admin(), surface: 'vault', key: 'items' })
  }

  /**
   * Layer 5: deletes the connection (revoking it at the provider when it
   * can) and, with cascadeToAgents (the default), revokes the tokens of
   * every agent that used it.
   */
  async disconnect(connectionId: string, cascadeToAgents = true): Promise<VaultDisconnectResult> {
    const j = await this.#http.call('DELETE', `/api/v1/vault/connections/${seg(connectionId)}`, {
      authorization: this.#admin(), surface: 'vault', query: { cascade_to_agents: cascadeToAgents ? 'true' : 'false' },
      // Not retried: a second DELETE would answer 404 for a disconnect that happened.
      idempotent: false,
    })
    return {
      connectionId: j.connection_id, revokedAgentIds: j.revoked_agent_ids, revokedTokenCount: j.revoked_token_count,
      cascadeAuditEventId: j.cascade_audit_event_id ?? null,
    }
  }

  /** GET /api/v1/vault/{provider}/token with the DPoP-bound token and a fresh proof from prover. */
  async fetchToken(options: { provider: string, bearerToken?: string | undefined, prover: DPoPProver }): Promise<VaultTokenResult> {
    const token = options.bearerToken ?? this.#accessToken
    if (!token) throw new VaultError('fetchToken needs bearerToken (or accessToken in the constructor)', undefined)
    if (!options.prover) throw new VaultError('fetchToken needs the prover whose key the token is bound to', undefined)
    const path = `/api/v1/vault/${seg(options.provider)}/token`
    const url = this.#http.url(path)
    const res = await withNonceRetry(options.prover, 'GET', url, token, (proof) =>
      this.#http.send('GET', path, { authorization: `DPoP ${token}`, headers: { dpop: proof }, idempotent: false }))
    if (res.status !== 200) throw errorFor(res, 'vault')
    const j = res.json
    return { accessToken: j.access_token, tokenType: j.token_type ?? 'Bearer', expiresAt: j.expires_at ?? null, provider: j.provider ?? null }
  }
}

// The admin API (/api/v1/*, the sk_live_ admin key): agents, users, apps,
// audit logs, webhooks. Client bundles them; each also stands alone.
import { Transport, seg, type TransportOptions } from './http.js'
import type { PublicJwk } from './dpop.js'
import {
  camel, toAgent, toApp, toAuditEvent, toTokenInfo, toUser, toWebhook,
  type Agent, type AgentCredentials, type AgentList, type AgentPage, type App, type AuditEvent, type AuditLogPage,
  type CascadeRevokeResult, type DPoPRotationResult, type Page, type RevokeResult, type TokenInfo, type User, type Webhook,
} from './types.js'
import { MAX_PAGE, nextCursor, pageQuery, rows, toPage, walk } from './pages.js'
import { VaultClient } from './vault.js'
import { OAuthClient } from './oauth.js'

export interface AdminOptions extends TransportOptions {
  /** The admin API key (sk_live_…). */
  token: string
}

const iso = (t: Date | string | undefined): string | undefined =>
  t === undefined ? undefined : t instanceof Date ? t.toISOString() : t

export interface RegisterAgentOptions {
  appId: string
  name: string
  scopes?: string[] | undefined
  description?: string | undefined
  /** The user (usr_…) the agent acts for: users.revokeAgents and the vault reach it through this. */
  createdBy?: string | undefined
  /** A chosen client id (shark_agent_…), e.g. a fleet prefix for bulkRevokeByPattern. */
  clientId?: string | undefined
  grantTypes?: string[] | undefined
  /** Binds the agent to one DPoP key (RFC 7638 thumbprint). */
  dpopJkt?: string | undefined
  /** May introspect any token (a resource server's own credentials). */
  resourceServer?: boolean | undefined
}

export interface UpdateAgentOptions {
  name?: string | undefined
  description?: string | undefined
  scopes?: string[] | undefined
  status?: 'active' | 'disabled' | undefined
  resourceServer?: boolean | undefined
}

export interface ListAgentsOptions {
  appId?: string | undefined
  createdBy?: string | undefined
  status?: 'active' | 'disabled' | undefined
  limit?: number | undefined
  offset?: number | undefined
  /** The previous page's nextCursor. */
  cursor?: string | undefined
}

/** One page: limit rows after cursor (the previous page's nextCursor); total counts every row too. */
export interface PageOptions {
  limit?: number | undefined
  cursor?: string | undefined
  total?: boolean | undefined
}

/** A walk over every page, pageSize rows per request (default 100, at most 1000). */
export interface IterOptions {
  pageSize?: number | undefined
}

export interface AuditQuery {
  actorId?: string | undefined
  targetId?: string | undefined
  /** An exact event name, a prefix such as "oauth.*", or "*". */
  event?: string | undefined
  since?: Date | string | undefined
  until?: Date | string | undefined
  limit?: number | undefined
  cursor?: string | undefined
}

export class AgentsClient {
  readonly #http: Transport

  constructor(options: AdminOptions) {
    this.#http = new Transport(options)
  }

  /** POST /api/v1/agents. The result's clientSecret is shown once: store it. */
  async registerAgent(options: RegisterAgentOptions): Promise<Agent> {
    const o = options
    const body: Record<string, unknown> = { app_id: o.appId, name: o.name }
    if (o.scopes !== undefined) body.scopes = o.scopes
    if (o.description !== undefined) body.description = o.description
    if (o.createdBy !== undefined) body.created_by = o.createdBy
    if (o.clientId !== undefined) body.client_id = o.clientId
    if (o.grantTypes !== undefined) body.grant_types = o.grantTypes
    if (o.dpopJkt !== undefined) body.dpop_jkt = o.dpopJkt
    if (o.resourceServer !== undefined) body.resource_server = o.resourceServer
    return toAgent(await this.#http.call('POST', '/api/v1/agents', { json: body }))
  }

  async getAgent(agentId: string): Promise<Agent> {
    return toAgent(await this.#http.call('GET', `/api/v1/agents/${seg(agentId)}`))
  }

  /** One page, newest first, with the total; pass nextCursor back as cursor (iterAgents walks them all). */
  async listAgents(options: ListAgentsOptions = {}): Promise<AgentPage> {
    const j = await this.#http.call('GET', '/api/v1/agents', {
      query: { app_id: options.appId, created_by: options.createdBy, status: options.status, ...pageQuery(options.limit, options.cursor, options.offset, true) },
    })
    return { data: rows(j).map(toAgent), total: j.total ?? 0, nextCursor: nextCursor(j) }
  }

  /** Every matching agent, newest first: for await (const a of agents.iterAgents({ appId })). */
  iterAgents(options: Omit<ListAgentsOptions, 'limit' | 'offset' | 'cursor'> & IterOptions = {}): AsyncGenerator<Agent> {
    return walk(this.#http, '/api/v1/agents', { app_id: options.appId, created_by: options.createdBy, status: options.status }, toAgent, { pageSize: options.pageSize })
  }

  async updateAgent(agentId: string, options: UpdateAgentOptions): Promise<Agent> {
    const body: Record<string, unknown> = {}
    if (options.name !== undefined) body.name = options.name
    if (options.description !== undefined) body.description = options.description
    if (options.scopes !== undefined) body.scopes = options.scopes
    if (options.status !== undefined) body.status = options.status
    if (options.resourceServer !== undefined) body.resource_server = options.resourceServer
    return toAgent(await this.#http.call('PATCH', `/api/v1/agents/${seg(agentId)}`, { json: body }))
  }

  /** Deletes the agent and revokes its tokens. */
  async deleteAgent(agentId: string): Promise<void> {
    await this.#http.call('DELETE', `/api/v1/agents/${seg(agentId)}`)
  }

  /**
   * GET /api/v1/agents/{id}/tokens: the agent's live tokens, latest expiry
   * first, every page up to limit tokens (default 10000; null: all of them;
   * iterTokens streams instead).
   */
  async listTokens(agentId: string, options: { limit?: number | null | undefined } = {}): Promise<TokenInfo[]> {
    const limit = options.limit === undefined ? 10_000 : options.limit
    if (limit !== null && (!Number.isInteger(limit) || limit < 1)) throw new RangeError('limit must be a positive integer or null')
    const out: TokenInfo[] = []
    const path = `/api/v1/agents/${seg(agentId)}/tokens`
    for await (const t of walk(this.#http, path, {}, toTokenInfo, { pageSize: limit === null ? MAX_PAGE : Math.min(limit, MAX_PAGE), maxRows: limit ?? undefined })) out.push(t)
    return out
  }

  /** Every live token of the agent, latest expiry first, page by page. */
  iterTokens(agentId: string, options: IterOptions = {}): AsyncGenerator<TokenInfo> {
    return walk(this.#http, `/api/v1/agents/${seg(agentId)}/tokens`, {}, toTokenInfo, { pageSize: options.pageSize })
  }

  /** Layer 2: revokes every token of the agent. */
  async revokeAll(agentId: string): Promise<RevokeResult> {
    const j = await this.#http.call('POST', `/api/v1/agents/${seg(agentId)}/tokens/revoke-all`)
    return { revokedCount: j.revoked_count, agentId: j.agent_id }
  }

  /** A new client secret (shown once); the old one stops working now, or after gracePeriodSeconds. */
  async rotateSecret(agentId: string, options: { gracePeriodSeconds?: number | undefined } = {}): Promise<AgentCredentials> {
    const j = await this.#http.call('POST', `/api/v1/agents/${seg(agentId)}/rotate-secret`, {
      json: options.gracePeriodSeconds === undefined ? undefined : { grace_period_seconds: options.gracePeriodSeconds },
    })
    return { agentId: j.agent_id, clientId: j.client_id, clientSecret: j.client_secret, rotatedAt: j.rotated_at }
  }

  /** The latest limit (default 100) events the agent caused, newest first; more than a page's 1000 come page by page. */
  async getAuditLogs(agentId: string, options: { limit?: number | undefined, since?: Date | string | undefined } = {}): Promise<AuditEvent[]> {
    const limit = options.limit ?? 100
    const query = { actor_id: agentId, since: iso(options.since) }
    if (!Number.isInteger(limit) || limit <= MAX_PAGE) { // the server judges it
      return rows(await this.#http.call('GET', '/api/v1/audit-logs', { query: { ...query, limit } })).map(toAuditEvent)
    }
    const out: AuditEvent[] = []
    for await (const e of walk(this.#http, '/api/v1/audit-logs', query, toAuditEvent, { pageSize: MAX_PAGE, maxRows: limit })) out.push(e)
    return out
  }

  /** Binds the agent to a new DPoP key; every token bound to the old key is revoked. */
  async rotateDpopKey(agentId: string, options: { newPublicKeyJwk: PublicJwk | Record<string, unknown>, reason?: string | undefined }): Promise<DPoPRotationResult> {
    const body: Record<string, unknown> = { new_public_key_jwk: options.newPublicKeyJwk }
    if (options.reason !== undefined) body.reason = options.reason
    const j = await this.#http.call('POST', `/api/v1/agents/${seg(agentId)}/rotate-dpop-key`, { json: body })
    return { oldJkt: j.old_jkt, newJkt: j.new_jkt, revokedTokenCount: j.revoked_token_count, auditEventId: j.audit_event_id }
  }
}

export class UsersClient {
  readonly #http: Transport

  constructor(options: AdminOptions) {
    this.#http = new Transport(options)
  }

  async createUser(options: { email: string, name?: string | undefined, password?: string | undefined }): Promise<User> {
    const body: Record<string, unknown> = { email: options.email }
    if (options.name !== undefined) body.name = options.name
    if (options.password !== undefined) body.password = options.password
    return toUser(await this.#http.call('POST', '/api/v1/users', { json: body }))
  }

  async getUser(userId: string): Promise<User> {
    return toUser(await this.#http.call('GET', `/api/v1/users/${seg(userId)}`))
  }

  /** One page of users, newest first. */
  async listUsers(options: PageOptions & { offset?: number | undefined } = {}): Promise<Page<User>> {
    const j = await this.#http.call('GET', '/api/v1/users', { query: pageQuery(options.limit ?? 100, options.cursor, options.offset, options.total) })
    return toPage(j, toUser)
  }

  /** Every user, newest first, page by page. */
  iterUsers(options: IterOptions = {}): AsyncGenerator<User> {
    return walk(this.#http, '/api/v1/users', {}, toUser, { pageSize: options.pageSize })
  }

  /** Deletes the user; their sessions, consents and the tokens issued for them go too. */
  async deleteUser(userId: string): Promise<void> {
    await this.#http.call('DELETE', `/api/v1/users/${seg(userId)}`)
  }

  /**
   * Layer 3: revokes the agents the user created or authorized (all of
   * them, or only agentIds), their consents and tokens.
   */
  async revokeAgents(userId: string, options: { agentIds?: string[] | undefined, reason?: string | undefined } = {}): Promise<CascadeRevokeResult> {
    const body: Record<string, unknown> = {}
    if (options.agentIds !== undefined) body.agent_ids = options.agentIds
    if (options.reason !== undefined) body.reason = options.reason
    const j = await this.#http.call('POST', `/api/v1/users/${seg(userId)}/revoke-agents`, { json: body })
    return { revokedAgentIds: j.revoked_agent_ids, revokedConsentCount: j.revoked_consent_count, auditEventId: j.audit_event_id ?? null }
  }

  /** One page of the agents the user created or authorized, with the total; pass nextCursor back as cursor. */
  async listAgents(userId: string, options: { filter?: 'created' | 'authorized' | 'all' | undefined, limit?: number | undefined, offset?: number | undefined, cursor?: string | undefined } = {}): Promise<AgentList> {
    const filter = options.filter ?? 'all'
    const j = await this.#http.call('GET', `/api/v1/users/${seg(userId)}/agents`, {
      query: { filter, ...pageQuery(options.limit ?? 100, options.cursor, options.offset, true) },
    })
    return { data: rows(j).map(toAgent), total: j.total ?? 0, filter: j.filter ?? filter, nextCursor: nextCursor(j) }
  }

  /** Every agent listAgents would page through. */
  iterAgents(userId: string, options: { filter?: 'created' | 'authorized' | 'all' | undefined } & IterOptions = {}): AsyncGenerator<Agent> {
    return walk(this.#http, `/api/v1/users/${seg(userId)}/agents`, { filter: options.filter ?? 'all' }, toAgent, { pageSize: options.pageSize })
  }

  /** One page of the user's live consents ({ id, userId, clientId, scopes, createdAt }). */
  async listConsents(userId: string, options: PageOptions = {}): Promise<Page<Record<string, unknown>>> {
    const j = await this.#http.call('GET', `/api/v1/users/${seg(userId)}/consents`, { query: pageQuery(options.limit, options.cursor, undefined, options.total) })
    return toPage(j, camel)
  }

  /** Every live consent of the user, page by page. */
  iterConsents(userId: string, options: IterOptions = {}): AsyncGenerator<Record<string, unknown>> {
    return walk(this.#http, `/api/v1/users/${seg(userId)}/consents`, {}, camel, { pageSize: options.pageSize })
  }
}

export class AppsClient {
  readonly #http: Transport

  constructor(options: AdminOptions) {
    this.#http = new Transport(options)
  }

  async createApp(options: { name: string, description?: string | undefined, scopes?: string[] | undefined, redirectUris?: string[] | undefined, resources?: string[] | undefined }): Promise<App> {
    return toApp(await this.#http.call('POST', '/api/v1/apps', { json: appBody(options) }))
  }

  async getApp(appId: string): Promise<App> {
    return toApp(await this.#http.call('GET', `/api/v1/apps/${seg(appId)}`))
  }

  /** One page of apps, newest first. */
  async listApps(options: PageOptions & { offset?: number | undefined } = {}): Promise<Page<App>> {
    const j = await this.#http.call('GET', '/api/v1/apps', { query: pageQuery(options.limit, options.cursor, options.offset, options.total) })
    return toPage(j, toApp)
  }

  /** Every app, newest first, page by page. */
  iterApps(options: IterOptions = {}): AsyncGenerator<App> {
    return walk(this.#http, '/api/v1/apps', {}, toApp, { pageSize: options.pageSize })
  }

  async updateApp(appId: string, options: { name?: string | undefined, description?: string | undefined, scopes?: string[] | undefined, redirectUris?: string[] | undefined, resources?: string[] | undefined }): Promise<App> {
    return toApp(await this.#http.call('PATCH', `/api/v1/apps/${seg(appId)}`, { json: appBody(options) }))
  }

  /** With cascade, the app's agents are disabled and their tokens revoked; without, an app with agents is 409. */
  async deleteApp(appId: string, options: { cascade?: boolean | undefined } = {}): Promise<void> {
    await this.#http.call('DELETE', `/api/v1/apps/${seg(appId)}`, { query: { cascade: options.cascade } })
  }
}

function appBody(o: { name?: string | undefined, description?: string | undefined, scopes?: string[] | undefined, redirectUris?: string[] | undefined, resources?: string[] | undefined }) {
  const b: Record<string, unknown> = {}
  if (o.name !== undefined) b.name = o.name
  if (o.description !== undefined) b.description = o.description
  if (o.scopes !== undefined) b.scopes = o.scopes
  if (o.redirectUris !== undefined) b.redirect_uris = o.redirectUris
  if (o.resources !== undefined) b.resources = o.resources
  return b
}

export class AuditClient {
  readonly #http: Transport

  constructor(options: AdminOptions) {
    this.#http = new Transport(options)
  }

  /** One page of audit events, newest first; pass nextCursor back as cursor for the next. */
  async listEvents(options: AuditQuery = {}): Promise<AuditLogPage> {
    const j = await this.#http.call('GET', '/api/v1/audit-logs', {
      query: {
        actor_id: options.actorId, target_id: options.targetId, event: options.event, since: iso(options.since),
        until: iso(options.until), limit: options.limit, cursor: options.cursor,
      },
    })
    return { data: j.data.map(toAuditEvent), nextCursor: j.next_cursor ?? null }
  }

  /** Every matching event, newest first, fetched pageSize at a time. */
  iterEvents(options: Omit<AuditQuery, 'limit' | 'cursor'> & IterOptions = {}): AsyncGenerator<AuditEvent> {
    const o = options
    return walk(this.#http, '/api/v1/audit-logs', {
      actor_id: o.actorId, target_id: o.targetId, event: o.event, since: iso(o.since), until: iso(o.until),
    }, toAuditEvent, { pageSize: o.pageSize })
  }
}

export class WebhooksClient {
  readonly #http: Transport

  constructor(options: AdminOptions) {
    this.#http = new Transport(options)
  }

  /** The result's secret (whsec_…) signs deliveries; it is shown once. */
  async createWebhook(options: { url: string, events: string[], description?: string | undefined }): Promise<Webhook> {
    const body: Record<string, unknown> = { url: options.url, events: options.events }
    if (options.description !== undefined) body.description = options.description
    return toWebhook(await this.#http.call('POST', '/api/v1/admin/webhooks', { json: body }))
  }

  /** One page of endpoints, newest first. */
  async listWebhooks(options: PageOptions & { offset?: number | undefined } = {}): Promise<Page<Webhook>> {
    const j = await this.#http.call('GET', '/api/v1/admin/webhooks', { query: pageQuery(options.limit ?? 100, options.cursor, options.offset, options.total) })
    return toPage(j, toWebhook)
  }

  /** Every endpoint, newest first, page by page. */
  iterWebhooks(options: IterOptions = {}): AsyncGenerator<Webhook> {
    return walk(this.#http, '/api/v1/admin/webhooks', {}, toWebhook, { pageSize: options.pageSize })
  }

  async getWebhook(webhookId: string): Promise<Webhook> {
    return toWebhook(await this.#http.call('GET', `/api/v1/admin/webhooks/${seg(webhookId)}`))
  }

  async updateWebhook(webhookId: string, options: { url?: string | undefined, events?: string[] | undefined, description?: string | undefined, enabled?: boolean | undefined }): Promise<Webhook> {
    const body: Record<string, unknown> = {}
    for (const k of ['url', 'events', 'description', 'enabled'] as const) if (options[k] !== undefined) body[k] = options[k]
    return toWebhook(await this.#http.call('PATCH', `/api/v1/admin/webhooks/${seg(webhookId)}`, { json: body }))
  }

  async deleteWebhook(webhookId: string): Promise<void> {
    await this.#http.call('DELETE', `/api/v1/admin/webhooks/${seg(webhookId)}`)
  }

  /** A new signing secret, shown once: { id, secret, rotatedAt }. */
  async rotateSecret(webhookId: string): Promise<{ id: string, secret: string, rotatedAt: string }> {
    const j = await this.#http.call('POST', `/api/v1/admin/webhooks/${seg(webhookId)}/rotate-secret`)
    return { id: j.id, secret: j.secret, rotatedAt: j.rotated_at }
  }

  /** Sends a test event to the endpoint now; the answer describes the delivery. */
  async testWebhook(webhookId: string): Promise<Record<string, unknown>> {
    return camel(await this.#http.call('POST', `/api/v1/admin/webhooks/${seg(webhookId)}/test`))
  }

  /** One page of the endpoint's deliveries, newest first. */
  async listDeliveries(webhookId: string, options: PageOptions & { status?: string | undefined, offset?: number | undefined } = {}): Promise<Page<Record<string, unknown>>> {
    const j = await this.#http.call('GET', `/api/v1/admin/webhooks/${seg(webhookId)}/deliveries`, {
      query: { status: options.status, ...pageQuery(options.limit ?? 100, options.cursor, options.offset, options.total) },
    })
    return toPage(j, camel)
  }

  /** Every delivery of the endpoint (with that status), newest first. */
  iterDeliveries(webhookId: string, options: { status?: string | undefined } & IterOptions = {}): AsyncGenerator<Record<string, unknown>> {
    return walk(this.#http, `/api/v1/admin/webhooks/${seg(webhookId)}/deliveries`, { status: options.status }, camel, { pageSize: options.pageSize })
  }
}

export interface ClientOptions extends AdminOptions {}

/** The admin client: new Client({ baseUrl, token }) with .agents, .users, .apps, .audit, .webhooks, .vault, .oauth. */
export class Client {
  readonly agents: AgentsClient
  readonly users: UsersClient
  readonly apps: AppsClient
  readonly audit: AuditClient
  readonly webhooks: WebhooksClient
  readonly vault: VaultClient
  /** OAuthClient holding the admin key (bulkRevokeByPattern, introspection). */
  readonly oauth: OAuthClient

  constructor(options: ClientOptions) {
    if (!options || typeof options.token !== 'string' || options.token === '') {
      throw new TypeError('Client needs { baseUrl, token } (the admin API key)')
    }
    this.agents = new AgentsClient(options)
    this.users = new UsersClient(options)
    this.apps = new AppsClient(options)
    this.audit = new AuditClient(options)
    this.webhooks = new WebhooksClient(options)
    this.vault = new VaultClient({ authUrl: options.baseUrl, adminKey: options.token, maxRetries: options.maxRetries, timeoutMs: options.timeoutMs })
    this.oauth = new OAuthClient({ baseUrl: options.baseUrl, token: options.token, maxRetries: options.maxRetries, timeoutMs: options.timeoutMs })
  }
}

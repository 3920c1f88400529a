// Result types, with camelCase fields, and the functions that build them
// from the server's snake_case JSON. Each lists the fields the spec names.

/** An agent as the admin API returns it; clientSecret only from registerAgent (shown once). */
export interface Agent {
  id: string
  clientId: string
  clientSecret?: string | undefined
  appId: string | null
  name: string
  description: string | null
  scopes: string[]
  status: string
  createdBy: string | null
  dpopJkt: string | null
  grantTypes: string[]
  createdAt: string
  updatedAt: string
}

export interface AgentPage {
  data: Agent[]
  total: number
  /** The next page's cursor; null on the last page. */
  nextCursor: string | null
}

/** One page of a listing: nextCursor (null on the last page) asks for the next; total only when asked for. */
export interface Page<T> {
  data: T[]
  nextCursor: string | null
  total?: number | undefined
}

export interface App {
  id: string
  name: string
  description: string | null
  scopes: string[]
  redirectUris: string[]
  resources: string[]
  createdAt: string
  updatedAt: string
}

export interface TokenInfo {
  tokenId: string
  agentId: string
  jkt: string | null
  scope: string | null
  expiresAt: string
  createdAt: string
}

export interface RevokeResult {
  revokedCount: number
  agentId: string
}

export interface AgentCredentials {
  agentId: string
  clientId: string
  clientSecret: string
  rotatedAt: string
}

export interface AuditEvent {
  id: string
  event: string
  actorId: string | null
  targetId: string | null
  metadata: Record<string, unknown>
  createdAt: string
  actorType: string | null
  /** The server's id of the request that caused the event. */
  requestId: string | null
}

export interface AuditLogPage {
  data: AuditEvent[]
  nextCursor: string | null
}

export interface CascadeRevokeResult {
  revokedAgentIds: string[]
  revokedConsentCount: number
  auditEventId: string | null
}

export interface AgentList {
  data: Agent[]
  total: number
  filter: string
  /** The next page's cursor; null on the last page. */
  nextCursor: string | null
}

export interface BulkRevokeResult {
  revokedCount: number
  auditEventId: string
  patternMatched: string
}

export interface DPoPRotationResult {
  oldJkt: string
  newJkt: string
  revokedTokenCount: number
  auditEventId: string
}

export interface VaultConnectionRecord {
  id: string
  userId: string
  providerId: string
  providerName: string | null
  createdAt: string
  updatedAt: string
  needsReauth: boolean
  scopes: string[]
  /** When the stored provider access token expires. */
  expiresAt: string | null
}

export interface VaultConnectionList {
  total: number
  items: VaultConnectionRecord[]
  /** The next page's cursor; null on the last page. */
  nextCursor: string | null
}

export interface VaultDisconnectResult {
  connectionId: string
  revokedAgentIds: string[]
  revokedTokenCount: number
  cascadeAuditEventId: string | null
}

export interface VaultTokenResult {
  accessToken: string
  tokenType: string
  expiresAt: string | null
  provider: string | null
}

/** An `act` claim (RFC 8693 §4.1): who acts, and who acted before. */
export interface ActClaim {
  sub: string
  act?: ActClaim | undefined
  [claim: string]: unknown
}

export interface TokenResponse {
  accessToken: string
  tokenType: string
  expiresIn: number | null
  scope: string | null
  refreshToken: string | null
  idToken: string | null
  issuedTokenType: string | null
  /** cnf.jkt of the access token (read from the JWT, unverified): the DPoP key it is bound to. */
  cnfJkt: string | null
  /** The access token's act claim (unverified), for exchanged tokens. */
  act: ActClaim | null
  /** The whole answer as the server sent it. */
  raw: Record<string, unknown>
}

export interface IntrospectionResult {
  active: boolean
  scope: string | null
  clientId: string | null
  sub: string | null
  exp: number | null
  iat: number | null
  jti: string | null
  tokenType: string | null
  cnfJkt: string | null
  act: ActClaim | null
  /** The whole answer as the server sent it. */
  raw: Record<string, unknown>
}

export interface DeviceAuthorization {
  deviceCode: string
  userCode: string
  verificationUri: string
  verificationUriComplete: string | null
  expiresIn: number
  interval: number
}

export interface User {
  id: string
  email: string
  name: string | null
  emailVerified: boolean
  createdAt: string
  updatedAt: string | null
}

export interface Webhook {
  id: string
  url: string
  events: string[]
  enabled: boolean
  /** The signing secret: only when created or rotated. */
  secret?: string | undefined
  createdAt: string
  updatedAt: string | null
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null)
const num = (v: unknown): number | null => (typeof v === 'number' ? v : null)
const strs = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x) => typeof x === 'string') : [])

export function toAgent(j: any): Agent {
  const a: Agent = {
    id: j.id ?? j.client_id, clientId: j.client_id ?? j.id, appId: str(j.app_id), name: j.name,
    description: str(j.description), scopes: strs(j.scopes), status: j.status, createdBy: str(j.created_by),
    dpopJkt: str(j.dpop_jkt), grantTypes: strs(j.grant_types), createdAt: j.created_at, updatedAt: j.updated_at,
  }
  if (typeof j.client_secret === 'string') a.clientSecret = j.client_secret
  return a
}

export function toApp(j: any): App {
  return {
    id: j.id, name: j.name, description: str(j.description), scopes: strs(j.scopes),
    redirectUris: strs(j.redirect_uris), resources: strs(j.resources), createdAt: j.created_at, updatedAt: j.updated_at,
  }
}

export const toTokenInfo = (j: any): TokenInfo => ({
  tokenId: j.token_id, agentId: j.agent_id, jkt: str(j.jkt), scope: str(j.scope),
  expiresAt: j.expires_at, createdAt: j.created_at,
})

export const toAuditEvent = (j: any): AuditEvent => ({
  id: j.id, event: j.event, actorId: str(j.actor_id), targetId: str(j.target_id),
  metadata: j.metadata && typeof j.metadata === 'object' ? j.metadata : {}, createdAt: j.created_at,
  actorType: str(j.actor_type), requestId: str(j.request_id),
})

export const toConnection = (j: any): VaultConnectionRecord => ({
  id: j.id, userId: j.user_id, providerId: j.provider_id, providerName: str(j.provider_name),
  createdAt: j.created_at, updatedAt: j.updated_at, needsReauth: j.needs_reauth === true,
  scopes: strs(j.scopes), expiresAt: str(j.expires_at),
})

export const toUser = (j: any): User => ({
  id: j.id, email: j.email, name: str(j.name), emailVerified: j.email_verified === true,
  createdAt: j.created_at, updatedAt: str(j.updated_at),
})

/** A JSON object with its keys (not its values' keys) turned to camelCase. */
export function camel(j: any): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(j ?? {})) out[k.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase())] = v
  return out
}

export const toWebhook = (j: any): Webhook => {
  const w: Webhook = {
    id: j.id, url: j.url, events: strs(j.events), enabled: j.enabled !== false,
    createdAt: j.created_at, updatedAt: str(j.updated_at),
  }
  if (typeof j.secret === 'string') w.secret = j.secret
  return w
}

export function toIntrospection(j: any): IntrospectionResult {
  return {
    active: j.active === true, scope: str(j.scope), clientId: str(j.client_id), sub: str(j.sub), exp: num(j.exp),
    iat: num(j.iat), jti: str(j.jti), tokenType: str(j.token_type), cnfJkt: str(j.cnf?.jkt),
    act: j.act && typeof j.act === 'object' ? j.act : null, raw: j,
  }
}

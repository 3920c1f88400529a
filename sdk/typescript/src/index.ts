// @sharkauth/sdk: the public surface.
export { Client, AgentsClient, UsersClient, AppsClient, AuditClient, WebhooksClient } from './admin.js'
export type { ClientOptions, AdminOptions, RegisterAgentOptions, UpdateAgentOptions, ListAgentsOptions, AuditQuery, PageOptions, IterOptions } from './admin.js'
export { OAuthClient, exchangeToken } from './oauth.js'
export type { OAuthClientOptions } from './oauth.js'
export { DPoPProver } from './dpop.js'
export type { PublicJwk, ProofOptions } from './dpop.js'
export { DPoPHTTPClient, DPoPResponse } from './dpop-http.js'
export type { DPoPRequestOptions, DPoPGetOptions, DPoPBodyOptions, DPoPDeleteOptions } from './dpop-http.js'
export { VaultClient } from './vault.js'
export type { VaultClientOptions } from './vault.js'
export { AgentTokenClaims, VerifiedClaims } from './claims.js'
export type { ActorClaim } from './claims.js'
export { ResourceServer, ReplayCache, verifyRequest } from './resource.js'
export { JWKSCache, verifyToken } from './jwks.js'
export type { ResourceServerOptions, RequestLike } from './resource.js'
export {
  SharkError, AuthenticationError, NotFoundError, RateLimitError, OAuthError, VaultError, TokenVerificationError,
} from './errors.js'
export type {
  Agent, AgentPage, Page, App, User, Webhook, TokenInfo, RevokeResult, AgentCredentials, AuditEvent, AuditLogPage,
  CascadeRevokeResult, AgentList, BulkRevokeResult, DPoPRotationResult, VaultConnectionRecord, VaultConnectionList,
  VaultDisconnectResult, VaultTokenResult, ActClaim, TokenResponse, IntrospectionResult, DeviceAuthorization,
} from './types.js'

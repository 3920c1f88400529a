// @sharkauth/sdk: the public surface.
export { Client, AgentsClient, UsersClient, AppsClient, AuditClient, WebhooksClient } from './admin.js'
export type { ClientOptions, AdminOptions, RegisterAgentOptions, UpdateAgentOptions, ListAgentsOptions, AuditQuery } from './admin.js'
export { OAuthClient, exchangeToken, TOKEN_EXCHANGE_GRANT, DEVICE_CODE_GRANT, ACCESS_TOKEN_TYPE } from './oauth.js'
export type { OAuthClientOptions } from './oauth.js'
export { DPoPProver, jwkThumbprint } from './dpop.js'
export type { PublicJwk, ProofOptions } from './dpop.js'
export { DPoPHTTPClient, DPoPResponse } from './dpop-http.js'
export type { DPoPRequestOptions } from './dpop-http.js'
export { VaultClient } from './vault.js'
export type { VaultClientOptions } from './vault.js'
export { AgentTokenClaims } from './claims.js'
export type { ActorClaim } from './claims.js'
export { ResourceServer, VerifiedClaims, createResourceServer, verifyRequest } from './resource.js'
export type { ResourceServerOptions, RequestLike } from './resource.js'
export {
  SharkError, AuthenticationError, NotFoundError, RateLimitError, OAuthError, VaultError, TokenVerificationError,
} from './errors.js'
export type * from './types.js'

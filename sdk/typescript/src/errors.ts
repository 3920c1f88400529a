// Typed errors. Every error the SDK throws for an HTTP answer is a SharkError
// carrying the status code, the server's error code and message, and the
// request id the server gave it (for the audit log and support).

export interface SharkErrorOptions {
  statusCode?: number
  code?: string
  requestId?: string
  body?: unknown
}

export class SharkError extends Error {
  readonly statusCode: number | undefined
  readonly code: string | undefined
  readonly requestId: string | undefined
  readonly body: unknown

  constructor(message: string, options: SharkErrorOptions = {}) {
    super(message)
    this.name = new.target.name
    this.statusCode = options.statusCode
    this.code = options.code
    this.requestId = options.requestId
    this.body = options.body
  }
}

/** 401: the admin key or access token was missing, wrong or expired. */
export class AuthenticationError extends SharkError {}

/** 404: no such user, agent, app, connection… */
export class NotFoundError extends SharkError {}

/** 429: rate limited; retryAfter is the server's Retry-After in seconds. */
export class RateLimitError extends SharkError {
  readonly retryAfter: number | undefined

  constructor(message: string, options: SharkErrorOptions & { retryAfter?: number } = {}) {
    super(message, options)
    this.retryAfter = options.retryAfter
  }
}

/** An RFC 6749 §5.2 error from /oauth/* ({"error","error_description"}). */
export class OAuthError extends SharkError {
  readonly error: string
  readonly errorDescription: string | undefined
  /** The WWW-Authenticate challenge of a 401, when the server sent one. */
  readonly wwwAuthenticate: string | undefined

  constructor(error: string, errorDescription?: string, options: SharkErrorOptions & { wwwAuthenticate?: string | undefined } = {}) {
    super(errorDescription ? `${error}: ${errorDescription}` : error, { code: error, ...options })
    this.error = error
    this.errorDescription = errorDescription
    this.wwwAuthenticate = options.wwwAuthenticate
  }
}

/** Any failure of a vault call (401 bad DPoP token, 403 no vault:read, 404 no connection…). */
export class VaultError extends SharkError {
  constructor(message: string, statusCode?: number, options: SharkErrorOptions = {}) {
    super(message, { ...options, statusCode })
  }
}

/**
 * A request refused by the resource-server helper. statusCode is 401 (no,
 * bad or unbound token: error "invalid_token", "invalid_dpop_proof" or
 * "invalid_request") or 403 ("insufficient_scope"); wwwAuthenticate is the
 * challenge to answer with.
 */
export class TokenVerificationError extends SharkError {
  readonly error: string
  readonly errorDescription: string
  readonly wwwAuthenticate: string

  constructor(error: string, errorDescription: string, statusCode: number, wwwAuthenticate: string) {
    super(`${error}: ${errorDescription}`, { statusCode, code: error })
    this.error = error
    this.errorDescription = errorDescription
    this.wwwAuthenticate = wwwAuthenticate
  }
}

"""One exception hierarchy for every SDK call.

SharkError is the root; each carries the HTTP status, the server's error code
and message, and the request id when the server sent one."""
from __future__ import annotations

from typing import Any, Optional


class SharkError(Exception):
    """Any error answered by a SharkAuth server or raised by this SDK."""

    def __init__(self, message: str, status_code: Optional[int] = None, *,
                 code: Optional[str] = None, request_id: Optional[str] = None,
                 body: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.request_id = request_id
        self.body = body

    def __str__(self) -> str:
        parts = [self.message]
        if self.status_code is not None:
            parts.append("(HTTP %d%s)" % (self.status_code, ", " + self.code if self.code else ""))
        return " ".join(parts)


class OAuthError(SharkError):
    """An RFC 6749 error from an /oauth/* endpoint: `error` and `error_description`."""

    def __init__(self, error: str, error_description: Optional[str] = None,
                 status_code: Optional[int] = None, *, body: Any = None,
                 www_authenticate: Optional[str] = None) -> None:
        super().__init__(error_description or error, status_code, code=error, body=body)
        self.error = error
        self.error_description = error_description
        self.www_authenticate = www_authenticate


class VaultError(SharkError):
    """An error from the token vault (401 bad token, 403 missing vault:read, 404 no connection)."""

    def __init__(self, message: str, status_code: Optional[int] = None, *,
                 code: Optional[str] = None, request_id: Optional[str] = None,
                 body: Any = None) -> None:
        super().__init__(message, status_code, code=code, request_id=request_id, body=body)


class AuthenticationError(SharkError):
    """401: the admin key or token is missing, wrong, expired or revoked."""


class NotFoundError(SharkError):
    """404: no such agent, user, app, connection, ..."""


class RateLimitError(SharkError):
    """429: too many requests. `retry_after` is the server's Retry-After in seconds, if sent."""

    def __init__(self, message: str, status_code: Optional[int] = 429, *,
                 retry_after: Optional[float] = None, code: Optional[str] = None,
                 request_id: Optional[str] = None, body: Any = None) -> None:
        super().__init__(message, status_code, code=code, request_id=request_id, body=body)
        self.retry_after = retry_after


class TokenVerificationError(SharkError):
    """Raised by the resource-server helper: the request's token or DPoP proof
    did not verify. `status_code` is 401 (or 403 for insufficient_scope; 503 when
    the keys or the introspection endpoint cannot be reached), `error` the
    RFC 6750/9449 error code, `www_authenticate` the header to answer with."""

    def __init__(self, error: str, description: str, status_code: int = 401, *,
                 www_authenticate: Optional[str] = None) -> None:
        super().__init__(description, status_code, code=error)
        self.error = error
        self.error_description = description
        self.www_authenticate = www_authenticate

"""SharkAuth Python SDK.

Note: `shark_auth.AgentTokenClaims` is the VERIFIED claims class (tokens.py);
the unverified parser is `shark_auth.claims.AgentTokenClaims`."""
from ._http import __version__
from .agents import AgentsClient
from .apps import AppsClient
from .audit import AuditClient
from .claims import ActorClaim
from .client import Client
from .dpop import DPoPHTTPClient, DPoPProver
from .errors import (AuthenticationError, NotFoundError, OAuthError, RateLimitError,
                     SharkError, TokenVerificationError, VaultError)
from .models import (AgentCredentials, AgentList, AuditEvent, AuditLogPage, BulkRevokeResult,
                     CascadeRevokeResult, DeviceAuthorization, DPoPRotationResult,
                     IntrospectionResult, RevokeResult, TokenInfo, TokenResponse,
                     VaultConnectionList, VaultConnectionRecord, VaultDisconnectResult,
                     VaultTokenResult)
from .oauth import OAuthClient
from .pages import Page
from .resource import ASGIMiddleware, ReplayCache, ResourceServer, WSGIMiddleware, verify_request
from .tokens import AgentTokenClaims, JWKSCache, verify_token
from .users import UsersClient
from .vault import VaultClient
from .webhooks import WebhooksClient

__all__ = [
    "__version__", "Client", "AgentsClient", "UsersClient", "AppsClient", "AuditClient",
    "WebhooksClient", "VaultClient", "OAuthClient", "DPoPProver", "DPoPHTTPClient",
    "AgentTokenClaims", "ActorClaim", "JWKSCache", "verify_token",
    "ResourceServer", "WSGIMiddleware", "ASGIMiddleware", "ReplayCache", "verify_request",
    "SharkError", "OAuthError", "VaultError", "AuthenticationError", "NotFoundError",
    "RateLimitError", "TokenVerificationError",
    "TokenInfo", "RevokeResult", "AgentCredentials", "AuditEvent", "AuditLogPage",
    "CascadeRevokeResult", "AgentList", "BulkRevokeResult", "VaultDisconnectResult",
    "VaultTokenResult", "DPoPRotationResult", "VaultConnectionRecord", "VaultConnectionList",
    "TokenResponse", "IntrospectionResult", "DeviceAuthorization", "Page",
]

"""The result dataclasses of SDK calls. Field names follow the server's JSON."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional


def _s(d: Dict[str, Any], k: str) -> Optional[str]:
    v = d.get(k)
    return None if v is None else str(v)


@dataclass
class TokenInfo:
    """A live token of an agent (GET /api/v1/agents/{id}/tokens)."""
    token_id: str
    agent_id: str
    jkt: Optional[str]
    scope: Optional[str]
    expires_at: Optional[str]
    created_at: Optional[str]

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "TokenInfo":
        return cls(token_id=d["token_id"], agent_id=d["agent_id"], jkt=d.get("jkt"),
                   scope=d.get("scope"), expires_at=_s(d, "expires_at"),
                   created_at=_s(d, "created_at"))


@dataclass
class RevokeResult:
    revoked_count: int
    agent_id: str


@dataclass
class AgentCredentials:
    """The agent's new secret: shown once."""
    agent_id: str
    client_id: str
    client_secret: str
    rotated_at: Optional[str]


@dataclass
class AuditEvent:
    id: str
    event: str
    actor_id: Optional[str]
    target_id: Optional[str]
    metadata: Dict[str, Any]
    created_at: str
    actor_type: Optional[str] = None
    request_id: Optional[str] = None

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "AuditEvent":
        return cls(id=d["id"], event=d["event"], actor_id=d.get("actor_id"),
                   target_id=d.get("target_id"), metadata=d.get("metadata") or {},
                   created_at=str(d.get("created_at")), actor_type=d.get("actor_type"),
                   request_id=d.get("request_id"))


@dataclass
class AuditLogPage:
    """One page of the audit log; pass next_cursor back for the next (None at the end)."""
    data: List[AuditEvent]
    next_cursor: Optional[str]


@dataclass
class CascadeRevokeResult:
    revoked_agent_ids: List[str]
    revoked_consent_count: int
    audit_event_id: Optional[str]


@dataclass
class AgentList:
    """One page of agents; next_cursor (None on the last page) asks for the next."""
    data: List[Dict[str, Any]]
    total: int
    filter: Optional[str] = None
    next_cursor: Optional[str] = None


@dataclass
class BulkRevokeResult:
    revoked_count: int
    audit_event_id: str
    pattern_matched: str


@dataclass
class VaultDisconnectResult:
    connection_id: str
    revoked_agent_ids: List[str]
    revoked_token_count: int
    cascade_audit_event_id: Optional[str]


@dataclass
class VaultTokenResult:
    access_token: str
    token_type: str
    expires_at: Optional[str]
    provider: Optional[str]


@dataclass
class DPoPRotationResult:
    old_jkt: str
    new_jkt: str
    revoked_token_count: int
    audit_event_id: str


@dataclass
class VaultConnectionRecord:
    id: str
    user_id: str
    provider_id: str
    provider_name: Optional[str]
    created_at: Optional[str]
    updated_at: Optional[str]
    needs_reauth: bool
    scopes: List[str] = field(default_factory=list)
    expires_at: Optional[str] = None

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "VaultConnectionRecord":
        return cls(id=d["id"], user_id=d["user_id"], provider_id=d["provider_id"],
                   provider_name=d.get("provider_name"), created_at=_s(d, "created_at"),
                   updated_at=_s(d, "updated_at"), needs_reauth=bool(d.get("needs_reauth")),
                   scopes=list(d.get("scopes") or []), expires_at=_s(d, "expires_at"))


@dataclass
class VaultConnectionList:
    """One page of connections; next_cursor (None on the last page) asks for the next."""
    total: int
    items: List[VaultConnectionRecord]
    next_cursor: Optional[str] = None


@dataclass
class TokenResponse:
    """A token endpoint answer. cnf_jkt and act are read from the access
    token's claims (unverified: the server just issued it to us)."""
    access_token: str
    token_type: str
    expires_in: Optional[int]
    scope: Optional[str]
    refresh_token: Optional[str] = None
    id_token: Optional[str] = None
    issued_token_type: Optional[str] = None
    cnf_jkt: Optional[str] = None
    act: Optional[Dict[str, Any]] = None
    raw: Dict[str, Any] = field(default_factory=dict)


@dataclass
class IntrospectionResult:
    """RFC 7662: `active` is False for a revoked, expired or unknown token."""
    active: bool
    scope: Optional[str] = None
    client_id: Optional[str] = None
    sub: Optional[str] = None
    exp: Optional[int] = None
    iat: Optional[int] = None
    jti: Optional[str] = None
    token_type: Optional[str] = None
    cnf_jkt: Optional[str] = None
    act: Optional[Dict[str, Any]] = None
    raw: Dict[str, Any] = field(default_factory=dict)


@dataclass
class DeviceAuthorization:
    """RFC 8628 §3.2: show user_code and verification_uri to the person."""
    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: Optional[str]
    expires_in: int
    interval: int

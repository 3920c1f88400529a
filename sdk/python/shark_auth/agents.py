"""Agents (/api/v1/agents): register, inspect, rotate and revoke. Admin key."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Dict, List, Optional, Sequence, Union

from ._base import AdminBase, seg
from .models import (AgentCredentials, AgentList, AuditEvent, DPoPRotationResult,
                     RevokeResult, TokenInfo)


def iso(t: Union[datetime, str, None]) -> Optional[str]:
    """ISO-8601 for the API; a naive datetime is taken as UTC (datetime.utcnow())."""
    if t is None or isinstance(t, str):
        return t
    if t.tzinfo is None:
        t = t.replace(tzinfo=timezone.utc)
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class AgentsClient(AdminBase):
    def register_agent(self, *, app_id: str, name: str, scopes: Optional[Sequence[str]] = None,
                       description: Optional[str] = None, created_by: Optional[str] = None,
                       grant_types: Optional[Sequence[str]] = None,
                       dpop_jkt: Optional[str] = None,
                       client_id: Optional[str] = None,
                       resource_server: Optional[bool] = None) -> Dict[str, Any]:
        """Create an agent. The answer (a dict) carries client_id and, once only,
        client_secret. `created_by` links it to the customer (user id) so
        users.revoke_agents and the vault reach it. `client_id` (shark_agent_
        followed by letters, digits, '.', '_' or '-') names it yourself, e.g.
        shark_agent_v3.2_<instance>, so bulk_revoke_by_pattern can reach a class
        of agents; by default the server picks a random one. resource_server=True
        lets the agent introspect any token: the credentials an API or MCP server
        gives ResourceServer(introspect=True) instead of the admin key."""
        body: Dict[str, Any] = {"app_id": app_id, "name": name}
        for k, v in (("scopes", list(scopes) if scopes is not None else None),
                     ("description", description), ("created_by", created_by),
                     ("grant_types", list(grant_types) if grant_types is not None else None),
                     ("dpop_jkt", dpop_jkt), ("client_id", client_id),
                     ("resource_server", resource_server)):
            if v is not None:
                body[k] = v
        return self._t.send("POST", "/api/v1/agents", json=body).json()

    def get_agent(self, agent_id: str) -> Dict[str, Any]:
        return self._t.send("GET", "/api/v1/agents/" + seg(agent_id)).json()

    def list_agents(self, *, app_id: Optional[str] = None, created_by: Optional[str] = None,
                    status: Optional[str] = None, limit: int = 100, offset: int = 0) -> AgentList:
        b = self._t.send("GET", "/api/v1/agents", params={
            "app_id": app_id, "created_by": created_by, "status": status, "limit": limit,
            "offset": offset}).json()
        return AgentList(data=b.get("data", []), total=int(b.get("total", 0)), filter=None)

    def update_agent(self, agent_id: str, *, name: Optional[str] = None,
                     description: Optional[str] = None, scopes: Optional[Sequence[str]] = None,
                     status: Optional[str] = None,
                     resource_server: Optional[bool] = None) -> Dict[str, Any]:
        body = {k: v for k, v in (("name", name), ("description", description),
                                  ("scopes", list(scopes) if scopes is not None else None),
                                  ("status", status), ("resource_server", resource_server))
                if v is not None}
        return self._t.send("PATCH", "/api/v1/agents/" + seg(agent_id), json=body).json()

    def delete_agent(self, agent_id: str) -> None:
        self._t.send("DELETE", "/api/v1/agents/" + seg(agent_id))

    def list_tokens(self, agent_id: str) -> List[TokenInfo]:
        b = self._t.send("GET", "/api/v1/agents/%s/tokens" % seg(agent_id)).json()
        return [TokenInfo.from_dict(d) for d in b.get("data", [])]

    def revoke_all(self, agent_id: str) -> RevokeResult:
        b = self._t.send("POST", "/api/v1/agents/%s/tokens/revoke-all" % seg(agent_id)).json()
        return RevokeResult(revoked_count=int(b["revoked_count"]), agent_id=b["agent_id"])

    def rotate_secret(self, agent_id: str, *,
                      grace_period_seconds: Optional[int] = None) -> AgentCredentials:
        """A new client_secret, returned once. With grace_period_seconds the old
        one keeps working that long."""
        body = {} if grace_period_seconds is None else {"grace_period_seconds": grace_period_seconds}
        b = self._t.send("POST", "/api/v1/agents/%s/rotate-secret" % seg(agent_id),
                         json=body).json()
        return AgentCredentials(agent_id=b["agent_id"], client_id=b["client_id"],
                                client_secret=b["client_secret"], rotated_at=b.get("rotated_at"))

    def get_audit_logs(self, agent_id: str, *, limit: int = 100,
                       since: Union[datetime, str, None] = None) -> List[AuditEvent]:
        b = self._t.send("GET", "/api/v1/audit-logs", params={
            "actor_id": agent_id, "limit": limit, "since": iso(since)}).json()
        return [AuditEvent.from_dict(d) for d in b.get("data", [])]

    def rotate_dpop_key(self, agent_id: str, *, new_public_key_jwk: Dict[str, Any],
                        reason: Optional[str] = None) -> DPoPRotationResult:
        body: Dict[str, Any] = {"new_public_key_jwk": new_public_key_jwk}
        if reason is not None:
            body["reason"] = reason
        b = self._t.send("POST", "/api/v1/agents/%s/rotate-dpop-key" % seg(agent_id),
                         json=body).json()
        return DPoPRotationResult(old_jkt=b.get("old_jkt") or "", new_jkt=b["new_jkt"],
                                  revoked_token_count=int(b["revoked_token_count"]),
                                  audit_event_id=b["audit_event_id"])

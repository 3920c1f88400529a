"""Agents (/api/v1/agents): register, inspect, rotate and revoke. Admin key."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Dict, Iterator, List, Optional, Sequence, Union

from ._base import AdminBase, seg
from .models import (AgentCredentials, AgentList, AuditEvent, DPoPRotationResult,
                     RevokeResult, TokenInfo)
from .pages import MAX_PAGE, page_params, rows, walk


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
                    status: Optional[str] = None, limit: int = 100, offset: int = 0,
                    cursor: Optional[str] = None) -> AgentList:
        """One page, newest first, with the total; pass next_cursor back as
        cursor for the next (iter_agents walks them all)."""
        b = self._t.send("GET", "/api/v1/agents", params={
            "app_id": app_id, "created_by": created_by, "status": status,
            **page_params(limit, cursor, offset, True)}).json()
        return AgentList(data=rows(b), total=int(b.get("total", 0)), filter=None,
                         next_cursor=b.get("next_cursor"))

    def iter_agents(self, *, app_id: Optional[str] = None, created_by: Optional[str] = None,
                    status: Optional[str] = None,
                    page_size: int = 100) -> Iterator[Dict[str, Any]]:
        """Every matching agent, newest first, fetched page_size at a time."""
        return walk(self._t, "/api/v1/agents", {"app_id": app_id, "created_by": created_by,
                                                "status": status}, page_size=page_size)

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

    def list_tokens(self, agent_id: str, *, limit: Optional[int] = 10_000) -> List[TokenInfo]:
        """The agent's live tokens, latest expiry first: every page, up to
        `limit` tokens (None: all of them; iter_tokens streams instead)."""
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise ValueError("limit must be a positive integer or None")
        size = MAX_PAGE if limit is None else min(limit, MAX_PAGE)
        return [TokenInfo.from_dict(d) for d in walk(
            self._t, "/api/v1/agents/%s/tokens" % seg(agent_id), {}, page_size=size,
            max_rows=limit)]

    def iter_tokens(self, agent_id: str, *, page_size: int = 100) -> Iterator[TokenInfo]:
        """Every live token of the agent, latest expiry first, page by page."""
        path = "/api/v1/agents/%s/tokens" % seg(agent_id)
        return (TokenInfo.from_dict(d) for d in walk(self._t, path, {}, page_size=page_size))

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
        """The agent's latest `limit` events, newest first (more than one
        page's 1000 are fetched page by page)."""
        q = {"actor_id": agent_id, "since": iso(since)}
        if not isinstance(limit, int) or limit <= MAX_PAGE:  # the server judges it
            b = self._t.send("GET", "/api/v1/audit-logs", params={**q, "limit": limit}).json()
            return [AuditEvent.from_dict(d) for d in rows(b)]
        return [AuditEvent.from_dict(d) for d in walk(self._t, "/api/v1/audit-logs", q,
                                                      page_size=MAX_PAGE, max_rows=limit)]

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

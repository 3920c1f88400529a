"""Users (/api/v1/users): the people your agents act for. Admin key."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

try:
    from typing import Literal
except ImportError:  # pragma: no cover
    from typing_extensions import Literal  # type: ignore

from ._base import AdminBase, seg
from .models import AgentList, CascadeRevokeResult


class UsersClient(AdminBase):
    def create_user(self, *, email: str, name: Optional[str] = None,
                    password: Optional[str] = None) -> Dict[str, Any]:
        body = {k: v for k, v in (("email", email), ("name", name), ("password", password))
                if v is not None}
        return self._t.send("POST", "/api/v1/users", json=body).json()

    def get_user(self, user_id: str) -> Dict[str, Any]:
        return self._t.send("GET", "/api/v1/users/" + seg(user_id)).json()

    def list_users(self, *, limit: int = 100, offset: int = 0) -> List[Dict[str, Any]]:
        return self._t.send("GET", "/api/v1/users",
                            params={"limit": limit, "offset": offset}).json().get("data", [])

    def delete_user(self, user_id: str) -> None:
        self._t.send("DELETE", "/api/v1/users/" + seg(user_id))

    def revoke_agents(self, user_id: str, *, agent_ids: Optional[Sequence[str]] = None,
                      reason: Optional[str] = None) -> CascadeRevokeResult:
        """Layer 3: without agent_ids, every agent the user created and every
        consent they gave; with agent_ids, only those (all must be the user's,
        or nothing is revoked)."""
        body: Dict[str, Any] = {}
        if agent_ids is not None:
            body["agent_ids"] = list(agent_ids)
        if reason is not None:
            body["reason"] = reason
        b = self._t.send("POST", "/api/v1/users/%s/revoke-agents" % seg(user_id),
                         json=body).json()
        return CascadeRevokeResult(revoked_agent_ids=list(b.get("revoked_agent_ids", [])),
                                   revoked_consent_count=int(b.get("revoked_consent_count", 0)),
                                   audit_event_id=b.get("audit_event_id"))

    def list_agents(self, user_id: str, *,
                    filter: Literal["created", "authorized", "all"] = "all",
                    limit: int = 100, offset: int = 0) -> AgentList:
        b = self._t.send("GET", "/api/v1/users/%s/agents" % seg(user_id), params={
            "filter": filter, "limit": limit, "offset": offset}).json()
        return AgentList(data=b.get("data", []), total=int(b.get("total", 0)),
                         filter=b.get("filter", filter))

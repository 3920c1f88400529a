"""Users (/api/v1/users): the people your agents act for. Admin key."""
from __future__ import annotations

from typing import Any, Dict, Iterator, Optional, Sequence

try:
    from typing import Literal
except ImportError:  # pragma: no cover
    from typing_extensions import Literal  # type: ignore

from ._base import AdminBase, seg
from .models import AgentList, CascadeRevokeResult
from .pages import Page, page_params, rows, to_page, walk


class UsersClient(AdminBase):
    def create_user(self, *, email: str, name: Optional[str] = None,
                    password: Optional[str] = None) -> Dict[str, Any]:
        body = {k: v for k, v in (("email", email), ("name", name), ("password", password))
                if v is not None}
        return self._t.send("POST", "/api/v1/users", json=body).json()

    def get_user(self, user_id: str) -> Dict[str, Any]:
        return self._t.send("GET", "/api/v1/users/" + seg(user_id)).json()

    def list_users(self, *, limit: int = 100, offset: int = 0, cursor: Optional[str] = None,
                   total: bool = False) -> Page[Dict[str, Any]]:
        """One page of users, newest first (total=True also counts them all)."""
        return to_page(self._t.send("GET", "/api/v1/users", params=page_params(
            limit, cursor, offset, total)).json(), dict)

    def iter_users(self, *, page_size: int = 100) -> Iterator[Dict[str, Any]]:
        """Every user, newest first, fetched page_size at a time."""
        return walk(self._t, "/api/v1/users", {}, page_size=page_size)

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
                    limit: int = 100, offset: int = 0,
                    cursor: Optional[str] = None) -> AgentList:
        """One page of the agents the user created or authorized, with the
        total; pass next_cursor back as cursor for the next."""
        b = self._t.send("GET", "/api/v1/users/%s/agents" % seg(user_id), params={
            "filter": filter, **page_params(limit, cursor, offset, True)}).json()
        return AgentList(data=rows(b), total=int(b.get("total", 0)),
                         filter=b.get("filter", filter), next_cursor=b.get("next_cursor"))

    def iter_agents(self, user_id: str, *,
                    filter: Literal["created", "authorized", "all"] = "all",
                    page_size: int = 100) -> Iterator[Dict[str, Any]]:
        """Every agent list_agents would page through."""
        return walk(self._t, "/api/v1/users/%s/agents" % seg(user_id), {"filter": filter},
                    page_size=page_size)

    def list_consents(self, user_id: str, *, limit: int = 100, cursor: Optional[str] = None,
                      total: bool = False) -> Page[Dict[str, Any]]:
        """One page of the user's live consents (id, client_id, scopes, created_at)."""
        return to_page(self._t.send("GET", "/api/v1/users/%s/consents" % seg(user_id),
                                    params=page_params(limit, cursor, None, total)).json(), dict)

    def iter_consents(self, user_id: str, *, page_size: int = 100) -> Iterator[Dict[str, Any]]:
        """Every live consent of the user, page by page."""
        return walk(self._t, "/api/v1/users/%s/consents" % seg(user_id), {},
                    page_size=page_size)

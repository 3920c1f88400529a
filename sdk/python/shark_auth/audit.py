"""The audit log (/api/v1/audit-logs). Admin key."""
from __future__ import annotations

from datetime import datetime
from typing import Iterator, Optional, Union

from ._base import AdminBase
from .agents import iso
from .models import AuditEvent, AuditLogPage
from .pages import walk


class AuditClient(AdminBase):
    def list_events(self, *, actor_id: Optional[str] = None, target_id: Optional[str] = None,
                    event: Optional[str] = None, since: Union[datetime, str, None] = None,
                    until: Union[datetime, str, None] = None, limit: int = 100,
                    cursor: Optional[str] = None) -> AuditLogPage:
        """One page, newest first; `event` may end in * (e.g. "oauth.*")."""
        b = self._t.send("GET", "/api/v1/audit-logs", params={
            "actor_id": actor_id, "target_id": target_id, "event": event, "since": iso(since),
            "until": iso(until), "limit": limit, "cursor": cursor}).json()
        return AuditLogPage(data=[AuditEvent.from_dict(d) for d in b.get("data", [])],
                            next_cursor=b.get("next_cursor"))

    def iter_events(self, *, actor_id: Optional[str] = None, target_id: Optional[str] = None,
                    event: Optional[str] = None, since: Union[datetime, str, None] = None,
                    until: Union[datetime, str, None] = None,
                    page_size: int = 100) -> Iterator[AuditEvent]:
        """Every matching event, newest first, following next_cursor."""
        return (AuditEvent.from_dict(d) for d in walk(self._t, "/api/v1/audit-logs", {
            "actor_id": actor_id, "target_id": target_id, "event": event, "since": iso(since),
            "until": iso(until)}, page_size=page_size))

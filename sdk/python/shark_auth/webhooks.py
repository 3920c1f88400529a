"""Webhook endpoints (/api/v1/admin/webhooks): stream audit events to your tools. Admin key."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence

from ._base import AdminBase, seg

BASE = "/api/v1/admin/webhooks"


class WebhooksClient(AdminBase):
    def create_webhook(self, *, url: str, events: Sequence[str],
                       description: Optional[str] = None) -> Dict[str, Any]:
        """The answer carries the signing secret, once."""
        body: Dict[str, Any] = {"url": url, "events": list(events)}
        if description is not None:
            body["description"] = description
        return self._t.send("POST", BASE, json=body).json()

    def list_webhooks(self, *, limit: int = 100, offset: int = 0) -> List[Dict[str, Any]]:
        return self._t.send("GET", BASE, params={"limit": limit, "offset": offset}
                            ).json().get("data", [])

    def get_webhook(self, webhook_id: str) -> Dict[str, Any]:
        return self._t.send("GET", BASE + "/" + seg(webhook_id)).json()

    def update_webhook(self, webhook_id: str, *, url: Optional[str] = None,
                       events: Optional[Sequence[str]] = None,
                       description: Optional[str] = None,
                       enabled: Optional[bool] = None) -> Dict[str, Any]:
        body = {k: v for k, v in (("url", url), ("events", list(events) if events else None),
                                  ("description", description), ("enabled", enabled))
                if v is not None}
        return self._t.send("PATCH", BASE + "/" + seg(webhook_id), json=body).json()

    def delete_webhook(self, webhook_id: str) -> None:
        self._t.send("DELETE", BASE + "/" + seg(webhook_id))

    def rotate_secret(self, webhook_id: str) -> Dict[str, Any]:
        return self._t.send("POST", BASE + "/%s/rotate-secret" % seg(webhook_id)).json()

    def test_webhook(self, webhook_id: str) -> Dict[str, Any]:
        """Queue a test delivery to the endpoint."""
        return self._t.send("POST", BASE + "/%s/test" % seg(webhook_id)).json()

    def list_deliveries(self, webhook_id: str, *, status: Optional[str] = None,
                        limit: int = 100, offset: int = 0) -> List[Dict[str, Any]]:
        return self._t.send("GET", BASE + "/%s/deliveries" % seg(webhook_id), params={
            "status": status, "limit": limit, "offset": offset}).json().get("data", [])

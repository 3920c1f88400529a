"""Webhook endpoints (/api/v1/admin/webhooks): stream audit events to your tools. Admin key."""
from __future__ import annotations

from typing import Any, Dict, Iterator, Optional, Sequence

from ._base import AdminBase, seg
from .pages import Page, page_params, to_page, walk

BASE = "/api/v1/admin/webhooks"


class WebhooksClient(AdminBase):
    def create_webhook(self, *, url: str, events: Sequence[str],
                       description: Optional[str] = None) -> Dict[str, Any]:
        """The answer carries the signing secret, once."""
        body: Dict[str, Any] = {"url": url, "events": list(events)}
        if description is not None:
            body["description"] = description
        return self._t.send("POST", BASE, json=body).json()

    def list_webhooks(self, *, limit: int = 100, offset: int = 0, cursor: Optional[str] = None,
                      total: bool = False) -> Page[Dict[str, Any]]:
        """One page of endpoints, newest first (total=True also counts them all)."""
        return to_page(self._t.send("GET", BASE, params=page_params(
            limit, cursor, offset, total)).json(), dict)

    def iter_webhooks(self, *, page_size: int = 100) -> Iterator[Dict[str, Any]]:
        """Every endpoint, newest first, fetched page_size at a time."""
        return walk(self._t, BASE, {}, page_size=page_size)

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
                        limit: int = 100, offset: int = 0, cursor: Optional[str] = None,
                        total: bool = False) -> Page[Dict[str, Any]]:
        """One page of the endpoint's deliveries, newest first."""
        return to_page(self._t.send("GET", BASE + "/%s/deliveries" % seg(webhook_id), params={
            "status": status, **page_params(limit, cursor, offset, total)}).json(), dict)

    def iter_deliveries(self, webhook_id: str, *, status: Optional[str] = None,
                        page_size: int = 100) -> Iterator[Dict[str, Any]]:
        """Every delivery of the endpoint (with that status), newest first."""
        return walk(self._t, BASE + "/%s/deliveries" % seg(webhook_id), {"status": status},
                    page_size=page_size)

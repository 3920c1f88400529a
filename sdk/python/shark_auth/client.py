"""Client: the admin entry point, one connection pool for every area."""
from __future__ import annotations

from typing import Any, Optional

import httpx

from ._http import DEFAULT_TIMEOUT, Transport
from .agents import AgentsClient
from .apps import AppsClient
from .audit import AuditClient
from .oauth import OAuthClient
from .users import UsersClient
from .vault import VaultClient
from .webhooks import WebhooksClient


class Client:
    """Client(base_url, token): `token` is the admin API key (sk_live_...)."""

    def __init__(self, base_url: str, token: Optional[str] = None, *,
                 timeout: float = DEFAULT_TIMEOUT, max_retries: int = 2,
                 http_client: Optional[httpx.Client] = None) -> None:
        self._t = Transport(base_url, token=token, timeout=timeout, max_retries=max_retries,
                            http_client=http_client)
        self.agents = AgentsClient(base_url, _transport=self._t)
        self.users = UsersClient(base_url, _transport=self._t)
        self.apps = AppsClient(base_url, _transport=self._t)
        self.audit = AuditClient(base_url, _transport=self._t)
        self.webhooks = WebhooksClient(base_url, _transport=self._t)
        self.vault = VaultClient(base_url, _transport=self._t)
        self.oauth = OAuthClient(base_url, _transport=self._t)

    @property
    def base_url(self) -> str:
        return self._t.base_url

    def close(self) -> None:
        self._t.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

"""The token vault: third-party OAuth tokens brokered for agents."""
from __future__ import annotations

from typing import Any, Dict, Iterator, Optional

import httpx

from ._base import seg
from ._http import DEFAULT_TIMEOUT, Transport
from .dpop import DPoPProver
from .errors import VaultError
from .pages import Page, page_params, rows, to_page, walk
from .models import (VaultConnectionList, VaultConnectionRecord, VaultDisconnectResult,
                     VaultTokenResult)


def _flag(v: Optional[bool]) -> Optional[str]:
    """A yes/no filter as the query spells it; None leaves it out."""
    return None if v is None else ("true" if v else "false")


class VaultClient:
    """admin_key for list_connections and disconnect; fetch_token uses the
    agent's own DPoP-bound token instead."""

    def __init__(self, base_url: str, admin_key: Optional[str] = None, *,
                 timeout: float = DEFAULT_TIMEOUT, max_retries: int = 2,
                 http_client: Optional[httpx.Client] = None,
                 _transport: Optional[Transport] = None) -> None:
        self._t = _transport or Transport(base_url, token=admin_key, timeout=timeout,
                                          max_retries=max_retries, http_client=http_client)

    def close(self) -> None:
        self._t.close()

    def list_connections(self, provider_id: Optional[str] = None, *, limit: int = 100,
                         offset: int = 0, user_id: Optional[str] = None,
                         cursor: Optional[str] = None,
                         needs_reauth: Optional[bool] = None) -> VaultConnectionList:
        """One page of connections, newest first, with the total; pass
        next_cursor back as cursor for the next (iter_connections walks them all).
        needs_reauth=True keeps only those the user must connect again, False
        only the others; None, both."""
        self._need_key()
        b = self._t.send("GET", "/api/v1/vault/connections", kind="vault", params={
            "provider_id": provider_id, "user_id": user_id,
            "needs_reauth": _flag(needs_reauth),
            **page_params(limit, cursor, offset, True)}).json()
        return VaultConnectionList(total=int(b.get("total", 0)),
                                   items=[VaultConnectionRecord.from_dict(d)
                                          for d in rows(b, "items")],
                                   next_cursor=b.get("next_cursor"))

    def iter_connections(self, provider_id: Optional[str] = None, *,
                         user_id: Optional[str] = None, needs_reauth: Optional[bool] = None,
                         page_size: int = 100) -> Iterator[VaultConnectionRecord]:
        """Every matching connection, newest first, fetched page_size at a time."""
        self._need_key()
        return (VaultConnectionRecord.from_dict(d) for d in walk(
            self._t, "/api/v1/vault/connections", {"provider_id": provider_id,
                                                   "user_id": user_id,
                                                   "needs_reauth": _flag(needs_reauth)},
            page_size=page_size, kind="vault", key="items"))

    def list_providers(self, *, limit: int = 100, cursor: Optional[str] = None,
                       total: bool = False) -> Page[Dict[str, Any]]:
        """One page of providers (the built-in templates and the custom ones)."""
        self._need_key()
        return to_page(self._t.send("GET", "/api/v1/vault/providers", kind="vault",
                                    params=page_params(limit, cursor, None, total)).json(),
                       dict, "items")

    def iter_providers(self, *, page_size: int = 100) -> Iterator[Dict[str, Any]]:
        """Every provider, page by page."""
        self._need_key()
        return walk(self._t, "/api/v1/vault/providers", {}, page_size=page_size, kind="vault",
                    key="items")

    def fetch_token(self, *, provider: str, bearer_token: str,
                    prover: DPoPProver) -> VaultTokenResult:
        """A fresh third-party access token for the agent's user, proven with
        the key the agent's token is bound to."""
        path = "/api/v1/vault/%s/token" % seg(provider)
        r = self._t.send("GET", path, kind="vault", admin=False,
                         headers={"Authorization": "DPoP " + bearer_token},
                         dpop=lambda url, nonce: {"DPoP": prover.make_proof(
                             "GET", url, access_token=bearer_token, nonce=nonce)})
        b = r.json()
        return VaultTokenResult(access_token=b["access_token"],
                                token_type=b.get("token_type", "Bearer"),
                                expires_at=None if b.get("expires_at") is None
                                else str(b["expires_at"]), provider=b.get("provider"))

    def disconnect(self, connection_id: str, *,
                   cascade_to_agents: bool = True) -> VaultDisconnectResult:
        """Delete the connection (and revoke the token at the provider); with
        cascade_to_agents also revoke the tokens of every agent that used it."""
        self._need_key()
        b = self._t.send("DELETE", "/api/v1/vault/connections/" + seg(connection_id),
                         kind="vault",
                         params={"cascade_to_agents": "true" if cascade_to_agents else "false"}
                         ).json()
        return VaultDisconnectResult(connection_id=b["connection_id"],
                                     revoked_agent_ids=list(b.get("revoked_agent_ids", [])),
                                     revoked_token_count=int(b.get("revoked_token_count", 0)),
                                     cascade_audit_event_id=b.get("cascade_audit_event_id"))

    def _need_key(self) -> None:
        if not self._t.token:
            raise VaultError("this call needs the admin key (VaultClient(admin_key=...))", None)

"""Shared construction of the admin clients: own a Transport or share the Client's."""
from __future__ import annotations

from typing import Any, Optional
from urllib.parse import quote

import httpx

from ._http import DEFAULT_TIMEOUT, Transport


def seg(v: str) -> str:
    """One path segment, escaped: an id can never reach another route."""
    if not isinstance(v, str) or not v:
        raise ValueError("an id must be a non-empty string")
    return quote(v, safe="")


class AdminBase:
    def __init__(self, base_url: str, token: Optional[str] = None, *,
                 timeout: float = DEFAULT_TIMEOUT, max_retries: int = 2,
                 http_client: Optional[httpx.Client] = None,
                 _transport: Optional[Transport] = None) -> None:
        self._t = _transport or Transport(base_url, token=token, timeout=timeout,
                                          max_retries=max_retries, http_client=http_client)

    @property
    def base_url(self) -> str:
        return self._t.base_url

    def close(self) -> None:
        self._t.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

"""Applications (/api/v1/apps): the scope and resource envelope of agents. Admin key."""
from __future__ import annotations

from typing import Any, Dict, Iterator, Optional, Sequence

from ._base import AdminBase, seg
from .pages import Page, page_params, to_page, walk


def _body(**kw: Any) -> Dict[str, Any]:
    return {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in kw.items()
            if v is not None}


class AppsClient(AdminBase):
    def create_app(self, *, name: str, scopes: Optional[Sequence[str]] = None,
                   description: Optional[str] = None,
                   redirect_uris: Optional[Sequence[str]] = None,
                   resources: Optional[Sequence[str]] = None) -> Dict[str, Any]:
        """`resources` are the audiences (RFC 8707) its agents may ask tokens for."""
        return self._t.send("POST", "/api/v1/apps", json=_body(
            name=name, scopes=scopes, description=description, redirect_uris=redirect_uris,
            resources=resources)).json()

    def get_app(self, app_id: str) -> Dict[str, Any]:
        return self._t.send("GET", "/api/v1/apps/" + seg(app_id)).json()

    def list_apps(self, *, limit: int = 100, offset: int = 0, cursor: Optional[str] = None,
                  total: bool = False) -> Page[Dict[str, Any]]:
        """One page of apps, newest first (total=True also counts them all)."""
        return to_page(self._t.send("GET", "/api/v1/apps", params=page_params(
            limit, cursor, offset, total)).json(), dict)

    def iter_apps(self, *, page_size: int = 100) -> Iterator[Dict[str, Any]]:
        """Every app, newest first, fetched page_size at a time."""
        return walk(self._t, "/api/v1/apps", {}, page_size=page_size)

    def update_app(self, app_id: str, *, name: Optional[str] = None,
                   scopes: Optional[Sequence[str]] = None, description: Optional[str] = None,
                   redirect_uris: Optional[Sequence[str]] = None,
                   resources: Optional[Sequence[str]] = None) -> Dict[str, Any]:
        return self._t.send("PATCH", "/api/v1/apps/" + seg(app_id), json=_body(
            name=name, scopes=scopes, description=description, redirect_uris=redirect_uris,
            resources=resources)).json()

    def delete_app(self, app_id: str, *, cascade: bool = False) -> None:
        """With cascade=True its agents go too; without, an app with agents is refused (409)."""
        self._t.send("DELETE", "/api/v1/apps/" + seg(app_id),
                     params={"cascade": "true" if cascade else None})

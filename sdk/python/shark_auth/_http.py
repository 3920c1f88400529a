"""The one HTTP path every client takes: base URL, credentials, error mapping
and the retries that are safe.

Retries: only idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE), only when the
server answered 429 or 503 with a Retry-After it is willing to wait for, or when
the connection could not be made at all (nothing was sent). A POST is never sent
twice: a token request or a revocation repeated behind the caller's back is not
harmless. DPoP proofs are signed per attempt, so a retry never replays a jti."""
from __future__ import annotations

import time
from typing import Any, Callable, Dict, Mapping, Optional
from urllib.parse import urlsplit, urlunsplit

import httpx

from .errors import (AuthenticationError, NotFoundError, OAuthError, RateLimitError,
                     SharkError, VaultError)

__version__ = "0.1.0"
USER_AGENT = "shark-auth-python/" + __version__
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
DEFAULT_TIMEOUT = 30.0


def _retry_after(resp: httpx.Response) -> Optional[float]:
    v = resp.headers.get("Retry-After")
    if v is None:
        return None
    try:
        return max(float(v.strip()), 0.0)
    except ValueError:
        pass
    try:
        from email.utils import parsedate_to_datetime
        return max(parsedate_to_datetime(v).timestamp() - time.time(), 0.0)
    except (TypeError, ValueError):
        return None


def _json(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def error_from(resp: httpx.Response, kind: str = "api") -> SharkError:
    """The typed exception for an error answer. kind is "api" (/api/v1/*
    envelope), "oauth" (RFC 6749 body) or "vault"."""
    status = resp.status_code
    body = _json(resp)
    code = message = request_id = None
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            code, message, request_id = err.get("code"), err.get("message"), err.get("request_id")
        elif isinstance(err, str):
            code, message = err, body.get("error_description")
    request_id = request_id or resp.headers.get("X-Request-Id")
    message = message or code or (resp.text[:200] if resp.text else "HTTP %d" % status)
    if status == 429:
        return RateLimitError(message, status, retry_after=_retry_after(resp), code=code,
                              request_id=request_id, body=body)
    if kind == "oauth":
        return OAuthError(code or "server_error", message if message != code else None, status,
                          body=body, www_authenticate=resp.headers.get("WWW-Authenticate"))
    if kind == "vault":
        return VaultError(message, status, code=code, request_id=request_id, body=body)
    cls = {401: AuthenticationError, 404: NotFoundError}.get(status, SharkError)
    return cls(message, status, code=code, request_id=request_id, body=body)


def htu_of(url: str) -> str:
    """RFC 9449 §4.2: the target URI without query and fragment."""
    p = urlsplit(url)
    return urlunsplit((p.scheme, p.netloc, p.path, "", ""))


HeadersFn = Callable[[str, Optional[str]], Mapping[str, str]]


class Transport:
    """An httpx.Client bound to one server, with the SDK's error mapping and retries."""

    def __init__(self, base_url: str, *, token: Optional[str] = None,
                 timeout: float = DEFAULT_TIMEOUT, max_retries: int = 2,
                 max_retry_wait: float = 10.0, http_client: Optional[httpx.Client] = None) -> None:
        if not base_url:
            raise ValueError("base_url is required")
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self._client = http_client or httpx.Client(timeout=timeout,
                                                   headers={"User-Agent": USER_AGENT})
        self._owns_client = http_client is None
        self.dpop_nonce: Optional[str] = None  # the last DPoP-Nonce this server sent

    def url(self, path: str) -> str:
        if path.startswith("http://") or path.startswith("https://"):
            return path
        return self.base_url + ("" if path.startswith("/") else "/") + path

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def send(self, method: str, path: str, *, kind: str = "api", admin: bool = True,
             params: Optional[Mapping[str, Any]] = None, json: Any = None,
             data: Optional[Mapping[str, Any]] = None, headers: Optional[Mapping[str, str]] = None,
             auth: Optional[tuple] = None, dpop: Optional[HeadersFn] = None,
             raise_errors: bool = True) -> httpx.Response:
        """One call. `dpop(url, nonce)` returns the per-attempt DPoP headers;
        a use_dpop_nonce challenge is answered once with the server's nonce."""
        method = method.upper()
        url = self.url(path)
        if params:
            params = {k: v for k, v in params.items() if v is not None}
        if data:
            data = {k: v for k, v in data.items() if v is not None}
        attempt = 0
        nonce_retried = False
        while True:
            h: Dict[str, str] = {"Accept": "application/json"}
            if admin and self.token:
                h["Authorization"] = "Bearer " + self.token
            if headers:
                h.update(headers)
            if dpop is not None:
                h.update(dpop(url, self.dpop_nonce))
            body: Dict[str, Any] = {}
            if data is not None:
                # a form request is one even when every field was left out
                h["Content-Type"] = "application/x-www-form-urlencoded"
                body["content"] = httpx.QueryParams(data).__str__().encode("ascii")
            try:
                resp = self._client.request(method, url, params=params or None, json=json,
                                            headers=h, auth=auth, **body)
            except httpx.ConnectError as e:
                if method in IDEMPOTENT and attempt < self.max_retries:
                    attempt += 1
                    time.sleep(min(0.25 * 2 ** attempt, self.max_retry_wait))
                    continue
                raise SharkError("cannot reach %s: %s" % (self.base_url, e)) from e
            except httpx.HTTPError as e:
                raise SharkError("request to %s failed: %s" % (url, e)) from e
            if resp.headers.get("DPoP-Nonce"):
                self.dpop_nonce = resp.headers["DPoP-Nonce"]
            if dpop is not None and not nonce_retried and _wants_nonce(resp):
                nonce_retried = True
                continue
            if resp.status_code in (429, 503) and method in IDEMPOTENT and attempt < self.max_retries:
                wait = _retry_after(resp)
                if wait is not None and wait <= self.max_retry_wait:
                    attempt += 1
                    time.sleep(max(wait, 0.05 * 2 ** attempt))
                    continue
            if raise_errors and resp.status_code >= 400:
                raise error_from(resp, kind)
            return resp


def _wants_nonce(resp: httpx.Response) -> bool:
    if not resp.headers.get("DPoP-Nonce") or resp.status_code not in (400, 401):
        return False
    if "use_dpop_nonce" in resp.headers.get("WWW-Authenticate", ""):
        return True
    body = _json(resp)
    return isinstance(body, dict) and body.get("error") == "use_dpop_nonce"

"""Resource-server helper: protect an API or MCP server with SharkAuth tokens.

    rs = ResourceServer(issuer="https://auth.example.com",
                        resource="https://mcp.example.com/mcp",
                        required_scopes=["mcp:read"])
    app = rs.wsgi(app)            # or rs.asgi(app), or rs.verify(method, url, headers)

Each request is checked: the access token (RFC 9068 JWT, signature against the
issuer's cached JWKS, typ, iss, aud, exp), the DPoP proof (RFC 9449: signature by
the key in its header, typ, htm, htu, ath, iat within the window, jti never seen
before, the key's thumbprint equal to the token's cnf.jkt), the required scopes,
and optionally liveness through the issuer's introspection endpoint (so a
revocation is seen at once). Failures answer 401 (403 for missing scope) with a
`WWW-Authenticate: DPoP error=..., resource_metadata=...` challenge, and the
RFC 9728 metadata is served at /.well-known/oauth-protected-resource."""
from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from typing import (Any, Awaitable, Callable, Dict, Iterable, List, Mapping, MutableMapping,
                    Optional, Sequence, Tuple, Union)
from urllib.parse import urlsplit, urlunsplit

import httpx

from . import _jwt
from ._http import DEFAULT_TIMEOUT, USER_AGENT
from .errors import TokenVerificationError
from .tokens import AgentTokenClaims, JWKSCache, verify_token

WELL_KNOWN = "/.well-known/oauth-protected-resource"
DPOP_ALGS = ("ES256", "ES384", "ES512", "EdDSA", "Ed25519", "RS256", "PS256")
CLAIMS_KEY = "shark_auth.claims"


def _norm_url(u: str) -> str:
    """Scheme and host lowercased, default port dropped, no query or fragment
    (RFC 9449 §4.3 compares htu this way)."""
    p = urlsplit(u)
    scheme = p.scheme.lower()
    host = (p.hostname or "").lower()
    if ":" in host:
        host = "[" + host + "]"
    port = p.port
    if port is not None and not ((scheme == "http" and port == 80) or
                                 (scheme == "https" and port == 443)):
        host += ":%d" % port
    return urlunsplit((scheme, host, p.path or "/", "", ""))


class ReplayCache:
    """DPoP proof ids seen within their acceptance window (thread-safe,
    bounded). Share one per process; a cluster of resource servers behind a
    load balancer needs a shared store instead (subclass and override `seen`)."""

    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self._seen: "OrderedDict[str, float]" = OrderedDict()
        self._lock = threading.Lock()

    def seen(self, key: str, expires_at: float) -> bool:
        """Records key until expires_at; True when it was already there."""
        now = time.time()
        with self._lock:
            while self._seen:
                k, exp = next(iter(self._seen.items()))
                if exp > now and len(self._seen) < self.max_entries:
                    break
                self._seen.popitem(last=False)
            if key in self._seen and self._seen[key] > now:
                return True
            self._seen[key] = expires_at
            self._seen.move_to_end(key)
            return False


def _header(headers: Any, name: str) -> List[str]:
    """All values of a header from a Mapping, a list of pairs or a WSGI/ASGI shape."""
    name = name.lower()
    if hasattr(headers, "get_all"):
        return list(headers.get_all(name) or [])
    if hasattr(headers, "get_list"):
        return list(headers.get_list(name))
    items = headers.items() if hasattr(headers, "items") else headers
    out = []
    for k, v in items:
        k = k.decode("latin-1") if isinstance(k, bytes) else k
        if k.lower() == name:
            out.append(v.decode("latin-1") if isinstance(v, bytes) else v)
    return out


class ResourceServer:
    """Verifies requests to one protected resource. Thread-safe; create one
    per resource and reuse it (it caches the JWKS and the seen proof ids)."""

    def __init__(self, *, issuer: str, resource: str,
                 audience: Optional[Union[str, Sequence[str]]] = None,
                 required_scopes: Iterable[str] = (), scopes_supported: Optional[Iterable[str]] = None,
                 require_dpop: bool = True, introspect: bool = False,
                 introspection_client_id: Optional[str] = None,
                 introspection_client_secret: Optional[str] = None,
                 introspection_token: Optional[str] = None,
                 jwks_url: Optional[str] = None, dpop_iat_window: int = 60, leeway: int = 30,
                 replay_cache: Optional[ReplayCache] = None, resource_name: Optional[str] = None,
                 public_base_url: Optional[str] = None, timeout: float = DEFAULT_TIMEOUT,
                 http_client: Optional[httpx.Client] = None) -> None:
        self.issuer = issuer.rstrip("/")
        self.resource = resource
        self.audience = audience if audience is not None else resource
        self.required_scopes = list(required_scopes)
        self.scopes_supported = list(scopes_supported) if scopes_supported is not None \
            else list(self.required_scopes)
        self.require_dpop = require_dpop
        self.introspect = introspect
        self.introspection_auth: Optional[Tuple[str, str]] = None
        if introspection_client_id:
            self.introspection_auth = (introspection_client_id, introspection_client_secret or "")
        self.introspection_token = introspection_token
        if introspect and not (self.introspection_auth or introspection_token):
            raise ValueError("introspect=True needs introspection_client_id/secret or "
                             "introspection_token")
        self.dpop_iat_window = dpop_iat_window
        self.leeway = leeway
        self.replay_cache = replay_cache or ReplayCache()
        self.resource_name = resource_name
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None
        self._http = http_client or httpx.Client(timeout=timeout,
                                                 headers={"User-Agent": USER_AGENT})
        self.jwks = JWKSCache(jwks_url or self.issuer + "/.well-known/jwks.json",
                              http_client=self._http)
        p = urlsplit(resource)
        path = p.path.rstrip("/")
        self.metadata_paths = [WELL_KNOWN + path] + ([WELL_KNOWN] if path else [])
        self.resource_metadata_url = urlunsplit((p.scheme, p.netloc, WELL_KNOWN + path, "", ""))

    # -- metadata and challenges ----------------------------------------------------
    def metadata(self) -> Dict[str, Any]:
        """RFC 9728 protected-resource metadata."""
        m: Dict[str, Any] = {
            "resource": self.resource,
            "authorization_servers": [self.issuer],
            "bearer_methods_supported": ["header"],
            "scopes_supported": self.scopes_supported,
            "dpop_signing_alg_values_supported": list(DPOP_ALGS),
            "dpop_bound_access_tokens_required": self.require_dpop,
        }
        if self.resource_name:
            m["resource_name"] = self.resource_name
        return m

    def www_authenticate(self, error: Optional[str] = None, description: Optional[str] = None,
                         scope: Optional[str] = None) -> str:
        """The challenge for a refused request (RFC 6750 §3, RFC 9449 §7.1, RFC 9728 §5.1)."""
        def q(v: str) -> str:
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        params = []
        if error:
            params.append("error=" + q(error))
        if description:
            params.append("error_description=" + q(description))
        if scope:
            params.append("scope=" + q(scope))
        params.append("resource_metadata=" + q(self.resource_metadata_url))
        dpop = "DPoP " + ", ".join(params + ['algs="%s"' % " ".join(DPOP_ALGS)])
        if self.require_dpop:
            return dpop
        return dpop + ", Bearer " + ", ".join(params)

    def _refuse(self, error: Optional[str], description: str, status: int = 401,
                scope: Optional[str] = None) -> TokenVerificationError:
        return TokenVerificationError(error or "invalid_request", description, status,
                                      www_authenticate=self.www_authenticate(
                                          error, description if error else None, scope))

    # -- the check -----------------------------------------------------------------
    def verify(self, method: str, url: str, headers: Any, *,
               required_scopes: Optional[Iterable[str]] = None) -> AgentTokenClaims:
        """Verify one request (its method, full URL as the client used it, and
        headers). Returns the verified claims; raises TokenVerificationError
        whose status_code and www_authenticate are the answer to send."""
        authz = _header(headers, "authorization")
        if not authz:
            # RFC 6750 §3.1: no error code when the request carried no credentials.
            raise self._refuse(None, "an access token is required")
        if len(authz) != 1:
            raise self._refuse("invalid_request", "more than one Authorization header")
        scheme, _, token = authz[0].strip().partition(" ")
        scheme, token = scheme.lower(), token.strip()
        if scheme not in ("dpop", "bearer") or not token:
            raise self._refuse("invalid_request", "Authorization must be DPoP <token>")
        if scheme == "bearer" and self.require_dpop:
            raise self._refuse("invalid_token", "this resource takes DPoP-bound tokens only")
        try:
            claims = verify_token(token, issuer=self.issuer, audience=self.audience,
                                  jwks=self.jwks, leeway=self.leeway)
        except TokenVerificationError as e:
            if e.status_code == 503:
                raise
            raise self._refuse("invalid_token", e.error_description) from None
        proofs = _header(headers, "dpop")
        if claims.jkt is not None or scheme == "dpop":
            if scheme != "dpop":
                raise self._refuse("invalid_token",
                                   "a DPoP-bound token must be sent as Authorization: DPoP")
            if claims.jkt is None:
                raise self._refuse("invalid_token", "the token is not DPoP-bound")
            if len(proofs) != 1:
                raise self._refuse("invalid_dpop_proof", "exactly one DPoP proof is required")
            self._check_proof(proofs[0], method, url, token, claims.jkt)
        if self.introspect:
            self._check_live(token)
        need = list(self.required_scopes if required_scopes is None else required_scopes)
        missing = [s for s in need if not claims.has_scope(s)]
        if missing:
            raise self._refuse("insufficient_scope",
                               "the token lacks scope: " + " ".join(missing), 403,
                               scope=" ".join(need))
        return claims

    def _check_proof(self, proof: str, method: str, url: str, token: str, jkt: str) -> None:
        bad = lambda d: self._refuse("invalid_dpop_proof", d)  # noqa: E731
        try:
            header, p, si, sig = _jwt.split(proof)
        except (ValueError, UnicodeDecodeError):
            raise bad("the DPoP proof is not a JWT") from None
        if header.get("typ") != "dpop+jwt":
            raise bad("the DPoP proof's typ is not dpop+jwt")
        alg, jwk = header.get("alg"), header.get("jwk")
        if alg not in DPOP_ALGS or not isinstance(jwk, dict):
            raise bad("the DPoP proof needs an asymmetric alg and a public jwk")
        if not _jwt.verify(alg, jwk, si, sig):
            raise bad("the DPoP proof's signature does not verify")
        if p.get("htm") != method.upper():
            raise bad("the DPoP proof's htm does not match the request method")
        htu = p.get("htu")
        if not isinstance(htu, str) or _norm_url(htu) != _norm_url(url):
            raise bad("the DPoP proof's htu does not match the request URL")
        iat = p.get("iat")
        now = time.time()
        if not isinstance(iat, (int, float)) or abs(now - iat) > self.dpop_iat_window:
            raise bad("the DPoP proof's iat is outside the accepted window")
        if p.get("ath") != _jwt.ath(token):
            raise bad("the DPoP proof's ath does not match the access token")
        try:
            thumb = _jwt.thumbprint(jwk)
        except ValueError:
            raise bad("the DPoP proof's key has no thumbprint") from None
        if thumb != jkt:
            raise self._refuse("invalid_token", "the DPoP proof's key is not the token's key")
        jti = p.get("jti")
        if not isinstance(jti, str) or not 0 < len(jti) <= 256:
            raise bad("the DPoP proof needs a jti")
        if self.replay_cache.seen(jkt + ":" + jti, iat + self.dpop_iat_window + 1):
            raise bad("the DPoP proof was used before (jti replay)")

    def _check_live(self, token: str) -> None:
        headers = {"Accept": "application/json"}
        if self.introspection_token:
            headers["Authorization"] = "Bearer " + self.introspection_token
        try:
            kw: Dict[str, Any] = {"auth": self.introspection_auth} if self.introspection_auth else {}
            r = self._http.post(self.issuer + "/oauth/introspect", data={"token": token},
                                headers=headers, **kw)
            body = r.json() if r.status_code == 200 else None
        except (httpx.HTTPError, ValueError) as e:
            raise TokenVerificationError("temporarily_unavailable",
                                         "cannot reach the introspection endpoint: %s" % e,
                                         503) from e
        if not isinstance(body, dict):
            raise TokenVerificationError("temporarily_unavailable",
                                         "introspection answered HTTP %d" % r.status_code, 503)
        if body.get("active") is not True:
            raise self._refuse("invalid_token", "the token is revoked or expired")

    # -- framework glue ----------------------------------------------------------------
    def wsgi(self, app: Callable, **kw: Any) -> "WSGIMiddleware":
        return WSGIMiddleware(app, self, **kw)

    def asgi(self, app: Callable, **kw: Any) -> "ASGIMiddleware":
        return ASGIMiddleware(app, self, **kw)

    def request_url(self, scheme: str, host: str, path: str) -> str:
        """The URL a client used: public_base_url (behind a proxy) or scheme://host."""
        base = self.public_base_url or "%s://%s" % (scheme, host)
        return base + path

    def _refusal(self, e: TokenVerificationError) -> Tuple[int, List[Tuple[str, str]], bytes]:
        body = json.dumps({"error": e.error, "error_description": e.error_description}).encode()
        h = [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
        if e.www_authenticate:
            h.append(("WWW-Authenticate", e.www_authenticate))
        return e.status_code or 401, h, body


_REASONS = {200: "OK", 401: "Unauthorized", 403: "Forbidden", 503: "Service Unavailable",
            405: "Method Not Allowed"}


def _protects(protect: Optional[Callable[[str], bool]], path: str) -> bool:
    return True if protect is None else bool(protect(path))


class WSGIMiddleware:
    """Serves the RFC 9728 metadata and refuses unverified requests; the
    verified claims are in environ["shark_auth.claims"]. `protect(path)`
    chooses the protected paths (all by default)."""

    def __init__(self, app: Callable, server: ResourceServer, *,
                 protect: Optional[Callable[[str], bool]] = None,
                 required_scopes: Optional[Iterable[str]] = None) -> None:
        self.app, self.server, self.protect = app, server, protect
        self.required_scopes = required_scopes

    def __call__(self, environ: Dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        full = (environ.get("SCRIPT_NAME") or "") + path
        if full in self.server.metadata_paths:
            body = json.dumps(self.server.metadata()).encode()
            start_response("200 OK", [("Content-Type", "application/json"),
                                      ("Content-Length", str(len(body)))])
            return [body]
        if not _protects(self.protect, full):
            return self.app(environ, start_response)
        host = environ.get("HTTP_HOST") or "%s:%s" % (environ.get("SERVER_NAME"),
                                                       environ.get("SERVER_PORT"))
        url = self.server.request_url(environ.get("wsgi.url_scheme", "http"), host, full)
        headers = [(k[5:].replace("_", "-"), v) for k, v in environ.items()
                   if k.startswith("HTTP_")]
        try:
            environ[CLAIMS_KEY] = self.server.verify(environ.get("REQUEST_METHOD", "GET"), url,
                                                     headers, required_scopes=self.required_scopes)
        except TokenVerificationError as e:
            status, h, body = self.server._refusal(e)
            start_response("%d %s" % (status, _REASONS.get(status, "Error")),
                           h + [("Content-Length", str(len(body)))])
            return [body]
        return self.app(environ, start_response)


class ASGIMiddleware:
    """The ASGI form: claims in scope["shark_auth.claims"] (and
    scope["state"]["shark_auth_claims"]). HTTP and WebSocket handshakes on
    protected paths are checked; a refused WebSocket is closed with 1008."""

    def __init__(self, app: Callable, server: ResourceServer, *,
                 protect: Optional[Callable[[str], bool]] = None,
                 required_scopes: Optional[Iterable[str]] = None) -> None:
        self.app, self.server, self.protect = app, server, protect
        self.required_scopes = required_scopes

    async def __call__(self, scope: MutableMapping[str, Any], receive: Callable,
                       send: Callable[[Dict[str, Any]], Awaitable[None]]) -> None:
        if scope.get("type") not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        path = (scope.get("root_path") or "") + (scope.get("path") or "/")
        if scope["type"] == "http" and path in self.server.metadata_paths:
            body = json.dumps(self.server.metadata()).encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        if not _protects(self.protect, path):
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers") or []
        host = next((v.decode("latin-1") for k, v in headers if k.lower() == b"host"), None)
        if host is None and scope.get("server"):
            host = "%s:%s" % tuple(scope["server"])
        scheme = scope.get("scheme") or "http"
        scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
        url = self.server.request_url(scheme, host or "localhost", path)
        method = scope.get("method", "GET")
        import asyncio
        try:
            claims = await asyncio.get_running_loop().run_in_executor(
                None, lambda: self.server.verify(method, url, headers,
                                                 required_scopes=self.required_scopes))
        except TokenVerificationError as e:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            status, h, body = self.server._refusal(e)
            await send({"type": "http.response.start", "status": status,
                        "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in h] +
                                   [(b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        scope[CLAIMS_KEY] = claims
        scope.setdefault("state", {})["shark_auth_claims"] = claims
        await self.app(scope, receive, send)


_servers: Dict[Tuple[Any, ...], ResourceServer] = {}
_servers_lock = threading.Lock()


def verify_request(method: str, url: str, headers: Any, *, issuer: str, resource: str,
                   required_scopes: Iterable[str] = (), **options: Any) -> AgentTokenClaims:
    """The plain-function form: verify one request against `issuer` for
    `resource`. The ResourceServer behind it (JWKS and replay caches) is kept
    per configuration, so calling this per request is cheap. `options` are
    ResourceServer's other keywords. Raises TokenVerificationError."""
    key = (issuer, resource, tuple(sorted((k, repr(v)) for k, v in options.items())))
    with _servers_lock:
        rs = _servers.get(key)
        if rs is None:
            rs = _servers[key] = ResourceServer(issuer=issuer, resource=resource, **options)
    return rs.verify(method, url, headers, required_scopes=list(required_scopes))

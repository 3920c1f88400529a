"""Verified access-token claims: an RFC 9068 JWT checked against the
issuer's JWKS (signature, typ, iss, aud, exp)."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Sequence, Union

import httpx

from . import _jwt
from ._http import DEFAULT_TIMEOUT, USER_AGENT
from .claims import ActorClaim, actor_chain
from .errors import TokenVerificationError

ACCESS_TOKEN_TYPES = ("at+jwt", "application/at+jwt")


@dataclass
class AgentTokenClaims:
    """The claims of an access token whose signature, issuer, audience and
    lifetime were checked (and, when asked, its DPoP proof and liveness)."""
    sub: str
    iss: str
    aud: List[str]
    exp: int
    iat: int
    jti: Optional[str]
    client_id: Optional[str]
    scope: Optional[str]
    jkt: Optional[str]
    act: Optional[Dict[str, Any]]
    delegation_chain: List[ActorClaim] = field(default_factory=list)
    raw: Dict[str, Any] = field(default_factory=dict)

    @property
    def scopes(self) -> List[str]:
        return (self.scope or "").split()

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    def is_delegated(self) -> bool:
        return bool(self.delegation_chain)

    @classmethod
    def from_payload(cls, p: Dict[str, Any]) -> "AgentTokenClaims":
        aud = p.get("aud")
        auds = [aud] if isinstance(aud, str) else [a for a in (aud or []) if isinstance(a, str)]
        cnf_v, act_v = p.get("cnf"), p.get("act")
        cnf: Dict[str, Any] = cnf_v if isinstance(cnf_v, dict) else {}
        act = act_v if isinstance(act_v, dict) else None
        return cls(sub=str(p.get("sub", "")), iss=str(p.get("iss", "")), aud=auds,
                   exp=int(p.get("exp") or 0), iat=int(p.get("iat") or 0), jti=p.get("jti"),
                   client_id=p.get("client_id"),
                   scope=p.get("scope") if isinstance(p.get("scope"), str) else None,
                   jkt=cnf.get("jkt"), act=act, delegation_chain=actor_chain(act), raw=p)


class JWKSCache:
    """The issuer's signing keys, fetched once and again when a token names a
    key id not yet seen (at most once per `min_refresh_interval` seconds, so
    forged kids cannot make us hammer the server), and after `max_age`."""

    def __init__(self, jwks_url: str, *, max_age: float = 300.0,
                 min_refresh_interval: float = 10.0, timeout: float = DEFAULT_TIMEOUT,
                 http_client: Optional[httpx.Client] = None) -> None:
        self.jwks_url = jwks_url
        self.max_age = max_age
        self.min_refresh_interval = min_refresh_interval
        self._client = http_client or httpx.Client(timeout=timeout,
                                                   headers={"User-Agent": USER_AGENT})
        self._keys: Dict[str, Dict[str, Any]] = {}
        self._fetched = 0.0
        self._lock = threading.Lock()

    def _refresh(self) -> None:
        try:
            r = self._client.get(self.jwks_url)
            r.raise_for_status()
            keys = r.json().get("keys", [])
        except (httpx.HTTPError, ValueError, AttributeError) as e:
            raise TokenVerificationError("temporarily_unavailable",
                                         "cannot fetch the issuer's JWKS: %s" % e, 503) from e
        self._keys = {k["kid"]: k for k in keys if isinstance(k, dict) and isinstance(k.get("kid"), str)}
        self._fetched = time.monotonic()

    def get(self, kid: str) -> Optional[Dict[str, Any]]:
        with self._lock:
            age = time.monotonic() - self._fetched
            if not self._fetched or age > self.max_age or \
                    (kid not in self._keys and age > self.min_refresh_interval):
                self._refresh()
            return self._keys.get(kid)


def _fail(desc: str) -> TokenVerificationError:
    return TokenVerificationError("invalid_token", desc, 401)


def verify_token(token: str, *, issuer: str, audience: Union[str, Sequence[str]],
                 jwks: Optional[JWKSCache] = None, jwks_url: Optional[str] = None,
                 algorithms: Iterable[str] = _jwt.ALGS, leeway: int = 30,
                 now: Optional[float] = None) -> AgentTokenClaims:
    """Verify an RFC 9068 access token: typ at+jwt, an allowed asymmetric alg,
    the signature by a key of the issuer's JWKS, iss, aud (any of `audience`),
    exp and nbf (with `leeway` seconds). Raises TokenVerificationError."""
    if jwks is None:
        jwks = JWKSCache(jwks_url or issuer.rstrip("/") + "/.well-known/jwks.json")
    try:
        header, payload, si, sig = _jwt.split(token)
    except (ValueError, UnicodeDecodeError):
        raise _fail("the access token is not a JWT") from None
    if header.get("typ") not in ACCESS_TOKEN_TYPES:
        raise _fail("the token is not an RFC 9068 access token (typ at+jwt)")
    alg = header.get("alg")
    if alg not in set(algorithms) or "crit" in header:
        raise _fail("the token's alg is not accepted")
    kid = header.get("kid")
    if not isinstance(kid, str):
        raise _fail("the token names no key id")
    jwk = jwks.get(kid)
    if jwk is None:
        raise _fail("the token is signed by a key the issuer does not publish")
    if jwk.get("alg") not in (None, alg) and not (alg in ("EdDSA", "Ed25519") and
                                                   jwk.get("alg") in ("EdDSA", "Ed25519")):
        raise _fail("the token's alg does not match its key")
    if not _jwt.verify(alg, jwk, si, sig):
        raise _fail("the token's signature does not verify")
    t = time.time() if now is None else now
    if payload.get("iss") != issuer.rstrip("/") and payload.get("iss") != issuer:
        raise _fail("the token was issued by someone else")
    wanted = [audience] if isinstance(audience, str) else list(audience)
    claims = AgentTokenClaims.from_payload(payload)
    if not any(a in wanted for a in claims.aud):
        raise _fail("the token is not meant for this resource (aud)")
    exp = payload.get("exp")
    if not isinstance(exp, (int, float)) or exp + leeway < t:
        raise _fail("the token has expired")
    nbf = payload.get("nbf")
    if isinstance(nbf, (int, float)) and nbf - leeway > t:
        raise _fail("the token is not valid yet")
    if not claims.sub:
        raise _fail("the token has no subject")
    return claims

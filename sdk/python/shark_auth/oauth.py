"""OAuth 2.1 calls (/oauth/*): tokens with and without DPoP, token exchange
(RFC 8693), device flow (RFC 8628), refresh, introspection, revocation; and
the admin's bulk revocation by client_id pattern."""
from __future__ import annotations

import time
from typing import Any, Dict, Optional, Tuple

import httpx

from ._http import DEFAULT_TIMEOUT, Transport
from .claims import AgentTokenClaims as _Unverified
from .dpop import DPoPProver
from .errors import OAuthError
from .models import BulkRevokeResult, DeviceAuthorization, IntrospectionResult, TokenResponse

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
DEVICE_CODE = "urn:ietf:params:oauth:grant-type:device_code"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


def _token_response(b: Dict[str, Any]) -> TokenResponse:
    cnf_jkt = act = None
    try:
        c = _Unverified.parse(b["access_token"])
        cnf_jkt, act = c.jkt, c.raw.get("act")
    except ValueError:
        pass  # an opaque token: nothing to read
    return TokenResponse(access_token=b["access_token"], token_type=b.get("token_type", ""),
                         expires_in=b.get("expires_in"), scope=b.get("scope"),
                         refresh_token=b.get("refresh_token"), id_token=b.get("id_token"),
                         issued_token_type=b.get("issued_token_type"), cnf_jkt=cnf_jkt,
                         act=act if isinstance(act, dict) else None, raw=b)


class OAuthClient:
    """`token` is the admin key, needed only by bulk_revoke_by_pattern (and
    used by introspect when no client credentials are given). client_id and
    client_secret are defaults for every call that authenticates a client."""

    def __init__(self, base_url: str, token: Optional[str] = None, *,
                 client_id: Optional[str] = None, client_secret: Optional[str] = None,
                 timeout: float = DEFAULT_TIMEOUT, max_retries: int = 2,
                 http_client: Optional[httpx.Client] = None,
                 _transport: Optional[Transport] = None) -> None:
        self._t = _transport or Transport(base_url, token=token, timeout=timeout,
                                          max_retries=max_retries, http_client=http_client)
        self.client_id = client_id
        self.client_secret = client_secret

    def close(self) -> None:
        self._t.close()

    # -- plumbing ----------------------------------------------------------------
    def _creds(self, client_id: Optional[str], client_secret: Optional[str]
               ) -> Tuple[Optional[str], Optional[str]]:
        if client_id is None:
            client_id, client_secret = self.client_id, client_secret or self.client_secret
        return client_id, client_secret

    def _token(self, form: Dict[str, Any], client_id: Optional[str],
               client_secret: Optional[str], prover: Optional[DPoPProver],
               require_client: bool = True) -> TokenResponse:
        cid, secret = self._creds(client_id, client_secret)
        if cid is None and require_client:
            raise ValueError("client_id is required (here or on OAuthClient)")
        auth = None
        if cid is not None and secret is not None:
            auth = (cid, secret)
        elif cid is not None:
            form = dict(form, client_id=cid)  # a public client names itself
        dpop = None
        if prover is not None:
            dpop = lambda url, nonce: {"DPoP": prover.make_proof("POST", url, nonce=nonce)}  # noqa: E731
        r = self._t.send("POST", "/oauth/token", kind="oauth", admin=False, data=form, auth=auth,
                         dpop=dpop)
        return _token_response(r.json())

    # -- tokens ------------------------------------------------------------------
    def get_token_with_dpop(self, *, grant_type: str = "client_credentials",
                            dpop_prover: DPoPProver, client_id: Optional[str] = None,
                            client_secret: Optional[str] = None, scope: Optional[str] = None,
                            audience: Optional[str] = None,
                            resource: Optional[str] = None) -> TokenResponse:
        """A token bound to dpop_prover's key (token.cnf_jkt == dpop_prover.jkt).
        `resource` (RFC 8707) / `audience` name the API the token is for."""
        if grant_type != "client_credentials":
            raise ValueError("get_token_with_dpop does client_credentials; use token_exchange, "
                             "refresh or poll_device_token for the other grants")
        return self._token({"grant_type": grant_type, "scope": scope, "audience": audience,
                            "resource": resource}, client_id, client_secret, dpop_prover)

    def get_token(self, *, client_id: Optional[str] = None, client_secret: Optional[str] = None,
                  scope: Optional[str] = None, audience: Optional[str] = None,
                  resource: Optional[str] = None) -> TokenResponse:
        """Client credentials without DPoP: a Bearer token."""
        return self._token({"grant_type": "client_credentials", "scope": scope,
                            "audience": audience, "resource": resource},
                           client_id, client_secret, None)

    def token_exchange(self, subject_token: str, *, dpop_prover: Optional[DPoPProver] = None,
                       scope: Optional[str] = None, audience: Optional[str] = None,
                       resource: Optional[str] = None, actor_token: Optional[str] = None,
                       client_id: Optional[str] = None,
                       client_secret: Optional[str] = None) -> TokenResponse:
        """RFC 8693: trade a token this client may use (its own, or one naming
        it in aud) for a narrower one with an `act` hop naming this client.
        A DPoP-bound subject token needs dpop_prover; the new token is bound to it."""
        form = {"grant_type": TOKEN_EXCHANGE, "subject_token": subject_token,
                "subject_token_type": ACCESS_TOKEN_TYPE, "scope": scope, "audience": audience,
                "resource": resource}
        if actor_token is not None:
            form.update(actor_token=actor_token, actor_token_type=ACCESS_TOKEN_TYPE)
        return self._token(form, client_id, client_secret, dpop_prover)

    def refresh(self, refresh_token: str, *, dpop_prover: Optional[DPoPProver] = None,
                scope: Optional[str] = None, client_id: Optional[str] = None,
                client_secret: Optional[str] = None) -> TokenResponse:
        """Redeem a refresh token (it rotates: keep the new one). A token
        bound by DPoP must be refreshed with the same key."""
        return self._token({"grant_type": "refresh_token", "refresh_token": refresh_token,
                            "scope": scope}, client_id, client_secret, dpop_prover)

    # -- device flow -------------------------------------------------------------
    def device_authorization(self, *, client_id: Optional[str] = None,
                             client_secret: Optional[str] = None,
                             scope: Optional[str] = None) -> DeviceAuthorization:
        """RFC 8628 §3.1: show the person user_code and verification_uri."""
        cid, secret = self._creds(client_id, client_secret)
        if cid is None:
            raise ValueError("client_id is required (here or on OAuthClient)")
        form: Dict[str, Any] = {"scope": scope}
        auth = (cid, secret) if secret is not None else None
        if auth is None:
            form["client_id"] = cid
        b = self._t.send("POST", "/oauth/device_authorization", kind="oauth", admin=False,
                         data=form, auth=auth).json()
        return DeviceAuthorization(device_code=b["device_code"], user_code=b["user_code"],
                                   verification_uri=b["verification_uri"],
                                   verification_uri_complete=b.get("verification_uri_complete"),
                                   expires_in=int(b.get("expires_in", 0)),
                                   interval=int(b.get("interval", 5)))

    def poll_device_token(self, device_code: str, *, dpop_prover: Optional[DPoPProver] = None,
                          client_id: Optional[str] = None, client_secret: Optional[str] = None,
                          interval: float = 5.0, timeout: float = 600.0) -> TokenResponse:
        """Poll until the person approves (RFC 8628 §3.4-3.5): waits `interval`
        between polls, 5 s longer after slow_down; raises OAuthError for
        access_denied, expired_token, or when `timeout` seconds pass."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self._token({"grant_type": DEVICE_CODE, "device_code": device_code},
                                   client_id, client_secret, dpop_prover)
            except OAuthError as e:
                if e.error == "slow_down":
                    interval += 5
                elif e.error != "authorization_pending":
                    raise
                if time.monotonic() + interval > deadline:
                    raise OAuthError("expired_token", "gave up polling after %ss" % timeout,
                                     e.status_code) from None
                time.sleep(interval)

    # -- token management --------------------------------------------------------
    def introspect(self, token: str, *, client_id: Optional[str] = None,
                   client_secret: Optional[str] = None) -> IntrospectionResult:
        """RFC 7662, authenticated as the client (or, with none, by the admin key)."""
        cid, secret = self._creds(client_id, client_secret)
        auth = (cid, secret) if cid is not None and secret is not None else None
        form: Dict[str, Any] = {"token": token}
        if cid is not None and secret is None:
            form["client_id"] = cid
        b = self._t.send("POST", "/oauth/introspect", kind="oauth", admin=auth is None,
                         data=form, auth=auth).json()
        cnf = b.get("cnf") if isinstance(b.get("cnf"), dict) else {}
        return IntrospectionResult(active=b.get("active") is True, scope=b.get("scope"),
                                   client_id=b.get("client_id"), sub=b.get("sub"),
                                   exp=b.get("exp"), iat=b.get("iat"), jti=b.get("jti"),
                                   token_type=b.get("token_type"), cnf_jkt=cnf.get("jkt"),
                                   act=b.get("act") if isinstance(b.get("act"), dict) else None,
                                   raw=b)

    def revoke(self, token: str, *, token_type_hint: Optional[str] = None,
               client_id: Optional[str] = None, client_secret: Optional[str] = None) -> None:
        """RFC 7009: revoke an access or refresh token (and what derives from it).
        The server answers 200 for an unknown token, as the RFC asks."""
        cid, secret = self._creds(client_id, client_secret)
        auth = (cid, secret) if cid is not None and secret is not None else None
        form: Dict[str, Any] = {"token": token, "token_type_hint": token_type_hint}
        if cid is not None and secret is None:
            form["client_id"] = cid
        self._t.send("POST", "/oauth/revoke", kind="oauth", admin=auth is None, data=form,
                     auth=auth)

    def bulk_revoke_by_pattern(self, *, client_id_pattern: str, reason: str) -> BulkRevokeResult:
        """Layer 4: revoke every token of the clients whose client_id matches the
        GLOB pattern (* any run, ? one character). Admin key."""
        b = self._t.send("POST", "/api/v1/admin/oauth/revoke-by-pattern", json={
            "client_id_pattern": client_id_pattern, "reason": reason}).json()
        return BulkRevokeResult(revoked_count=int(b["revoked_count"]),
                                audit_event_id=b["audit_event_id"],
                                pattern_matched=b["pattern_matched"])

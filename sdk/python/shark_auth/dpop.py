"""DPoP (RFC 9449): a key pair that signs proofs, and an HTTP client that
sends a fresh proof with every request."""
from __future__ import annotations

import time
import uuid
from typing import Any, Dict, Mapping, Optional

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from . import _jwt
from ._http import DEFAULT_TIMEOUT, USER_AGENT, _wants_nonce, htu_of


class DPoPProver:
    """One DPoP key pair (ES256 by default, or EdDSA). Keep one per agent
    instance; the private key never leaves this object."""

    def __init__(self, private_key: Any) -> None:
        if isinstance(private_key, ec.EllipticCurvePrivateKey):
            if not isinstance(private_key.curve, ec.SECP256R1):
                raise ValueError("EC DPoP keys must be P-256 (ES256)")
            n = private_key.public_key().public_numbers()
            self.alg = "ES256"
            self._jwk = {"kty": "EC", "crv": "P-256", "x": _jwt.b64u(n.x.to_bytes(32, "big")),
                         "y": _jwt.b64u(n.y.to_bytes(32, "big"))}
        elif isinstance(private_key, ed25519.Ed25519PrivateKey):
            raw = private_key.public_key().public_bytes(serialization.Encoding.Raw,
                                                        serialization.PublicFormat.Raw)
            self.alg = "EdDSA"
            self._jwk = {"kty": "OKP", "crv": "Ed25519", "x": _jwt.b64u(raw)}
        else:
            raise ValueError("a DPoP key is an EC P-256 or Ed25519 private key")
        self._key = private_key
        self._jkt = _jwt.thumbprint(self._jwk)

    @classmethod
    def generate(cls, alg: str = "ES256") -> "DPoPProver":
        """A fresh key pair: alg "ES256" (default) or "EdDSA"."""
        if alg == "ES256":
            return cls(ec.generate_private_key(ec.SECP256R1()))
        if alg in ("EdDSA", "Ed25519"):
            return cls(ed25519.Ed25519PrivateKey.generate())
        raise ValueError("alg must be ES256 or EdDSA")

    @classmethod
    def from_pem(cls, pem: bytes, password: Optional[bytes] = None) -> "DPoPProver":
        """A prover from a PKCS#8 PEM private key (as written by private_key_pem())."""
        return cls(serialization.load_pem_private_key(pem, password=password))

    def private_key_pem(self, password: Optional[bytes] = None) -> bytes:
        """The private key as PKCS#8 PEM, encrypted when a password is given."""
        enc = (serialization.BestAvailableEncryption(password) if password
               else serialization.NoEncryption())
        return self._key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8, enc)

    @property
    def public_jwk(self) -> Dict[str, str]:
        """The public key as a JWK (a copy)."""
        return dict(self._jwk)

    def public_key_jwk(self) -> Dict[str, str]:
        """The same JWK as `public_jwk`."""
        return dict(self._jwk)

    @property
    def jkt(self) -> str:
        """RFC 7638 SHA-256 thumbprint: the cnf.jkt of tokens bound to this key."""
        return self._jkt

    def make_proof(self, htm: str, htu: str, *, access_token: Optional[str] = None,
                   nonce: Optional[str] = None) -> str:
        """A DPoP proof JWT for one request: htm, htu (query and fragment dropped),
        a fresh jti, iat now, ath when an access token goes with it, and the
        server's nonce when it asked for one."""
        claims: Dict[str, Any] = {"jti": str(uuid.uuid4()), "htm": htm.upper(),
                                  "htu": htu_of(htu), "iat": int(time.time())}
        if access_token is not None:
            claims["ath"] = _jwt.ath(access_token)
        if nonce is not None:
            claims["nonce"] = nonce
        header = {"typ": "dpop+jwt", "alg": self.alg, "jwk": self._jwk}
        si = (_jwt.b64u_json(header) + "." + _jwt.b64u_json(claims)).encode("ascii")
        if self.alg == "ES256":
            sig = _jwt.sign_es256(self._key, si)
        else:
            sig = self._key.sign(si)
        return si.decode("ascii") + "." + _jwt.b64u(sig)


class DPoPHTTPClient:
    """Calls a resource server with `Authorization: DPoP <token>` and a proof
    signed per request (htm, htu, ath). Answers a `use_dpop_nonce` challenge
    once with the server's nonce. Returns the httpx.Response as is (call
    raise_for_status() and json() on it)."""

    def __init__(self, base_url: str, *, timeout: float = DEFAULT_TIMEOUT,
                 http_client: Optional[httpx.Client] = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = http_client or httpx.Client(timeout=timeout,
                                                   headers={"User-Agent": USER_AGENT})
        self._owns = http_client is None
        self._nonces: Dict[str, str] = {}

    def close(self) -> None:
        if self._owns:
            self._client.close()

    def __enter__(self) -> "DPoPHTTPClient":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def request_with_dpop(self, method: str, path: str, *, token: str, prover: DPoPProver,
                          params: Optional[Mapping[str, Any]] = None, json: Any = None,
                          data: Any = None, headers: Optional[Mapping[str, str]] = None
                          ) -> httpx.Response:
        method = method.upper()
        if path.startswith(("http://", "https://")):
            url = path
        elif not path:  # the base URL itself (e.g. an MCP endpoint)
            url = self.base_url
        else:
            url = self.base_url + ("" if path.startswith("/") else "/") + path
        origin = httpx.URL(url).host
        resp = None
        for _ in range(2):
            h = {"Authorization": "DPoP " + token,
                 "DPoP": prover.make_proof(method, url, access_token=token,
                                           nonce=self._nonces.get(origin))}
            if headers:
                h.update(headers)
            resp = self._client.request(method, url, params=params, json=json, data=data,
                                        headers=h)
            if resp.headers.get("DPoP-Nonce"):
                self._nonces[origin] = resp.headers["DPoP-Nonce"]
            if not _wants_nonce(resp):
                break
        assert resp is not None
        return resp

    def get_with_dpop(self, path: str, *, token: str, prover: DPoPProver,
                      params: Optional[Mapping[str, Any]] = None,
                      headers: Optional[Mapping[str, str]] = None) -> httpx.Response:
        return self.request_with_dpop("GET", path, token=token, prover=prover, params=params,
                                      headers=headers)

    def post_with_dpop(self, path: str, *, token: str, prover: DPoPProver, json: Any = None,
                       data: Any = None, headers: Optional[Mapping[str, str]] = None
                       ) -> httpx.Response:
        return self.request_with_dpop("POST", path, token=token, prover=prover, json=json,
                                      data=data, headers=headers)

    def put_with_dpop(self, path: str, *, token: str, prover: DPoPProver, json: Any = None,
                      data: Any = None, headers: Optional[Mapping[str, str]] = None
                      ) -> httpx.Response:
        return self.request_with_dpop("PUT", path, token=token, prover=prover, json=json,
                                      data=data, headers=headers)

    def patch_with_dpop(self, path: str, *, token: str, prover: DPoPProver, json: Any = None,
                        data: Any = None, headers: Optional[Mapping[str, str]] = None
                        ) -> httpx.Response:
        return self.request_with_dpop("PATCH", path, token=token, prover=prover, json=json,
                                      data=data, headers=headers)

    def delete_with_dpop(self, path: str, *, token: str, prover: DPoPProver,
                         headers: Optional[Mapping[str, str]] = None) -> httpx.Response:
        return self.request_with_dpop("DELETE", path, token=token, prover=prover,
                                      headers=headers)

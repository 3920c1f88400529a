"""Compact JWS pieces shared by the prover and the verifier: base64url, JWK
public keys (EC P-256/384/521, OKP Ed25519, RSA), signing and checking."""
from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Dict, Tuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (decode_dss_signature,
                                                             encode_dss_signature)


def b64u(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64u_decode(s: str) -> bytes:
    if not isinstance(s, str) or any(c in s for c in "+/= \t\r\n"):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64u_json(obj: Any) -> str:
    return b64u(json.dumps(obj, separators=(",", ":")).encode())


def split(token: str) -> Tuple[Dict[str, Any], Dict[str, Any], bytes, bytes]:
    """header, payload, signing input, signature — no check made."""
    if not isinstance(token, str):
        raise ValueError("a JWT is a string")
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("a JWT has three parts")
    header = json.loads(b64u_decode(parts[0]))
    payload = json.loads(b64u_decode(parts[1]))
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise ValueError("JWT header and payload are JSON objects")
    return header, payload, (parts[0] + "." + parts[1]).encode("ascii"), b64u_decode(parts[2])


_CURVES: Dict[str, Any] = {"P-256": (ec.SECP256R1, 32, "ES256", hashes.SHA256),
           "P-384": (ec.SECP384R1, 48, "ES384", hashes.SHA384),
           "P-521": (ec.SECP521R1, 66, "ES512", hashes.SHA512)}
_RSA_HASH: Dict[str, Any] = {"RS256": hashes.SHA256, "RS384": hashes.SHA384, "RS512": hashes.SHA512,
             "PS256": hashes.SHA256, "PS384": hashes.SHA384, "PS512": hashes.SHA512}
ALGS = ("ES256", "ES384", "ES512", "EdDSA", "Ed25519", "RS256", "RS384", "RS512",
        "PS256", "PS384", "PS512")


def _int(s: str) -> int:
    return int.from_bytes(b64u_decode(s), "big")


def public_key(jwk: Dict[str, Any]) -> Any:
    """The cryptography public key of a JWK; ValueError for anything else
    (including a JWK that carries private parts)."""
    if not isinstance(jwk, dict):
        raise ValueError("a JWK is an object")
    if any(k in jwk for k in ("d", "p", "q", "dp", "dq", "qi")):
        raise ValueError("the JWK holds a private key")
    kty = jwk.get("kty")
    if kty == "EC":
        c = _CURVES.get(str(jwk.get("crv")))
        if c is None:
            raise ValueError("unsupported curve")
        x, y = b64u_decode(jwk["x"]), b64u_decode(jwk["y"])
        if len(x) != c[1] or len(y) != c[1]:
            raise ValueError("bad EC coordinate length")
        return ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"),
                                             c[0]()).public_key()
    if kty == "OKP" and jwk.get("crv") == "Ed25519":
        return ed25519.Ed25519PublicKey.from_public_bytes(b64u_decode(jwk["x"]))
    if kty == "RSA":
        n = _int(jwk["n"])
        if n.bit_length() < 2048:
            raise ValueError("RSA keys under 2048 bits are refused")
        return rsa.RSAPublicNumbers(_int(jwk["e"]), n).public_key()
    raise ValueError("unsupported key type")


def verify(alg: str, jwk: Dict[str, Any], signing_input: bytes, sig: bytes) -> bool:
    """Whether sig is alg's signature of signing_input by jwk; the key type must fit alg."""
    try:
        key = public_key(jwk)
        if alg in ("ES256", "ES384", "ES512"):
            c = _CURVES.get(str(jwk.get("crv")))
            if not isinstance(key, ec.EllipticCurvePublicKey) or c is None or c[2] != alg:
                return False
            if len(sig) != 2 * c[1]:
                return False
            der = encode_dss_signature(int.from_bytes(sig[:c[1]], "big"),
                                       int.from_bytes(sig[c[1]:], "big"))
            key.verify(der, signing_input, ec.ECDSA(c[3]()))
            return True
        if alg in ("EdDSA", "Ed25519"):
            if not isinstance(key, ed25519.Ed25519PublicKey):
                return False
            key.verify(sig, signing_input)
            return True
        if alg in _RSA_HASH:
            if not isinstance(key, rsa.RSAPublicKey):
                return False
            h = _RSA_HASH[alg]()
            pad = (padding.PKCS1v15() if alg.startswith("RS")
                   else padding.PSS(mgf=padding.MGF1(h), salt_length=h.digest_size))
            key.verify(sig, signing_input, pad, h)
            return True
    except (InvalidSignature, ValueError, KeyError, TypeError):
        return False
    return False


def thumbprint(jwk: Dict[str, Any]) -> str:
    """RFC 7638 SHA-256 thumbprint over the required members only."""
    kty = jwk.get("kty")
    members = {"EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x"),
               "RSA": ("e", "kty", "n")}.get(str(kty))
    if members is None or any(m not in jwk for m in members):
        raise ValueError("cannot compute the thumbprint of this JWK")
    canon = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return b64u(hashlib.sha256(canon.encode()).digest())


def ath(access_token: str) -> str:
    return b64u(hashlib.sha256(access_token.encode("ascii")).digest())


def sign_es256(key: ec.EllipticCurvePrivateKey, signing_input: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")

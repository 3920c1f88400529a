"""DPoP proof keys are kept per loop (protocol/dpopkeys.c) once imported: a
header that differs from a kept one in any member, even outside the RFC 7638
thumbprint, is judged afresh."""
import time
import uuid

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from test_agents import EcKey, b64u, b64u_json, get_token, make_agent, make_app, token_url


def proof_with_jwk(key, htu, jwk):
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}
    claims = {"jti": str(uuid.uuid4()), "htm": "POST", "htu": htu, "iat": int(time.time())}
    signing_input = b64u_json(header) + "." + b64u_json(claims)
    r, s = decode_dss_signature(key.priv.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return signing_input + "." + b64u(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def test_a_kept_key_does_not_cover_a_different_header(shark):
    agent = make_agent(shark, make_app(shark)["id"])
    key = EcKey()
    htu = token_url(shark)

    def send(jwk):
        return get_token(shark, agent["id"], agent["client_secret"],
                         proof=proof_with_jwk(key, htu, jwk))

    for _ in range(4):  # on every loop
        assert send(key.jwk).status_code == 200
    r = send(key.private_jwk)
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof", r.text
    assert "private" in r.json()["error_description"]
    r = send(dict(key.jwk, use="enc"))
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof", r.text
    r = send(dict(key.jwk, alg="EdDSA"))
    assert r.status_code == 400 and r.json()["error"] == "invalid_dpop_proof", r.text
    assert send(dict(key.jwk, alg="ES256")).status_code == 200
    assert send(key.jwk).status_code == 200

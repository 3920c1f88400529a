"""DPoPProver's keys and proofs (checked with the cryptography package, not
with the SDK's own verifier) and shark_auth.claims on real tokens, including
a two-hop delegation chain made by the server."""
import base64
import hashlib
import json
import time

import pytest
from conftest import agent_token
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from shark_auth import ActorClaim, DPoPProver, OAuthClient
from shark_auth.claims import AgentTokenClaims


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def test_es256_proof_verifies_independently():
    p = DPoPProver.generate()
    assert p.public_jwk == p.public_key_jwk() and p.public_jwk is not p.public_key_jwk()
    assert set(p.public_jwk) == {"kty", "crv", "x", "y"}  # no private part
    canon = json.dumps({k: p.public_jwk[k] for k in ("crv", "kty", "x", "y")},
                       separators=(",", ":"))
    assert p.jkt == base64.urlsafe_b64encode(
        hashlib.sha256(canon.encode()).digest()).rstrip(b"=").decode()
    proof = p.make_proof("post", "https://api.example.test/a/b?q=1#frag", access_token="tok")
    h, c, s = proof.split(".")
    header, claims = json.loads(b64d(h)), json.loads(b64d(c))
    assert header == {"typ": "dpop+jwt", "alg": "ES256", "jwk": p.public_jwk}
    assert claims["htm"] == "POST" and claims["htu"] == "https://api.example.test/a/b"
    assert claims["ath"] == base64.urlsafe_b64encode(
        hashlib.sha256(b"tok").digest()).rstrip(b"=").decode()
    assert abs(claims["iat"] - time.time()) < 60 and len(claims["jti"]) >= 16
    sig = b64d(s)
    pub = ec.EllipticCurvePublicNumbers(int.from_bytes(b64d(p.public_jwk["x"]), "big"),
                                        int.from_bytes(b64d(p.public_jwk["y"]), "big"),
                                        ec.SECP256R1()).public_key()
    pub.verify(encode_dss_signature(int.from_bytes(sig[:32], "big"),
                                    int.from_bytes(sig[32:], "big")),
               (h + "." + c).encode(), ec.ECDSA(hashes.SHA256()))
    other = p.make_proof("GET", "https://x.test/", nonce="n1")
    oc = json.loads(b64d(other.split(".")[1]))
    assert oc["nonce"] == "n1" and "ath" not in oc and oc["jti"] != claims["jti"]


def test_eddsa_and_pem_round_trip():
    p = DPoPProver.generate("EdDSA")
    assert p.alg == "EdDSA" and p.public_jwk["kty"] == "OKP"
    proof = p.make_proof("GET", "https://x.test/r")
    h, c, s = proof.split(".")
    ed25519.Ed25519PublicKey.from_public_bytes(b64d(p.public_jwk["x"])).verify(
        b64d(s), (h + "." + c).encode())
    again = DPoPProver.from_pem(p.private_key_pem())
    assert again.jkt == p.jkt
    es = DPoPProver.generate()
    assert DPoPProver.from_pem(es.private_key_pem(b"pw"), b"pw").jkt == es.jkt
    with pytest.raises(ValueError):
        DPoPProver.generate("HS256")
    with pytest.raises(ValueError):
        DPoPProver(ec.generate_private_key(ec.SECP384R1()))


def test_claims_of_a_two_hop_chain(shark, make_agent):
    a, b, c = make_agent(), make_agent(), make_agent(scopes=["mcp:read"])
    ka, kb, kc = DPoPProver.generate(), DPoPProver.generate(), DPoPProver.generate()
    t0 = agent_token(shark, a, ka, audience=b["client_id"])
    t1 = OAuthClient(shark.url).token_exchange(
        t0.access_token, dpop_prover=kb, audience=c["client_id"], client_id=b["client_id"],
        client_secret=b["client_secret"])
    t2 = OAuthClient(shark.url).token_exchange(
        t1.access_token, dpop_prover=kc, client_id=c["client_id"],
        client_secret=c["client_secret"])
    claims = AgentTokenClaims.parse(t2.access_token)
    assert claims.is_delegated() and claims.sub == a["client_id"]
    chain = claims.delegation_chain()
    assert all(isinstance(h, ActorClaim) for h in chain)
    assert [h.sub for h in chain] == [c["client_id"], b["client_id"]]  # outermost first
    assert [h.jkt for h in chain] == [kc.jkt, kb.jkt]
    assert chain[0].iat >= chain[1].iat > 0
    assert claims.jkt == kc.jkt and claims.iss == shark.url
    assert claims.exp > claims.iat and claims.scope == "mcp:read"
    assert claims.has_scope("mcp:read") and not claims.has_scope("mcp:write")
    assert not claims.has_scope("mcp")
    assert claims.raw["act"]["act"]["sub"] == b["client_id"]
    direct = AgentTokenClaims.parse(t0.access_token)
    assert direct.delegation_chain() == [] and not direct.is_delegated()


@pytest.mark.parametrize("bad", ["", "abc", "a.b", "a.!!!.c", "a." +
                                 base64.urlsafe_b64encode(b"[1]").decode().rstrip("=") + ".c",
                                 "a." + base64.urlsafe_b64encode(b"{nope").decode() + ".c"])
def test_claims_parse_refuses_non_jwts(bad):
    with pytest.raises(ValueError):
        AgentTokenClaims.parse(bad)

#!/usr/bin/env python3
"""Writes the seed corpora of test/fuzz/corpus/<target>/ (run from anywhere).

The keys below exist for the fuzz targets alone (fuzz_jose.c holds their
public halves and the Ed25519 private key); they sign nothing else.
Seeds are starting points the fuzzer mutates: one valid input of each shape
a target handles, and a few of each kind of refusal.
"""
import base64
import hashlib
import json
import os

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

EC_PEM = b"""-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgJ3c7rygf5nc2zZw/
RVNj2fKjzGmWT/qQ+UkdfHz2kVGhRANCAAQmn6/sypglwlhQLW5SoQhIYbFho55j
oosDZ/jFg+RoIxN7SxMnhQH5Qxeiigi+vSSmrs2klZ2O7MU8sq1dhp16
-----END PRIVATE KEY-----
"""
RSA_PEM = b"""-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQCyxcYomkyC9WAf
FL1hVBIQoObGURXol3H4A2X3OHuaJp5yh07kbzDFe84oWkHY2K2Q3ms6JfWBN/yp
gbcjMYKzVJdu/Fcw6YeZBUHOHAGZjBngBWWoM3a7kyDebzCmffhq6h/URRlU2Ftl
N6VKf5RmthGyGGWKR8gnHbqjvtAuyzWx9fiGQzx/X2eASwLFr9BjqY5Ha7GdeZWn
hrPUi4Hwpg+J3SN2FfrWhtkznU4se2tJvbsqMWXpTFOCJagA1xwwg9vzxKN0SbXr
PCjwdUCSxZvn3uPeDcDRhJhlFE6pWrwGLgRCsrva/aNW4MG62Zd6UhXGE1GUorPo
zZYQKLEdAgMBAAECggEAKH0oiyufJo3ibkepOLDswn1epw3YU2xxcIV8g4h0Xg5f
FntUv+H6/s8yeusuPKmebdAiIvJT7yc5/z4Ut1DQVENVZNqb+MT7ZAnPxJmNNzSG
67jtNDIrswH4kMhIEX04VSaffNkFirTRxlPbCMtqVfTofxiNbsshJtLR4aImzmHw
1g1xE1b89W8mtJCT9looufi3nVd/tV70tubdtePCeMQ92SiBr/pdMG7XPL5rm6Aq
acqgC17D8MSnRtHbVoWl88MR5AHkWDOZNm9xNOyamWJ2SsjP1U5lSaw3FZBZFoM9
CXKWF/a+nefbUlQgTz5qq/Mtxe7rTnBNm+4JAQ14IQKBgQDebY+vYyVmehWLCOQR
vURl7Ci2suRlY+DBIHV7xFYrmasb+F+wx/0qRp8NGb0Ll8ISSgs8pv4L03IL2elM
acE1rORsQJdmv5p8O567b/7tnfL6UGYP7DTj/cPV5aZaNvkOotmv180XOvyACAZh
CFEKPqCkc1YYj1f0FQ1JNUUdZQKBgQDNwWcCA3eEKIFgovJFwJU9LGbBFr4pAiua
Ls2rH56FiUcsZBJy9wRkIe/XE9QCLd2eKSioUdwTZa39BTr1QY6WjJLefpgCJmVq
39gTCLN00BFmOP13IrRXDoo6dK1TuQDOv934YIjGMa7qqkFiWMQ6eY+2Qh5AU8pp
hKllp6yFWQKBgE33IXJc0nNFP9/oUelV6m+/g9XmhuBzTgjkE8o6W+oUh0HaodAZ
icgT0RSKfRVfMIuwoJe2AT6r80HsNDawqyThYYAAdBFz//aj/1O8QiOQRecv31ad
eTyhas/DG7hrpIlY0+0rO5x09KT8KyBABggNQ8nhE8CwHihUaL/MiFlxAoGBAJab
QW4M4ZfgGkuFGneKLvM3JAOkRQ85YncaWTswCtXOFUXd/k8elp1A5hD1l5L8xaJ2
mCcUvFWKcN+qy2woT1nNjdfErDmupz+il8Pe85TGlGXRw15IDd9HalC9hP2qhnfP
o4eiCZuhVFq6wt9dAE2ZG2OaZBBMBPZVv7UEFdkJAoGBAIybtUIiHLGUEI2Jqb59
ILgIwMtRLn6EG42TdQ9oxuME/lNZIJZoiYEhUcALdWK4bQ+K0gkCBRJY9RAbNHb6
JWa30JnnAUnS/aWyPkY3DGl2e0F04Vm2Lb+SYEWr8ly0pZoWAyH57tSVSUb9OFtW
P3ms6UNrUbY/pBpHKxk7WiIt
-----END PRIVATE KEY-----
"""
ED25519_DER = bytes.fromhex("302e020100300506032b657004220420e25c96c5d3374b95c7c89ceaa4ffaebc77527b2dba820a00bf60864299a49cc2")

NOW = 1700000000  # fuzz_jose.c's clock
HTU = "https://as.example/oauth/token"
ACCESS_TOKEN = "at-fuzz"
NONCE = "n-fuzz"

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jdump(o):
    return json.dumps(o, separators=(",", ":"))


def write(target, name, data):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def public_jwk(key):
    pub = key.public_key()
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw) \
        if not hasattr(pub, "public_numbers") else None
    if raw is not None:
        return {"kty": "OKP", "crv": "Ed25519", "x": b64(raw)}
    n = pub.public_numbers()
    if hasattr(n, "curve"):
        return {"kty": "EC", "crv": "P-256", "x": b64(n.x.to_bytes(32, "big")),
                "y": b64(n.y.to_bytes(32, "big"))}
    return {"kty": "RSA", "n": b64(n.n.to_bytes((n.n.bit_length() + 7) // 8, "big")),
            "e": b64(n.e.to_bytes(3, "big"))}


def sign(key, alg, header, payload):
    h = dict(header, alg=alg)
    msg = (b64(jdump(h).encode()) + "." + b64(payload)).encode()
    if alg == "ES256":
        r, s = decode_dss_signature(key.sign(msg, ec.ECDSA(hashes.SHA256())))
        sig = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    elif alg == "RS256":
        sig = key.sign(msg, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "PS256":
        sig = key.sign(msg, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    else:
        sig = key.sign(msg)
    return msg.decode() + "." + b64(sig)


def http_seeds():
    # First byte: 0x80 = all bytes in one read, n < 0x80 = n + 1 bytes per read.
    reqs = {
        "get": "GET /echo?a=1&b=%C3%A9&scope=openid+profile HTTP/1.1\r\nHost: as.example\r\n"
               "X-Echo: hi\r\n\r\n",
        "post_length": "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded"
                       "\r\nContent-Length: 11\r\n\r\ngrant_type=",
        "chunked": "POST /oauth/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: t\r\n\r\n",
        "pipelined": "GET /echo HTTP/1.1\r\nHost: x\r\n\r\nDELETE /items/7 HTTP/1.1\r\nHost: x\r\n"
                     "Content-Length: 0\r\n\r\nGET /items/a%20b/sub/c%2Fd?q=1 HTTP/1.1\r\nHost: x\r\n\r\n",
        "expect": "PUT /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n"
                  "\r\nbody",
        "forwarded": "GET /echo HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.9, 2001:db8::1, "
                     "127.0.0.2\r\nX-Request-Id: client-id_1.2:3\r\n\r\n",
        "close": "GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /echo HTTP/1.1\r\n\r\n",
        "http10": "GET /echo HTTP/1.0\r\n\r\n",
        "dup_auth": "GET /oauth/echo HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\r\n"
                    "Authorization: Bearer b\r\nDPoP: x.y.z\r\nCookie: __Host-s=1\r\n\r\n",
        "bad_method": "PATCH /items/1/sub/2 HTTP/1.1\r\nHost: x\r\n\r\n",
        "not_found": "GET /nope/%ZZ?%ZZ HTTP/1.1\r\nHost: x\r\n\r\n",
        "bad_query": "GET /echo?a=%FF&b=%00 HTTP/1.1\r\nHost: x\r\n\r\n",
        "body_too_large": "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999\r\n\r\n",
        "header_too_large": "GET /echo HTTP/1.1\r\nHost: x\r\nX-Big: " + "a" * 4200 + "\r\n\r\n",
        "garbage": "\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",
        "folded": "GET /echo HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  continued\r\n\r\n",
        "smuggle": "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked"
                   "\r\n\r\n0\r\n\r\n",
    }
    for name, r in reqs.items():
        data = r.encode("latin-1")
        write("http", name, b"\x80" + data)
        write("http", name + "_bytewise", b"\x00" + data)
    write("http", "pipelined_7", b"\x06" + reqs["pipelined"].encode())


def form_seeds():
    seeds = {
        "token": "grant_type=client_credentials&scope=read+write&client_id=agent_1",
        "redirect": "response_type=code&redirect_uri=https%3A%2F%2Fapp.example%2Fcb%3Fx%3D1&state=s",
        "empty": "a=&b&=c&&",
        "dup": "a=1&a=2",
        "bad_escape": "a=%ZZ&b=%4",
        "nul": "a=%00",
        "utf8": "name=%E2%82%AC%F0%9F%98%80&x=\xc3\xa9",
        "bad_utf8": "a=%C0%80&b=%ED%A0%80&c=\xff",
        "plus": "a=+%2B+&b=%20",
        "many": "&".join("f%d=%d" % (i, i) for i in range(70)),
    }
    for name, s in seeds.items():
        write("form", name, s.encode("latin-1"))


def json_seeds():
    seeds = {
        "object": jdump({"name": "billing-agent", "description": "pays", "scopes": ["read", "write"]}),
        "nul": '{"name":"a\\u0000b","description":"x"}',
        "dup": '{"name":"a","name":"b"}',
        "array": '["not","an","object"]',
        "nested": jdump({"name": "n", "metadata": {"a": [1, 2.5, -3e10, True, None, {"b": "c"}]}}),
        "escapes": '{"name":"\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00","description":"\\u2028"}',
        "bad_scopes": jdump({"scopes": ["x" * 70, 1]}),
        "long": jdump({"name": "x" * 101}),
        "empty": "",
        "truncated": '{"name":"a',
        "bad_utf8": b'{"name":"\xc3\x28"}',
        "numbers": '{"a":9223372036854775807,"b":-9223372036854775808,"c":1e400}',
    }
    for name, s in seeds.items():
        write("json", name, s if isinstance(s, bytes) else s.encode())


def jose_seeds():
    ec_key = serialization.load_pem_private_key(EC_PEM, None)
    rsa_key = serialization.load_pem_private_key(RSA_PEM, None)
    ed_key = serialization.load_der_private_key(ED25519_DER, None)
    claims = jdump({"iss": "https://as.example", "sub": "agent_1", "exp": NOW + 60})
    for name, key, alg in (("es256", ec_key, "ES256"), ("eddsa", ed_key, "EdDSA"),
                           ("rs256", rsa_key, "RS256"), ("ps256", rsa_key, "PS256")):
        write("jose", "jws_" + name, "\x00" + sign(key, alg, {"typ": "JWT", "kid": "k1"},
                                                    claims.encode()))
        write("jose", "jwk_" + name, "\x01" + jdump(dict(public_jwk(key), alg=alg)))
    write("jose", "jws_none", "\x00" + b64(b'{"alg":"none"}') + "." + b64(claims.encode()) + ".")
    write("jose", "jws_crit", "\x00" + sign(ed_key, "EdDSA", {"crit": ["exp"]}, b"{}"))
    write("jose", "jwk_private", "\x01" + jdump(dict(public_jwk(ec_key), d="AAAA")))
    write("jose", "jwk_oct", "\x01" + jdump({"kty": "oct", "k": "c2VjcmV0"}))
    write("jose", "jwk_bad_curve", "\x01" + jdump({"kty": "EC", "crv": "P-384", "x": "AA", "y": "AA"}))
    ath = b64(hashlib.sha256(ACCESS_TOKEN.encode()).digest())
    proof_claims = {"jti": "j-1", "htm": "POST", "htu": HTU, "iat": NOW, "ath": ath, "nonce": NONCE}
    for name, key, alg in (("es256", ec_key, "ES256"), ("eddsa", ed_key, "EdDSA"),
                           ("rs256", rsa_key, "RS256")):
        hdr = {"typ": "dpop+jwt", "jwk": public_jwk(key)}
        write("jose", "dpop_" + name, "\x02" + sign(key, alg, hdr, jdump(proof_claims).encode()))
    write("jose", "dpop_typ", "\x02" + sign(ed_key, "EdDSA", {"typ": "JWT", "jwk": public_jwk(ed_key)},
                                             jdump(proof_claims).encode()))
    write("jose", "claims_ok", "\x03" + jdump(proof_claims))
    write("jose", "claims_htu", "\x03" + jdump(dict(proof_claims, htu="HTTPS://AS.EXAMPLE:443/oauth/./x/../token?q#f")))
    write("jose", "claims_old", "\x03" + jdump(dict(proof_claims, iat=NOW - 61)))
    write("jose", "claims_nonce", "\x03" + jdump({k: v for k, v in proof_claims.items() if k != "nonce"}))
    for i, u in enumerate(["HTTPS://AS.example:443/a/../oauth/%7etoken?x#y", "http://[::1]:80/",
                           "http://h:/%2e%2E/a/./b/../c/", "https://a.example:65536/",
                           "https://user@a.example/", "https://%41%62.example/%2f%zz"]):
        write("jose", "htu_%d" % i, "\x04" + u)


def glob_seeds():
    seeds = {
        "star": b"client_*\0client_abc",
        "set": b"agent_[a-f]?x\0agent_bzx",
        "negated": b"[^]]*\0x]",
        "stars": b"*a*b*c*\0aXbYcZ",
        "unterminated": b"ab[cd\0abc",
        "utf8": "\u00e9*[\u00e0-\u00ff]\0\u00e9abc\u00f1".encode(),
        "set_after_star": b"*[0-9]\0abc9",
        "dash": b"[-a][a-][]-]\0-a-",
        "question": b"???*?\0abcd",
        "bad_utf8": b"\xc3*\xff[\x80-\xbf]\0\xc3\x28\xff\x81",
    }
    for name, s in seeds.items():
        write("glob", name, s)


if __name__ == "__main__":
    http_seeds()
    form_seeds()
    json_seeds()
    jose_seeds()
    glob_seeds()

"""The resource-server helper against real tokens from a real shark: the
plain function, ResourceServer.verify, the WSGI middleware behind a real HTTP
server (called with DPoPHTTPClient), and the ASGI middleware driven through
its interface. Every refusal is checked for its status and WWW-Authenticate."""
import asyncio
import json
import time
import uuid

import httpx
import pytest
from conftest import WSGIServer, agent_token, free_port, json_app, uniq, whoami

from shark_auth import (AgentTokenClaims, ASGIMiddleware, DPoPHTTPClient, DPoPProver,
                        OAuthClient, ResourceServer, TokenVerificationError, verify_request,
                        verify_token)
from shark_auth import _jwt


@pytest.fixture(scope="module")
def rs_world(shark, admin):
    port = free_port()
    resource = "http://127.0.0.1:%d/mcp" % port
    a = admin.apps.create_app(name=uniq("rs-app"), scopes=["mcp:read", "mcp:write"],
                              resources=[resource])
    agent = admin.agents.register_agent(app_id=a["id"], name="rs-agent",
                                        scopes=["mcp:read", "mcp:write"])
    return {"resource": resource, "port": port, "agent": agent}


@pytest.fixture
def bound(shark, rs_world):
    prover = DPoPProver.generate()
    t = agent_token(shark, rs_world["agent"], prover, scope="mcp:read",
                    resource=rs_world["resource"])
    return prover, t.access_token


def headers(prover, token, url, method="GET", **over):
    return {"Authorization": "DPoP " + token,
            "DPoP": prover.make_proof(method, url, access_token=token, **over)}


def signed_proof(prover, claims, header=None):
    """A proof with chosen claims, signed by prover's key (to build bad proofs)."""
    h = {"typ": "dpop+jwt", "alg": prover.alg, "jwk": prover.public_jwk}
    h.update(header or {})
    si = (_jwt.b64u_json(h) + "." + _jwt.b64u_json(claims)).encode()
    return si.decode() + "." + _jwt.b64u(_jwt.sign_es256(prover._key, si))


def refused(fn, status, error):
    with pytest.raises(TokenVerificationError) as e:
        fn()
    assert e.value.status_code == status, e.value.error_description
    assert e.value.error == error, e.value.error_description
    return e.value


def test_verify_returns_the_claims(shark, rs_world, bound):
    prover, token = bound
    rs = ResourceServer(issuer=shark.url, resource=rs_world["resource"],
                        required_scopes=["mcp:read"])
    url = rs_world["resource"] + "/tools?x=1"
    c = rs.verify("GET", url, headers(prover, token, url))
    assert isinstance(c, AgentTokenClaims) and c.sub == rs_world["agent"]["client_id"]
    assert c.aud == [rs_world["resource"]] and c.jkt == prover.jkt and c.has_scope("mcp:read")
    assert c.scopes == ["mcp:read"] and not c.is_delegated() and c.delegation_chain == []
    assert c.exp > c.iat and c.jti and c.client_id == c.sub and c.iss == shark.url


def test_token_refusals(shark, rs_world, bound, make_agent):
    prover, token = bound
    rs = ResourceServer(issuer=shark.url, resource=rs_world["resource"])
    url = rs_world["resource"]
    e = refused(lambda: rs.verify("GET", url, {}), 401, "invalid_request")
    assert e.www_authenticate.startswith("DPoP ") and "error=" not in e.www_authenticate
    assert 'resource_metadata="http://127.0.0.1:%d/.well-known/oauth-protected-resource/mcp"' % (
        rs_world["port"]) in e.www_authenticate
    e = refused(lambda: rs.verify("GET", url, {"Authorization": "Bearer " + token}), 401,
                "invalid_token")
    assert 'error="invalid_token"' in e.www_authenticate
    refused(lambda: rs.verify("GET", url, {"Authorization": "Basic abc"}), 401, "invalid_request")
    # a token for another audience (the issuer's default)
    other = agent_token(shark, rs_world["agent"], prover, scope="mcp:read")
    refused(lambda: rs.verify("GET", url, headers(prover, other.access_token, url)), 401,
            "invalid_token")
    # tampered payload: signature no longer verifies
    h, p, s = token.split(".")
    claims = json.loads(_jwt.b64u_decode(p))
    claims["scope"] = "mcp:read mcp:write admin"
    forged = h + "." + _jwt.b64u_json(claims) + "." + s
    e = refused(lambda: rs.verify("GET", url, headers(prover, forged, url)), 401, "invalid_token")
    assert "signature" in e.error_description
    # signed by our own key under the server's kid
    hdr = json.loads(_jwt.b64u_decode(h))
    si = (_jwt.b64u_json(hdr) + "." + p).encode()
    fake = si.decode() + "." + _jwt.b64u(_jwt.sign_es256(DPoPProver.generate()._key, si))
    refused(lambda: rs.verify("GET", url, headers(prover, fake, url)), 401, "invalid_token")
    for bad_hdr in (dict(hdr, kid="key_unknown"), dict(hdr, typ="JWT"), dict(hdr, alg="none"),
                    dict(hdr, alg="HS256")):
        t2 = _jwt.b64u_json(bad_hdr) + "." + p + "." + s
        refused(lambda: rs.verify("GET", url, headers(prover, t2, url)), 401, "invalid_token")
    refused(lambda: rs.verify("GET", url, headers(prover, "not.a.jwt", url)), 401,
            "invalid_token")
    # lifetime: the same token seen after its exp
    with pytest.raises(TokenVerificationError) as e:
        verify_token(token, issuer=shark.url, audience=rs_world["resource"],
                     now=claims["exp"] + 3600)
    assert "expired" in e.value.error_description
    with pytest.raises(TokenVerificationError):
        verify_token(token, issuer="https://evil.example", audience=rs_world["resource"],
                     jwks_url=shark.url + "/.well-known/jwks.json")


def test_dpop_refusals(shark, rs_world, bound):
    prover, token = bound
    rs = ResourceServer(issuer=shark.url, resource=rs_world["resource"])
    url = rs_world["resource"] + "/call"
    auth = {"Authorization": "DPoP " + token}
    bad = lambda proof: rs.verify("POST", url, dict(auth, DPoP=proof))  # noqa: E731
    now = int(time.time())
    base = {"jti": str(uuid.uuid4()), "htm": "POST", "htu": url, "iat": now,
            "ath": _jwt.ath(token)}
    refused(lambda: rs.verify("POST", url, auth), 401, "invalid_dpop_proof")  # no proof
    refused(lambda: bad(prover.make_proof("GET", url, access_token=token)), 401,
            "invalid_dpop_proof")  # htm
    refused(lambda: bad(prover.make_proof("POST", "http://127.0.0.1:1/other",
                                          access_token=token)), 401, "invalid_dpop_proof")
    refused(lambda: bad(prover.make_proof("POST", url)), 401, "invalid_dpop_proof")  # no ath
    refused(lambda: bad(prover.make_proof("POST", url, access_token="another")), 401,
            "invalid_dpop_proof")
    refused(lambda: bad(signed_proof(prover, dict(base, iat=now - 600))), 401,
            "invalid_dpop_proof")
    refused(lambda: bad(signed_proof(prover, dict(base, iat=now + 600))), 401,
            "invalid_dpop_proof")
    refused(lambda: bad(signed_proof(prover, dict(base, jti=str(uuid.uuid4())),
                                     {"typ": "jwt"})), 401, "invalid_dpop_proof")
    priv = dict(prover.public_jwk, d="AAAA")
    refused(lambda: bad(signed_proof(prover, dict(base, jti=str(uuid.uuid4())),
                                     {"jwk": priv})), 401, "invalid_dpop_proof")
    # a proof by another key: the token is not bound to it
    thief = DPoPProver.generate()
    e = refused(lambda: bad(thief.make_proof("POST", url, access_token=token)), 401,
                "invalid_token")
    assert "key" in e.error_description
    # replay: the same proof twice
    proof = prover.make_proof("POST", url, access_token=token)
    assert bad(proof).sub
    e = refused(lambda: bad(proof), 401, "invalid_dpop_proof")
    assert "replay" in e.error_description
    # two proofs
    refused(lambda: rs.verify("POST", url, [("Authorization", "DPoP " + token),
                                            ("DPoP", prover.make_proof("POST", url, access_token=token)),
                                            ("DPoP", prover.make_proof("POST", url, access_token=token))]),
            401, "invalid_dpop_proof")
    # htu compares scheme/host case-insensitively and ignores the query
    up = "HTTP://127.0.0.1:%d/mcp/call" % rs_world["port"]
    assert rs.verify("POST", url + "?q=1", dict(auth, DPoP=prover.make_proof(
        "POST", up, access_token=token))).sub


def test_scope_and_revocation(shark, rs_world, bound, admin):
    prover, token = bound
    url = rs_world["resource"]
    rs = ResourceServer(issuer=shark.url, resource=url, required_scopes=["mcp:read", "mcp:write"],
                        introspect=True, introspection_token=shark.admin_key)
    e = refused(lambda: rs.verify("GET", url, headers(prover, token, url)), 403,
                "insufficient_scope")
    assert 'error="insufficient_scope"' in e.www_authenticate
    assert 'scope="mcp:read mcp:write"' in e.www_authenticate
    assert rs.verify("GET", url, headers(prover, token, url), required_scopes=["mcp:read"])
    OAuthClient(shark.url, token=shark.admin_key).revoke(token)
    e = refused(lambda: rs.verify("GET", url, headers(prover, token, url),
                                  required_scopes=[]), 401, "invalid_token")
    assert "revoked" in e.error_description
    with pytest.raises(ValueError):
        ResourceServer(issuer=shark.url, resource=url, introspect=True)


def test_unreachable_issuer_is_503(rs_world, bound):
    prover, token = bound
    url = rs_world["resource"]
    rs = ResourceServer(issuer="http://127.0.0.1:%d" % free_port(), resource=url)
    e = refused(lambda: rs.verify("GET", url, headers(prover, token, url)), 503,
                "temporarily_unavailable")
    assert e.www_authenticate is None


def test_plain_function_keeps_its_caches(shark, rs_world, bound):
    prover, token = bound
    url = rs_world["resource"]
    h = headers(prover, token, url)
    c = verify_request("GET", url, h, issuer=shark.url, resource=url, required_scopes=["mcp:read"])
    assert c.sub == rs_world["agent"]["client_id"]
    with pytest.raises(TokenVerificationError) as e:  # the same proof: seen by the cached server
        verify_request("GET", url, h, issuer=shark.url, resource=url, required_scopes=["mcp:read"])
    assert "replay" in e.value.error_description
    with pytest.raises(TokenVerificationError) as e:
        verify_request("GET", url, headers(prover, token, url), issuer=shark.url, resource=url,
                       required_scopes=["mcp:write"])
    assert e.value.status_code == 403


def test_bearer_allowed_when_dpop_is_not_required(shark, rs_world):
    url = rs_world["resource"]
    t = agent_token(shark, rs_world["agent"], None, scope="mcp:read", resource=url)
    rs = ResourceServer(issuer=shark.url, resource=url, require_dpop=False)
    assert rs.verify("GET", url, {"Authorization": "Bearer " + t.access_token}).jkt is None
    e = refused(lambda: rs.verify("GET", url, {}), 401, "invalid_request")
    assert ", Bearer " in e.www_authenticate
    assert rs.metadata()["dpop_bound_access_tokens_required"] is False
    # a DPoP-bound token still needs its proof there
    p = DPoPProver.generate()
    b = agent_token(shark, rs_world["agent"], p, scope="mcp:read", resource=url)
    refused(lambda: rs.verify("GET", url, {"Authorization": "Bearer " + b.access_token}), 401,
            "invalid_token")


def test_wsgi_middleware_over_http(shark, rs_world, bound):
    prover, token = bound
    rs = ResourceServer(issuer=shark.url, resource=rs_world["resource"],
                        required_scopes=["mcp:read"], resource_name="SDK test MCP")
    app = json_app({"/mcp/tools": whoami, "/public": lambda env: (200, {"open": True})})
    # served on the port the resource URL (registered with the app) names
    srv = _serve_on(rs_world["port"], rs.wsgi(app, protect=lambda path: path.startswith("/mcp")))
    try:
        base = "http://127.0.0.1:%d" % rs_world["port"]
        for path in ("/.well-known/oauth-protected-resource/mcp",
                     "/.well-known/oauth-protected-resource"):
            m = httpx.get(base + path).json()
            assert m["resource"] == rs_world["resource"]
            assert m["authorization_servers"] == [shark.url]
            assert m["scopes_supported"] == ["mcp:read"] and m["resource_name"] == "SDK test MCP"
            assert m["bearer_methods_supported"] == ["header"] and "ES256" in m[
                "dpop_signing_alg_values_supported"]
        http = DPoPHTTPClient(base_url=base)
        for call in (http.get_with_dpop, http.delete_with_dpop):
            r = call("/mcp/tools", token=token, prover=prover)
            assert r.status_code == 200, r.text
            assert r.json()["sub"] == rs_world["agent"]["client_id"]
        for call in (http.post_with_dpop, http.put_with_dpop, http.patch_with_dpop):
            r = call("/mcp/tools", token=token, prover=prover, json={"x": 1})
            assert r.status_code == 200 and r.json()["method"] in ("POST", "PUT", "PATCH")
        r = httpx.get(base + "/mcp/tools")
        assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("DPoP ")
        assert r.json()["error"] == "invalid_request"
        r = httpx.get(base + "/mcp/tools", headers={"Authorization": "DPoP " + token})
        assert r.status_code == 401 and r.json()["error"] == "invalid_dpop_proof"
        assert 'resource_metadata="' + base + '/.well-known/oauth-protected-resource/mcp"' in \
            r.headers["WWW-Authenticate"]
        with pytest.raises(httpx.HTTPStatusError):
            http.get_with_dpop("/mcp/tools", token=token, prover=DPoPProver.generate()
                               ).raise_for_status()
        assert httpx.get(base + "/public").json() == {"open": True}
    finally:
        srv.stop()


def _serve_on(port, app):
    import threading
    from socketserver import ThreadingMixIn
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer as Base, make_server

    class Quiet(WSGIRequestHandler):
        def log_message(self, *a):
            pass

    class Threaded(ThreadingMixIn, Base):
        daemon_threads = True
        allow_reuse_address = True

    httpd = make_server("127.0.0.1", port, app, server_class=Threaded, handler_class=Quiet)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()

    class S:
        def stop(self):
            httpd.shutdown()
            httpd.server_close()
    return S()


def test_dpop_client_answers_a_nonce_challenge():
    """RFC 9449 §9: a resource that demands a nonce gets one retry with it."""
    seen = []

    def app(environ, start_response):
        proof = environ.get("HTTP_DPOP", "")
        claims = json.loads(_jwt.b64u_decode(proof.split(".")[1]))
        seen.append(claims)
        if claims.get("nonce") != "n-123":
            start_response("401 Unauthorized", [
                ("WWW-Authenticate", 'DPoP error="use_dpop_nonce"'), ("DPoP-Nonce", "n-123"),
                ("Content-Length", "0")])
            return [b""]
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b'{"ok": true}']
    srv = WSGIServer(app)
    try:
        prover = DPoPProver.generate()
        http = DPoPHTTPClient(base_url=srv.url)
        assert http.get_with_dpop("/x", token="t", prover=prover).json() == {"ok": True}
        assert [c.get("nonce") for c in seen] == [None, "n-123"]
        assert seen[0]["jti"] != seen[1]["jti"]  # a fresh proof for the retry
        http.get_with_dpop("/x", token="t", prover=prover)  # the nonce is remembered
        assert [c.get("nonce") for c in seen] == [None, "n-123", "n-123"]
    finally:
        srv.stop()


def test_asgi_middleware(shark, rs_world, bound):
    prover, token = bound
    rs = ResourceServer(issuer=shark.url, resource=rs_world["resource"],
                        required_scopes=["mcp:read"])
    reached = []

    async def inner(scope, receive, send):
        reached.append(scope)
        if scope["type"] == "http":
            c = scope["shark_auth.claims"]
            body = json.dumps({"sub": c.sub}).encode()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": body})

    mw = ASGIMiddleware(inner, rs)
    host = ("127.0.0.1:%d" % rs_world["port"]).encode()

    def call(path, hdrs, typ="http", method="GET"):
        sent = []

        async def receive():
            return {"type": "http.request", "body": b""}

        async def send(msg):
            sent.append(msg)
        scope = {"type": typ, "method": method, "path": path, "scheme": "http",
                 "headers": [(b"host", host)] + [(k.lower().encode(), v.encode())
                                                 for k, v in hdrs.items()]}
        asyncio.run(mw(scope, receive, send))
        return sent

    out = call("/.well-known/oauth-protected-resource/mcp", {})
    assert out[0]["status"] == 200 and json.loads(out[1]["body"])["resource"] == rs_world[
        "resource"]
    out = call("/mcp/tools", {})
    assert out[0]["status"] == 401
    assert any(k == b"www-authenticate" for k, _ in out[0]["headers"])
    url = rs_world["resource"] + "/tools"
    out = call("/mcp/tools", headers(prover, token, url))
    assert out[0]["status"] == 200 and json.loads(out[1]["body"])["sub"] == rs_world["agent"][
        "client_id"]
    assert reached[-1]["state"]["shark_auth_claims"].sub == rs_world["agent"]["client_id"]
    n = len(reached)
    out = call("/mcp/ws", {}, typ="websocket")
    assert out == [{"type": "websocket.close", "code": 1008}] and len(reached) == n
    out = call("/mcp/tools", {}, typ="lifespan")
    assert len(reached) == n + 1  # lifespan passes through


def test_jwks_cache_follows_key_rotation(shark, rs_world):
    """The server rotates its signing key (ES256 -> EdDSA -> RS256 -> ES256): a
    cache refetches for the new kid; one that fetched recently and may not
    refetch yet (min_refresh_interval) refuses the unknown kid instead."""
    from shark_auth import JWKSCache
    url = rs_world["resource"]
    eager = JWKSCache(shark.url + "/.well-known/jwks.json", min_refresh_interval=0)
    for alg in ("EdDSA", "RS256", "ES256"):
        stale = JWKSCache(shark.url + "/.well-known/jwks.json", min_refresh_interval=3600)
        assert stale.get("no-such-kid") is None  # fetched now
        r = shark.api("POST", "/api/v1/admin/keys/rotate", json={"alg": alg})
        assert r.status_code in (200, 201), r.text
        t = agent_token(shark, rs_world["agent"], DPoPProver.generate(), scope="mcp:read",
                        resource=url).access_token
        header = json.loads(_jwt.b64u_decode(t.split(".")[0]))
        assert header["alg"] in ((alg,) if alg != "EdDSA" else ("EdDSA", "Ed25519"))
        c = verify_token(t, issuer=shark.url, audience=url, jwks=eager)
        assert c.sub == rs_world["agent"]["client_id"]
        with pytest.raises(TokenVerificationError) as e:
            verify_token(t, issuer=shark.url, audience=url, jwks=stale)
        assert "does not publish" in e.value.error_description


def test_introspection_with_resource_server_credentials(shark, admin, app, rs_world, bound):
    """Least privilege: the resource server introspects as an agent marked
    resource_server, not with the admin key; an ordinary agent's credentials
    learn nothing about others' tokens (active: false), so the helper refuses."""
    prover, token = bound
    url = rs_world["resource"]
    plain = admin.agents.register_agent(app_id=app["id"], name="plain", scopes=["mcp:read"])
    rs_agent = admin.agents.register_agent(app_id=app["id"], name="mcp-server",
                                           scopes=["mcp:read"], resource_server=True)
    assert rs_agent["resource_server"] is True
    def server(agent):
        return ResourceServer(issuer=shark.url, resource=url, introspect=True,
                              introspection_client_id=agent["client_id"],
                              introspection_client_secret=agent["client_secret"])
    assert server(rs_agent).verify("GET", url, headers(prover, token, url)).sub
    refused(lambda: server(plain).verify("GET", url, headers(prover, token, url)), 401,
            "invalid_token")
    assert admin.agents.update_agent(plain["id"], resource_server=True)["resource_server"] is True
    assert server(plain).verify("GET", url, headers(prover, token, url)).sub
    bad = dict(rs_agent, client_secret="wrong")
    refused(lambda: server(bad).verify("GET", url, headers(prover, token, url)), 503,
            "temporarily_unavailable")

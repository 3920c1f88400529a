"""OAuthClient against a real shark: client credentials with and without DPoP,
token exchange, refresh, the device flow, introspection, revocation, bulk
revocation, and the server-nonce retry (a second shark with --dpop-nonce on)."""
import pytest
from conftest import Shark, finish, agent_token, register_code_client, uniq, user_delegated_token

from shark_auth import (AuthenticationError, BulkRevokeResult, DeviceAuthorization, DPoPProver,
                        IntrospectionResult, OAuthClient, OAuthError, SharkError, TokenResponse)
from shark_auth import claims as unverified


def test_get_token_with_dpop(shark, make_agent):
    agent = make_agent()
    prover = DPoPProver.generate()
    t = OAuthClient(shark.url).get_token_with_dpop(
        grant_type="client_credentials", dpop_prover=prover, client_id=agent["client_id"],
        client_secret=agent["client_secret"], scope="mcp:read")
    assert isinstance(t, TokenResponse) and t.token_type == "DPoP" and t.scope == "mcp:read"
    assert t.cnf_jkt == prover.jkt and t.expires_in > 0 and t.refresh_token is None
    c = unverified.AgentTokenClaims.parse(t.access_token)
    assert c.sub == agent["client_id"] and c.jkt == prover.jkt and not c.is_delegated()
    # EdDSA keys bind too
    ed = DPoPProver.generate("EdDSA")
    assert agent_token(shark, agent, ed).cnf_jkt == ed.jkt


def test_default_client_credentials_and_resource(shark, admin, make_agent):
    res = "https://api-%s.example.test" % uniq("r")
    a = admin.apps.create_app(name=uniq("app"), scopes=["mcp:read"], resources=[res])
    agent = admin.agents.register_agent(app_id=a["id"], name="x", scopes=["mcp:read"])
    oauth = OAuthClient(shark.url, client_id=agent["client_id"],
                        client_secret=agent["client_secret"])
    t = oauth.get_token_with_dpop(dpop_prover=DPoPProver.generate(), resource=res)
    assert unverified.AgentTokenClaims.parse(t.access_token).raw["aud"] == res
    t = oauth.get_token(audience=res, scope="mcp:read")
    assert t.token_type == "Bearer" and t.cnf_jkt is None
    with pytest.raises(OAuthError) as e:
        oauth.get_token(resource="https://not-registered.example.test")
    assert e.value.status_code == 400 and e.value.error == "invalid_target"


def test_token_errors(shark, make_agent):
    agent = make_agent()
    oauth = OAuthClient(shark.url)
    with pytest.raises(OAuthError) as e:
        oauth.get_token(client_id=agent["client_id"], client_secret="wrong")
    assert (e.value.status_code, e.value.error) == (401, "invalid_client")
    assert e.value.error_description and e.value.www_authenticate
    with pytest.raises(OAuthError) as e:
        oauth.get_token(client_id=agent["client_id"], client_secret=agent["client_secret"],
                        scope="admin:everything")
    assert (e.value.status_code, e.value.error) == (400, "invalid_scope")
    with pytest.raises(ValueError):
        oauth.get_token_with_dpop(grant_type="password", dpop_prover=DPoPProver.generate(),
                                  client_id="x", client_secret="y")
    with pytest.raises(ValueError):
        oauth.get_token()
    assert isinstance(e.value, SharkError)


def test_token_exchange(shark, make_agent):
    a, b = make_agent(), make_agent(scopes=["mcp:read"])
    key_a, key_b = DPoPProver.generate(), DPoPProver.generate()
    handed = agent_token(shark, a, key_a, audience=b["client_id"])
    ob = OAuthClient(shark.url, client_id=b["client_id"], client_secret=b["client_secret"])
    with pytest.raises(OAuthError) as e:
        ob.token_exchange(handed.access_token)  # bound: a proof is needed
    assert e.value.error == "invalid_grant"
    out = ob.token_exchange(handed.access_token, dpop_prover=key_b)
    assert out.cnf_jkt == key_b.jkt and out.scope == "mcp:read"
    assert out.act["sub"] == b["client_id"] and out.issued_token_type
    chain = unverified.AgentTokenClaims.parse(out.access_token).delegation_chain()
    assert chain[0].sub == b["client_id"] and chain[0].jkt == key_b.jkt and chain[0].iat > 0
    with pytest.raises(OAuthError) as e:
        ob.token_exchange(handed.access_token, dpop_prover=key_b, scope="mcp:write")
    assert e.value.error == "invalid_scope"
    # actor_token: the caller's own token, proven with its key
    own = agent_token(shark, b, key_b, scope="mcp:read")
    out = ob.token_exchange(handed.access_token, dpop_prover=key_b, actor_token=own.access_token)
    assert out.act["sub"] == b["client_id"]
    with pytest.raises(OAuthError):
        ob.token_exchange(handed.access_token, dpop_prover=DPoPProver.generate(),
                          actor_token=own.access_token)
    # a stranger's token cannot be exchanged
    stranger = make_agent()
    with pytest.raises(OAuthError) as e:
        OAuthClient(shark.url).token_exchange(handed.access_token, dpop_prover=key_a,
                                              client_id=stranger["client_id"],
                                              client_secret=stranger["client_secret"])
    assert e.value.error == "invalid_grant"


def test_refresh(shark, person):
    prover = DPoPProver.generate()
    client, t = user_delegated_token(shark, person, "openid mcp:read", prover)
    assert t.refresh_token and t.id_token and t.cnf_jkt == prover.jkt
    oauth = OAuthClient(shark.url, client_id=client["client_id"],
                        client_secret=client["client_secret"])
    with pytest.raises(OAuthError):
        oauth.refresh(t.refresh_token, dpop_prover=DPoPProver.generate())  # another key
    with pytest.raises(OAuthError):
        oauth.refresh(t.refresh_token)  # no proof for a bound token
    n = oauth.refresh(t.refresh_token, dpop_prover=prover)
    assert n.refresh_token and n.refresh_token != t.refresh_token and n.cnf_jkt == prover.jkt
    with pytest.raises(OAuthError) as e:
        oauth.refresh("rt_garbage", dpop_prover=prover)
    assert e.value.error == "invalid_grant"


def test_device_flow(shark, person):
    client = register_code_client(shark, "openid mcp:read", grant_types=(
        "urn:ietf:params:oauth:grant-type:device_code", "refresh_token"))
    oauth = OAuthClient(shark.url, client_id=client["client_id"],
                        client_secret=client["client_secret"])
    da = oauth.device_authorization(scope="openid mcp:read")
    assert isinstance(da, DeviceAuthorization) and da.user_code and da.device_code
    assert da.verification_uri.endswith("/device") and da.expires_in > 0 and da.interval >= 1
    with pytest.raises(OAuthError):  # not approved yet: gives up at the timeout
        oauth.poll_device_token(da.device_code, interval=0.2, timeout=1)
    person.approve_device(da.user_code)
    prover = DPoPProver.generate()
    t = oauth.poll_device_token(da.device_code, dpop_prover=prover, interval=0.5, timeout=60)
    assert t.cnf_jkt == prover.jkt and t.refresh_token
    assert unverified.AgentTokenClaims.parse(t.access_token).sub == person.id
    with pytest.raises(OAuthError) as e:
        oauth.poll_device_token(da.device_code, interval=0.2, timeout=5)  # used once
    assert e.value.error in ("invalid_grant", "expired_token")
    with pytest.raises(OAuthError) as e:
        oauth.device_authorization(client_secret="wrong")
    assert e.value.error == "invalid_client"


def test_introspect_and_revoke(shark, make_agent):
    agent = make_agent()
    prover = DPoPProver.generate()
    t = agent_token(shark, agent, prover)
    as_client = OAuthClient(shark.url, client_id=agent["client_id"],
                            client_secret=agent["client_secret"])
    as_admin = OAuthClient(shark.url, token=shark.admin_key)
    for oauth in (as_client, as_admin):
        i = oauth.introspect(t.access_token)
        assert isinstance(i, IntrospectionResult) and i.active is True
        assert i.client_id == agent["client_id"] and i.cnf_jkt == prover.jkt
        assert i.scope == "mcp:read mcp:write" and i.exp > i.iat and i.token_type == "DPoP"
    assert as_admin.introspect("not-a-token").active is False
    with pytest.raises(OAuthError) as e:
        OAuthClient(shark.url).introspect(t.access_token, client_id=agent["client_id"],
                                          client_secret="wrong")
    assert e.value.error == "invalid_client"
    as_client.revoke(t.access_token)
    assert as_admin.introspect(t.access_token).active is False
    as_client.revoke("unknown-token", token_type_hint="access_token")  # RFC 7009: still 200
    with pytest.raises(OAuthError):
        OAuthClient(shark.url).revoke(t.access_token, client_id=agent["client_id"],
                                      client_secret="wrong")


def test_bulk_revoke_by_pattern(shark, admin, make_agent):
    a, b, other = make_agent(), make_agent(), make_agent()
    ta, tb, to = (agent_token(shark, x) for x in (a, b, other))
    oauth = OAuthClient(base_url=shark.url, token=shark.admin_key)
    r = oauth.bulk_revoke_by_pattern(client_id_pattern=a["client_id"], reason="one")
    assert isinstance(r, BulkRevokeResult) and r.revoked_count == 1
    assert r.pattern_matched == a["client_id"] and r.audit_event_id.startswith("audit_")
    assert [oauth.introspect(t.access_token).active for t in (ta, tb, to)] == [False, True, True]
    pattern = b["client_id"][:-1] + "?"
    assert oauth.bulk_revoke_by_pattern(client_id_pattern=pattern, reason="two").revoked_count == 1
    assert oauth.introspect(tb.access_token).active is False
    with pytest.raises(SharkError) as e:
        oauth.bulk_revoke_by_pattern(client_id_pattern="", reason="x")
    assert e.value.status_code == 400
    with pytest.raises(AuthenticationError):
        OAuthClient(shark.url).bulk_revoke_by_pattern(client_id_pattern="*", reason="x")
    assert oauth.introspect(to.access_token).active is True


@pytest.fixture(scope="module")
def nonce_shark():
    s = Shark("--rate-limit", "0", "--dpop-nonce", "on")
    yield s
    finish(s)


def test_server_nonce_is_answered(nonce_shark):
    from shark_auth import Client
    admin = Client(nonce_shark.url, token=nonce_shark.admin_key)
    app = admin.apps.create_app(name="n", scopes=["mcp:read"])
    agent = admin.agents.register_agent(app_id=app["id"], name="n", scopes=["mcp:read"])
    prover = DPoPProver.generate()
    oauth = OAuthClient(nonce_shark.url, client_id=agent["client_id"],
                        client_secret=agent["client_secret"])
    t = oauth.get_token_with_dpop(dpop_prover=prover, scope="mcp:read")
    assert t.cnf_jkt == prover.jkt
    # again with the nonce it remembered, and an exchange through the same path
    assert oauth.get_token_with_dpop(dpop_prover=prover).cnf_jkt == prover.jkt
    assert oauth.token_exchange(t.access_token, dpop_prover=prover).cnf_jkt == prover.jkt


def test_bulk_revoke_the_spec_pattern(shark, admin, app):
    """Method 8's example: every v3.2 instance, and nothing else."""
    run = uniq("r").replace("-", "")
    v32 = [admin.agents.register_agent(app_id=app["id"], name="v3.2-%d" % i, scopes=["mcp:read"],
                                       client_id="shark_agent_v3.2_%s_%d" % (run, i))
           for i in range(3)]
    v33 = admin.agents.register_agent(app_id=app["id"], name="v3.3", scopes=["mcp:read"],
                                      client_id="shark_agent_v3.3_%s_0" % run)
    assert v32[0]["client_id"] == "shark_agent_v3.2_%s_0" % run
    tokens = [agent_token(shark, a, scope="mcp:read") for a in v32 + [v33]]
    oauth = OAuthClient(base_url=shark.url, token=shark.admin_key)
    result = oauth.bulk_revoke_by_pattern(client_id_pattern="shark_agent_v3.2_%s_*" % run,
                                          reason="emergency rollback 2026-04-26")
    assert result.revoked_count == 3
    assert [oauth.introspect(t.access_token).active for t in tokens] == [False] * 3 + [True]
    with pytest.raises(SharkError) as e:
        admin.agents.register_agent(app_id=app["id"], name="bad", client_id="agent'; --")
    assert e.value.status_code == 400

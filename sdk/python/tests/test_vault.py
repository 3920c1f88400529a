"""VaultClient against a real shark: list, fetch_token (agent path, DPoP) and
disconnect with and without the cascade, and the VaultError cases of the spec
(401 bad token, 403 no vault:read, 404 no connection)."""
import time

import pytest
from conftest import WSGIServer, agent_token, json_app, uniq

from shark_auth import (DPoPProver, VaultClient, VaultConnectionList, VaultConnectionRecord,
                        VaultDisconnectResult, VaultError, VaultTokenResult)


def connect(shark, user_id, provider="google_gmail", access="ya29.sdk-test", expires_in=3600):
    """A stored connection (the lower-level vault route; the SDK has no create)."""
    r = shark.api("POST", "/api/v1/vault/connections", json={
        "user_id": user_id, "provider_id": provider, "access_token": access,
        "refresh_token": "1//refresh-sdk-test", "expires_at": int(time.time()) + expires_in,
        "scopes": ["read"]})
    assert r.status_code == 201, r.text
    return r.json()


@pytest.fixture
def world(shark, make_agent, user):
    conn = connect(shark, user["id"])
    agent = make_agent(scopes=["vault:read", "mcp:read"], created_by=user["id"])
    prover = DPoPProver.generate()
    token = agent_token(shark, agent, prover, scope="vault:read")
    return {"conn": conn, "agent": agent, "prover": prover, "token": token, "user": user}


def test_list_connections(shark, world):
    vault = VaultClient(base_url=shark.url, admin_key=shark.admin_key)
    res = vault.list_connections(provider_id="google_gmail", limit=50)
    assert isinstance(res, VaultConnectionList) and res.total >= 1
    mine = [c for c in res.items if c.id == world["conn"]["id"]]
    assert len(mine) == 1 and isinstance(mine[0], VaultConnectionRecord)
    c = mine[0]
    assert (c.user_id, c.provider_id, c.provider_name, c.needs_reauth) == (
        world["user"]["id"], "google_gmail", "Gmail", False)
    assert c.created_at and c.updated_at
    assert all(x.provider_id == "google_gmail" for x in res.items)
    assert vault.list_connections(provider_id="slack", user_id=world["user"]["id"]).items == []
    mine_only = vault.list_connections(user_id=world["user"]["id"])
    assert [x.id for x in mine_only.items] == [world["conn"]["id"]] and mine_only.total == 1
    assert len(vault.list_connections(limit=1).items) == 1
    with pytest.raises(VaultError):
        VaultClient(base_url=shark.url).list_connections()  # no admin key
    with pytest.raises(VaultError) as e:
        VaultClient(base_url=shark.url, admin_key="sk_live_" + "y" * 43).list_connections()
    assert e.value.status_code == 401
    with pytest.raises(VaultError) as e:
        vault.list_connections(limit=0)
    assert e.value.status_code == 400


def test_list_connections_needs_reauth(shark, admin, make_agent, user):
    """A provider that refuses every refresh token: a fetch marks the connection
    as needing re-authorisation, and the needs_reauth filter lists exactly it."""
    refuse = WSGIServer(json_app({"/token": lambda env: (400, {"error": "invalid_grant"})}))
    try:
        pid = uniq("refusing_")
        r = shark.api("POST", "/api/v1/vault/providers", json={
            "id": pid, "name": "Refusing", "authorize_url": refuse.url + "/authorize",
            "token_url": refuse.url + "/token", "scopes": ["read"], "client_id": "cid",
            "client_secret": "csecret"})
        assert r.status_code == 201, r.text
        # expiring within the refresh skew, so the fetch refreshes it
        stale = connect(shark, user["id"], provider=pid, expires_in=5)
        agent = make_agent(scopes=["vault:read"], created_by=user["id"])
        prover = DPoPProver.generate()
        token = agent_token(shark, agent, prover, scope="vault:read")
        with pytest.raises(VaultError) as e:
            VaultClient(base_url=shark.url).fetch_token(
                provider=pid, bearer_token=token.access_token, prover=prover)
        assert e.value.status_code == 409
    finally:
        refuse.stop()
    other = admin.users.create_user(email=uniq("u") + "@example.test", name="Other")
    fresh = connect(shark, other["id"], provider=pid)
    vault = VaultClient(base_url=shark.url, admin_key=shark.admin_key)
    res = vault.list_connections(provider_id=pid, needs_reauth=True)
    assert [c.id for c in res.items] == [stale["id"]] and res.total == 1
    assert res.items[0].needs_reauth is True
    res = vault.list_connections(provider_id=pid, needs_reauth=False)
    assert [c.id for c in res.items] == [fresh["id"]] and not res.items[0].needs_reauth
    assert {c.id for c in vault.list_connections(provider_id=pid).items} == {
        stale["id"], fresh["id"]}
    assert [c.id for c in vault.iter_connections(provider_id=pid, needs_reauth=True,
                                                 page_size=1)] == [stale["id"]]
    assert all(c.needs_reauth for c in vault.iter_connections(needs_reauth=True))


def test_fetch_token(shark, world):
    vault = VaultClient(base_url=shark.url)
    fresh = vault.fetch_token(provider="google_gmail", bearer_token=world["token"].access_token,
                              prover=world["prover"])
    assert isinstance(fresh, VaultTokenResult)
    assert fresh.access_token == "ya29.sdk-test" and fresh.token_type == "Bearer"
    assert fresh.provider == "google_gmail" and fresh.expires_at


def test_fetch_token_errors(shark, world, make_agent, user):
    vault = VaultClient(base_url=shark.url)
    tok = world["token"].access_token
    with pytest.raises(VaultError) as e:  # the proof is signed by another key
        vault.fetch_token(provider="google_gmail", bearer_token=tok, prover=DPoPProver.generate())
    assert e.value.status_code == 401
    with pytest.raises(VaultError) as e:
        vault.fetch_token(provider="google_gmail", bearer_token="garbage", prover=world["prover"])
    assert e.value.status_code == 401
    no_scope = DPoPProver.generate()
    t = agent_token(shark, world["agent"], no_scope, scope="mcp:read")
    with pytest.raises(VaultError) as e:
        vault.fetch_token(provider="google_gmail", bearer_token=t.access_token, prover=no_scope)
    assert e.value.status_code == 403
    with pytest.raises(VaultError) as e:
        vault.fetch_token(provider="slack", bearer_token=tok, prover=world["prover"])
    assert e.value.status_code == 404


def test_disconnect_cascades(shark, world):
    vault = VaultClient(base_url=shark.url, admin_key=shark.admin_key)
    VaultClient(base_url=shark.url).fetch_token(
        provider="google_gmail", bearer_token=world["token"].access_token, prover=world["prover"])
    res = vault.disconnect(world["conn"]["id"], cascade_to_agents=True)
    assert isinstance(res, VaultDisconnectResult) and res.connection_id == world["conn"]["id"]
    assert res.revoked_agent_ids == [world["agent"]["client_id"]]
    assert res.revoked_token_count >= 1 and res.cascade_audit_event_id.startswith("audit_")
    from shark_auth import OAuthClient
    assert OAuthClient(shark.url, token=shark.admin_key).introspect(
        world["token"].access_token).active is False
    with pytest.raises(VaultError) as e:
        vault.disconnect(world["conn"]["id"])
    assert e.value.status_code == 404


def test_disconnect_without_cascade(shark, world):
    vault = VaultClient(base_url=shark.url, admin_key=shark.admin_key)
    res = vault.disconnect(world["conn"]["id"], cascade_to_agents=False)
    assert res.revoked_agent_ids == [] and res.revoked_token_count == 0
    assert res.cascade_audit_event_id is None
    from shark_auth import OAuthClient
    assert OAuthClient(shark.url, token=shark.admin_key).introspect(
        world["token"].access_token).active is True
    with pytest.raises(VaultError):
        VaultClient(base_url=shark.url).disconnect("conn_x")  # no admin key

"""AgentsClient, UsersClient, AppsClient, AuditClient, WebhooksClient against a
real shark: every method, its result type, and its error paths."""
import json
import threading
import time
from datetime import datetime, timedelta

import pytest
from conftest import WSGIServer, agent_token, uniq

from shark_auth import (AgentCredentials, AgentList, AgentsClient, AuditEvent, AuditLogPage,
                        AuthenticationError, CascadeRevokeResult, Client, DPoPProver,
                        DPoPRotationResult, NotFoundError, OAuthClient, OAuthError,
                        RevokeResult, SharkError, TokenInfo, UsersClient)


# -- agents ---------------------------------------------------------------------------

def test_register_get_list_update_delete(admin, app, user):
    a = admin.agents.register_agent(app_id=app["id"], name="a1", scopes=["mcp:read"],
                                    description="d", created_by=user["id"])
    assert a["client_id"].startswith("shark_agent_") and len(a["client_secret"]) >= 32
    assert a["created_by"] == user["id"] and a["description"] == "d"
    got = admin.agents.get_agent(a["id"])
    assert got["name"] == "a1" and "client_secret" not in got
    lst = admin.agents.list_agents(app_id=app["id"], created_by=user["id"])
    assert isinstance(lst, AgentList) and [x["id"] for x in lst.data] == [a["id"]]
    assert lst.total == 1
    up = admin.agents.update_agent(a["id"], name="a2", status="disabled")
    assert up["name"] == "a2" and up["status"] == "disabled"
    admin.agents.delete_agent(a["id"])
    with pytest.raises(NotFoundError) as e:
        admin.agents.get_agent(a["id"])
    assert e.value.status_code == 404 and e.value.code == "not_found" and e.value.request_id


def test_register_agent_errors(admin, app):
    with pytest.raises(NotFoundError):
        admin.agents.register_agent(app_id="app_nope", name="x")
    with pytest.raises(SharkError) as e:
        admin.agents.register_agent(app_id=app["id"], name="x", scopes=["root:all"])
    assert e.value.status_code == 400 and e.value.code == "invalid_request"
    with pytest.raises(SharkError) as e:
        admin.agents.register_agent(app_id=app["id"], name="x", created_by="usr_'; drop table--")
    assert e.value.status_code == 400
    with pytest.raises(SharkError) as e:
        admin.agents.register_agent(app_id=app["id"], name="x", dpop_jkt="short")
    assert e.value.status_code == 400


def test_a_wrong_admin_key_is_an_authentication_error(shark):
    bad = AgentsClient(base_url=shark.url, token="sk_live_" + "x" * 43)
    with pytest.raises(AuthenticationError) as e:
        bad.list_agents()
    assert e.value.status_code == 401
    with pytest.raises(AuthenticationError):
        Client(shark.url).users.list_users()


def test_ids_are_one_path_segment(admin):
    with pytest.raises(NotFoundError):
        admin.agents.get_agent("../apps")
    with pytest.raises(ValueError):
        admin.agents.list_tokens("")


def test_list_tokens_and_revoke_all(shark, admin, make_agent):
    agent = make_agent()
    prover = DPoPProver.generate()
    t1 = agent_token(shark, agent, prover)
    agent_token(shark, agent, None, scope="mcp:read")
    toks = admin.agents.list_tokens(agent["id"])
    assert len(toks) == 2 and all(isinstance(t, TokenInfo) for t in toks)
    by_jkt = {t.jkt: t for t in toks}
    assert by_jkt[prover.jkt].scope == "mcp:read mcp:write" and None in by_jkt
    assert all(t.agent_id == agent["id"] and t.expires_at and t.created_at for t in toks)
    res = admin.agents.revoke_all(agent["id"])
    assert res == RevokeResult(revoked_count=2, agent_id=agent["id"])
    assert admin.agents.list_tokens(agent["id"]) == []
    assert admin.oauth.introspect(t1.access_token).active is False
    with pytest.raises(NotFoundError):
        admin.agents.list_tokens("shark_agent_nope")
    with pytest.raises(NotFoundError):
        admin.agents.revoke_all("shark_agent_nope")


def test_rotate_secret(shark, admin, make_agent):
    agent = make_agent()
    creds = admin.agents.rotate_secret(agent["id"])
    assert isinstance(creds, AgentCredentials) and creds.agent_id == agent["id"]
    assert creds.client_id == agent["client_id"] and creds.rotated_at
    assert creds.client_secret != agent["client_secret"]
    with pytest.raises(OAuthError) as e:
        agent_token(shark, agent)
    assert e.value.error == "invalid_client" and e.value.status_code == 401
    assert agent_token(shark, dict(agent, client_secret=creds.client_secret)).access_token
    # a grace period keeps the previous secret working
    creds2 = admin.agents.rotate_secret(agent["id"], grace_period_seconds=300)
    assert agent_token(shark, dict(agent, client_secret=creds.client_secret)).access_token
    assert agent_token(shark, dict(agent, client_secret=creds2.client_secret)).access_token
    with pytest.raises(SharkError) as e:
        admin.agents.rotate_secret(agent["id"], grace_period_seconds=-1)
    assert e.value.status_code == 400
    with pytest.raises(NotFoundError):
        admin.agents.rotate_secret("shark_agent_nope")


def test_get_audit_logs(shark, admin, make_agent):
    agent = make_agent()
    agent_token(shark, agent, DPoPProver.generate())
    agent_token(shark, agent, None, scope="mcp:read")
    events = admin.agents.get_audit_logs(agent["id"], limit=20,
                                         since=datetime.utcnow() - timedelta(hours=1))
    assert len(events) == 2 and all(isinstance(e, AuditEvent) for e in events)
    assert {e.event for e in events} == {"oauth.token_issued"}
    assert all(e.actor_id == agent["id"] and e.created_at and e.id.startswith("audit_")
               for e in events)
    assert {e.metadata["scope"] for e in events} == {"mcp:read", "mcp:read mcp:write"}
    assert len(admin.agents.get_audit_logs(agent["id"], limit=1)) == 1
    assert admin.agents.get_audit_logs(agent["id"], since="2999-01-01T00:00:00Z") == []
    with pytest.raises(SharkError) as e:
        admin.agents.get_audit_logs(agent["id"], limit=0)
    assert e.value.status_code == 400
    with pytest.raises(SharkError) as e:
        admin.agents.get_audit_logs(agent["id"], since="yesterday")
    assert e.value.status_code == 400


def test_rotate_dpop_key(shark, admin, make_agent):
    agent = make_agent()
    old = DPoPProver.generate()
    t = agent_token(shark, agent, old)
    first = admin.agents.rotate_dpop_key(agent["id"], new_public_key_jwk=old.public_jwk)
    assert isinstance(first, DPoPRotationResult) and first.old_jkt == ""
    new = DPoPProver.generate()
    rot = admin.agents.rotate_dpop_key(agent["id"], new_public_key_jwk=new.public_key_jwk(),
                                       reason="scheduled rotation")
    assert rot.old_jkt == old.jkt and rot.new_jkt == new.jkt
    assert rot.audit_event_id.startswith("audit_")
    assert admin.oauth.introspect(t.access_token).active is False
    assert rot.revoked_token_count + first.revoked_token_count >= 1
    # the binding is enforced: tokens need the new key
    with pytest.raises(OAuthError):
        agent_token(shark, agent, DPoPProver.generate())
    assert agent_token(shark, agent, new).cnf_jkt == new.jkt
    for bad in ({"kty": "EC"}, {"kty": "oct", "k": "AAAA"},
                dict(new.public_jwk, d="AAAA")):
        with pytest.raises(SharkError) as e:
            admin.agents.rotate_dpop_key(agent["id"], new_public_key_jwk=bad)
        assert e.value.status_code == 400
    with pytest.raises(NotFoundError):
        admin.agents.rotate_dpop_key("shark_agent_nope", new_public_key_jwk=new.public_jwk)


# -- users ----------------------------------------------------------------------------

def test_users_crud(admin):
    email = uniq("crud") + "@example.test"
    u = admin.users.create_user(email=email, name="Crud")
    assert u["id"].startswith("usr_") and u["email"] == email
    assert admin.users.get_user(u["id"])["name"] == "Crud"
    assert u["id"] in [x["id"] for x in admin.users.list_users(limit=1000)]
    with pytest.raises(SharkError) as e:
        admin.users.create_user(email=email)
    assert e.value.status_code == 409
    admin.users.delete_user(u["id"])
    with pytest.raises(NotFoundError):
        admin.users.get_user(u["id"])
    with pytest.raises(NotFoundError):
        admin.users.delete_user(u["id"])


def test_revoke_agents_all_and_some(shark, admin, make_agent, user):
    a, b, c = (make_agent(created_by=user["id"]) for _ in range(3))
    stranger = make_agent()
    ta, tb, tc = (agent_token(shark, x, DPoPProver.generate()) for x in (a, b, c))
    with pytest.raises(SharkError) as e:
        admin.users.revoke_agents(user["id"], agent_ids=[a["id"], stranger["id"]])
    assert e.value.status_code == 400 and stranger["id"] in e.value.message
    assert admin.oauth.introspect(ta.access_token).active  # nothing was revoked
    some = admin.users.revoke_agents(user["id"], agent_ids=[a["id"]], reason="one")
    assert isinstance(some, CascadeRevokeResult) and some.revoked_agent_ids == [a["id"]]
    assert admin.oauth.introspect(ta.access_token).active is False
    assert admin.oauth.introspect(tb.access_token).active
    rest = admin.users.revoke_agents(user["id"])
    # "all" means every agent the user created, the one revoked before included
    assert sorted(rest.revoked_agent_ids) == sorted([a["id"], b["id"], c["id"]])
    assert rest.audit_event_id.startswith("audit_") and rest.revoked_consent_count == 0
    assert not any(admin.oauth.introspect(t.access_token).active for t in (tb, tc))
    ev = admin.audit.list_events(event="user.agents_revoked", actor_id=None, limit=50)
    assert rest.audit_event_id in [e.id for e in ev.data]
    with pytest.raises(NotFoundError):
        admin.users.revoke_agents("usr_nope")
    with pytest.raises(SharkError) as e:
        admin.users.revoke_agents(user["id"], agent_ids=[])
    assert e.value.status_code == 400


def test_list_agents_filters(shark, admin, make_agent, user, person):
    mine = make_agent(created_by=user["id"])
    lst = admin.users.list_agents(user["id"], filter="created", limit=50)
    assert isinstance(lst, AgentList) and lst.filter == "created" and lst.total == 1
    assert [x["id"] for x in lst.data] == [mine["id"]]
    assert admin.users.list_agents(user["id"]).filter == "all"
    assert admin.users.list_agents(user["id"], filter="authorized").total == 0
    assert admin.users.list_agents(user["id"], offset=1).data == []
    with pytest.raises(SharkError) as e:
        admin.users.list_agents(user["id"], filter="bogus")
    assert e.value.status_code == 400
    with pytest.raises(NotFoundError):
        admin.users.list_agents("usr_nope")


# -- apps -----------------------------------------------------------------------------

def test_apps_crud(admin):
    a = admin.apps.create_app(name=uniq("app"), scopes=["s:one"], description="d",
                              resources=["https://api.example.test"])
    assert a["id"].startswith("app_") and a["resources"] == ["https://api.example.test"]
    assert admin.apps.get_app(a["id"])["scopes"] == ["s:one"]
    assert a["id"] in [x["id"] for x in admin.apps.list_apps(limit=1000)]
    up = admin.apps.update_app(a["id"], scopes=["s:one", "s:two"], name="renamed")
    assert up["scopes"] == ["s:one", "s:two"] and up["name"] == "renamed"
    admin.agents.register_agent(app_id=a["id"], name="child", scopes=["s:two"])
    with pytest.raises(SharkError) as e:
        admin.apps.delete_app(a["id"])
    assert e.value.status_code == 409
    admin.apps.delete_app(a["id"], cascade=True)
    with pytest.raises(NotFoundError):
        admin.apps.get_app(a["id"])
    with pytest.raises(SharkError) as e:
        admin.apps.create_app(name="")
    assert e.value.status_code == 400
    with pytest.raises(SharkError) as e:
        admin.apps.create_app(name="x", resources=["not a uri"])
    assert e.value.status_code == 400


# -- audit ----------------------------------------------------------------------------

def test_audit_list_and_iterate(shark, admin, make_agent):
    agent = make_agent()
    for _ in range(3):
        agent_token(shark, agent, None, scope="mcp:read")
    page = admin.audit.list_events(actor_id=agent["id"], limit=2)
    assert isinstance(page, AuditLogPage) and len(page.data) == 2 and page.next_cursor
    nxt = admin.audit.list_events(actor_id=agent["id"], limit=2, cursor=page.next_cursor)
    assert len(nxt.data) == 1 and nxt.next_cursor is None
    assert {e.id for e in page.data}.isdisjoint(e.id for e in nxt.data)
    every = list(admin.audit.iter_events(actor_id=agent["id"], page_size=1))
    assert len(every) == 3 and all(e.event == "oauth.token_issued" for e in every)
    assert admin.audit.list_events(event="oauth.*", actor_id=agent["id"]).data
    assert admin.audit.list_events(target_id=every[0].target_id).data[0].id == every[0].id
    until = admin.audit.list_events(actor_id=agent["id"], until="2000-01-01T00:00:00Z")
    assert until.data == []
    with pytest.raises(SharkError) as e:
        admin.audit.list_events(cursor="forged")
    assert e.value.status_code == 400


# -- webhooks -------------------------------------------------------------------------

@pytest.fixture
def receiver():
    got = []
    cond = threading.Condition()

    def app(environ, start_response):
        n = int(environ.get("CONTENT_LENGTH") or 0)
        with cond:
            got.append((dict((k, v) for k, v in environ.items() if k.startswith("HTTP_")),
                        environ["wsgi.input"].read(n)))
            cond.notify_all()
        start_response("204 No Content", [])
        return [b""]
    srv = WSGIServer(app)
    srv.got, srv.cond = got, cond
    yield srv
    srv.stop()


def test_webhooks(admin, receiver):
    hook = admin.webhooks.create_webhook(url=receiver.url + "/hook",
                                         events=["agent.created"], description="sdk")
    assert hook["id"] and hook["secret"]
    assert admin.webhooks.get_webhook(hook["id"])["url"] == receiver.url + "/hook"
    assert hook["id"] in [h["id"] for h in admin.webhooks.list_webhooks()]
    up = admin.webhooks.update_webhook(hook["id"], events=["agent.created", "user.agents_revoked"],
                                       enabled=True)
    assert sorted(up["events"]) == ["agent.created", "user.agents_revoked"]
    rot = admin.webhooks.rotate_secret(hook["id"])
    assert rot["secret"] and rot["secret"] != hook["secret"]
    admin.webhooks.test_webhook(hook["id"])
    with receiver.cond:
        receiver.cond.wait_for(lambda: receiver.got, timeout=60)
    assert receiver.got, "the test delivery never arrived"
    assert json.loads(receiver.got[0][1])
    deadline = time.time() + 60
    while time.time() < deadline and not admin.webhooks.list_deliveries(hook["id"]):
        time.sleep(0.2)
    assert admin.webhooks.list_deliveries(hook["id"])
    admin.webhooks.delete_webhook(hook["id"])
    with pytest.raises(NotFoundError):
        admin.webhooks.get_webhook(hook["id"])
    with pytest.raises(SharkError) as e:
        admin.webhooks.create_webhook(url="ftp://x", events=["agent.created"])
    assert e.value.status_code == 400

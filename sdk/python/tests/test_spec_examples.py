"""The spec's examples run as written, apart from ids and URLs: the
customer-agents full example (docs customer-agents.txt) and the
internal-platform token exchange (internal-platform.txt)."""
from conftest import WSGIServer, json_app, user_delegated_token, whoami

from shark_auth import (AgentTokenClaims, Client, DPoPHTTPClient, DPoPProver, OAuthClient,
                        ResourceServer)
from shark_auth import claims as unverified


def mcp_stand_in(shark_url, audience, introspect_key=None):
    """https://mcp.example.com of the example: a resource server protected by the
    helper. The example's token names no resource, so its aud is the issuer."""
    opts = {"introspect": True, "introspection_token": introspect_key} if introspect_key else {}
    srv = WSGIServer(None)
    rs = ResourceServer(issuer=shark_url, resource=srv.url, audience=audience,
                        required_scopes=["mcp:read"], **opts)
    srv.httpd.set_app(rs.wsgi(json_app({"/resource": whoami})))
    return srv


def test_customer_agents_full_example(shark, app, user):
    SHARK_URL = shark.url
    ADMIN_KEY = shark.admin_key
    mcp = mcp_stand_in(SHARK_URL, SHARK_URL)
    try:
        # ---- the example, ids replaced ----
        admin = Client(base_url=SHARK_URL, token=ADMIN_KEY)

        # 1. Signup: provision agent
        agent = admin.agents.register_agent(
            app_id=app["id"],
            name="agent-alice",
            scopes=["mcp:read", "mcp:write"],
        )
        client_id     = agent["client_id"]       # noqa: E221
        client_secret = agent["client_secret"]

        # 2. Runtime: get DPoP-bound token
        prover = DPoPProver.generate()
        token = OAuthClient(SHARK_URL).get_token_with_dpop(
            grant_type="client_credentials",
            dpop_prover=prover,
            client_id=client_id,
            client_secret=client_secret,
            scope="mcp:read mcp:write",
        )

        # 3. Call external resource (validates via /.well-known/jwks.json)
        resp = DPoPHTTPClient(base_url=mcp.url).get_with_dpop(
            "/resource", token=token.access_token, prover=prover,
        )

        # 4. Customer cancels: one call, all tokens gone
        result = admin.users.revoke_agents(user["id"], reason="cancelled")
        # ---- end of the example ----

        assert client_id.startswith("shark_agent_") and client_secret
        assert token.cnf_jkt == prover.jkt and token.token_type == "DPoP"
        resp.raise_for_status()
        assert resp.json()["sub"] == client_id and resp.json()["scope"] == "mcp:read mcp:write"
        # The example's agent was made without created_by: the customer's
        # cascade does not reach it (test_created_by_links_the_cascade shows the fix).
        assert result.revoked_agent_ids == [] and result.audit_event_id
        events = [e.event for e in admin.agents.get_audit_logs(client_id)]
        assert "oauth.token_issued" in events
    finally:
        mcp.stop()


def test_created_by_links_the_cascade(shark, admin, app, user):
    """Point 2: register_agent(created_by=) makes step 4 of the example reach the agent,
    and a resource server that introspects refuses the token at once."""
    mcp = mcp_stand_in(shark.url, shark.url, introspect_key=shark.admin_key)
    try:
        agent = admin.agents.register_agent(app_id=app["id"], name="agent-alice",
                                            scopes=["mcp:read", "mcp:write"],
                                            created_by=user["id"])
        prover = DPoPProver.generate()
        token = OAuthClient(shark.url).get_token_with_dpop(
            grant_type="client_credentials", dpop_prover=prover, client_id=agent["client_id"],
            client_secret=agent["client_secret"], scope="mcp:read mcp:write")
        http = DPoPHTTPClient(base_url=mcp.url)
        assert http.get_with_dpop("/resource", token=token.access_token,
                                  prover=prover).status_code == 200
        result = admin.users.revoke_agents(user["id"], reason="customer cancelled subscription")
        assert result.revoked_agent_ids == [agent["client_id"]]
        r = http.get_with_dpop("/resource", token=token.access_token, prover=prover)
        assert r.status_code == 401
        assert 'error="invalid_token"' in r.headers["WWW-Authenticate"]
        assert OAuthClient(shark.url, token=shark.admin_key).introspect(
            token.access_token).active is False
    finally:
        mcp.stop()


def test_internal_platform_exchange(shark, admin, app, person):
    SHARK_URL = shark.url
    # Step 2 of the guide, ids replaced
    summarizer = admin.agents.register_agent(
        app_id=app["id"],
        name="summarizer-agent",
        scopes=["docs:read"],
    )
    executor = admin.agents.register_agent(
        app_id=app["id"],
        name="executor-agent",
        scopes=["docs:read", "code:execute"],
    )
    agent_a_client_id = summarizer["client_id"]
    prover_a = DPoPProver.generate()
    # The user-delegated token (guide 11): the person signs in through a code
    # client and hands the token to agent A (aud = agent A), bound to A's key.
    _, user_token = user_delegated_token(shark, person, "docs:read code:execute", prover_a,
                                         audience=agent_a_client_id)
    user_delegated_token_ = user_token.access_token

    # ---- Step 3 as written; agent A's credentials are the OAuthClient defaults ----
    oauth = OAuthClient(base_url=SHARK_URL, client_id=summarizer["client_id"],
                        client_secret=summarizer["client_secret"])

    # Exchange: agent A narrows scope for agent B
    token_b = oauth.token_exchange(
        subject_token=user_delegated_token_,
        dpop_prover=prover_a,
        scope="docs:read",                       # narrower than original grant
        audience="https://docs.internal",         # RFC 8707 audience lock
    )
    # ---- end ----
    assert token_b.act["sub"] == agent_a_client_id
    assert token_b.scope == "docs:read" and token_b.cnf_jkt == prover_a.jkt
    c = unverified.AgentTokenClaims.parse(token_b.access_token)
    assert c.sub == person.id  # the original principal stays the subject
    assert c.is_delegated() and c.has_scope("docs:read") and not c.has_scope("code:execute")
    chain = c.delegation_chain()
    assert [h.sub for h in chain] == [agent_a_client_id] and chain[0].jkt == prover_a.jkt
    assert c.raw["aud"] == "https://docs.internal"

    # A resource at https://docs.internal verifies it and sees the chain.
    rs = ResourceServer(issuer=SHARK_URL, resource="https://docs.internal",
                        required_scopes=["docs:read"])
    url = "https://docs.internal/doc/1"
    verified = rs.verify("GET", url, {
        "Authorization": "DPoP " + token_b.access_token,
        "DPoP": prover_a.make_proof("GET", url, access_token=token_b.access_token)})
    assert isinstance(verified, AgentTokenClaims)
    assert verified.sub == person.id and [h.sub for h in verified.delegation_chain] == [
        agent_a_client_id]

    # Step 4 and 6 of the guide
    events = admin.agents.get_audit_logs(agent_a_client_id, limit=50)
    assert "oauth.token_exchanged" in [ev.event for ev in events]
    lines = [f"{ev.created_at}  {ev.event:30s}  actor={ev.actor_id}" for ev in events]
    assert any("oauth.token_exchanged" in ln and "actor=" + agent_a_client_id in ln
               for ln in lines), lines
    result = admin.agents.revoke_all(executor["client_id"])
    assert result.revoked_count == 0
    new_prover = DPoPProver.generate()
    rotation = admin.agents.rotate_dpop_key(
        executor["client_id"],
        new_public_key_jwk=new_prover.public_key_jwk(),
        reason="incident-2026-04-26",
    )
    assert rotation.new_jkt == new_prover.jkt and rotation.audit_event_id
    result = admin.oauth.bulk_revoke_by_pattern(
        client_id_pattern=summarizer["client_id"][:-3] + "*",
        reason="CVE-2026-xxxx rollback",
    )
    assert result.revoked_count >= 1
    assert OAuthClient(SHARK_URL, token=shark.admin_key).introspect(
        token_b.access_token).active is False
    tokens = admin.agents.list_tokens(agent_a_client_id)
    assert tokens == []

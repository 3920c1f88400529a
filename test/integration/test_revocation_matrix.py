"""The revocation matrix (issue 20): every way a grant can end × every
credential it must kill, each refused afterwards on every node.

Two `shark` nodes share one PostgreSQL and one issuer. Each case builds a
fresh grant on node 1 with the real routes, shows the credential under test
working on both nodes, ends the grant on node 1 and checks that node 1
refuses the credential at once and node 2 within a bounded wait for the
database's notification (the refresh grant reads the database: no wait).

The grants (every token DPoP-bound, so the vault serves them):
- person: P signs up and consents to the DCR client C on the hosted pages
  (AT1, RT1); C refreshes once (AT2, RT2; RT1 is spent) and hands AT2 on to
  agent A by exchanging it for a token with `audience` = A (the hand-off;
  AT2 itself stays this server's, as the vault requires). A exchanges the
  hand-off for a child naming agent B; B exchanges that for a
  grandchild. A and B were created by P, each in its own app, so revoking A
  reaches B's grandchild only through the parent link.
- agent: A (created by P) takes a client-credentials token, exchanges it for
  a child naming B, B exchanges that for a grandchild (A's tokens bound to
  A's key, B's to B's: rotating A's key is a way too).
The root (AT2, or A's own token) also fetches P's vault connection.

Cells not generated, and why:
- refresh × the agent ways: an agent has client_credentials and token
  exchange only, and neither issues a refresh token.
- refresh × RFC 7009 revocation of the access token: RFC 7009 §2.1 lets the
  server keep the refresh token when an access token is revoked (it MAY
  revoke it); shark keeps it, so there is no one right answer to assert.
  Revoking the refresh token (rfc7009_refresh) is its own way and row.
The agent-only ways (disable, delete, app delete, revoke-all) apply to
admin-created agents, not DCR clients, hence the agent grant for them."""
import time
from dataclasses import dataclass, field

import pytest
import requests

import flows
from conftest import Shark, assert_api_error, assert_oauth_error
from test_cluster_oauth import two_nodes
from test_vault import SHARK_ARGS, FakeProvider, connect, make_agent, make_provider, vault_fetch

NOTIFY_WITHIN = 2.0  # seconds for node 2 to hear of a revocation made on node 1


# -- the two nodes and the vault provider, shared by the module ----------------

@pytest.fixture(scope="module")
def nodes(pg_cluster):
    made = []

    def factory(**kw):
        s = Shark(**dict(kw, extra=list(kw.get("extra", ())) + SHARK_ARGS))
        made.append(s)
        return s

    try:
        # A loopback issuer: the hosted pages answer only to the issuer's
        # host, and a loopback one lets each node be reached at its own port.
        yield two_nodes(pg_cluster, factory, "matrix", issuer="http://127.0.0.1:1")
    finally:
        for s in made:
            s.cleanup()


@pytest.fixture(scope="module")
def vault(nodes):
    fake = FakeProvider().start()
    try:
        yield fake, make_provider(nodes[0], fake)
    finally:
        fake.stop()


def api(s, method, path, **kw):
    return s.request(method, path, admin=True, **kw)


# -- the grant -------------------------------------------------------------------

@dataclass
class Chain:
    kind: str
    person: flows.Person
    a: dict  # agent A, which holds the child
    b: dict  # agent B, which holds the grandchild
    ka: flows.DpopKey
    kb: flows.DpopKey
    provider_id: str
    conn: dict
    provider_token: str  # what the vault hands out for P
    root: str = None  # the access token the child came from; it fetches the vault
    root_key: flows.DpopKey = None
    access: list = field(default_factory=list)  # the grant's access tokens
    child: str = None
    grandchild: str = None
    client: flows.Client = None  # C (person grant)
    grant: flows.Grant = None
    refresh: str = None  # the live refresh token
    rotated: str = None  # RT1, spent


def as_client(agent):
    return flows.Client(agent["client_id"], agent["client_secret"], None, agent)


def ok_token(r, key):
    assert r.status_code == 200, r.text
    t = r.json()
    assert t["token_type"] == ("DPoP" if key else "Bearer"), t
    return t


def build(kind, s, vault):
    fake, provider_id = vault
    person = flows.sign_up(s)
    conn, provider_token, _ = connect(s, person.id, provider_id, fake, int(time.time()) + 3600)
    a, b = make_agent(s, person.id), make_agent(s, person.id)
    c = Chain(kind, person, a, b, flows.DpopKey(), flows.DpopKey(), provider_id, conn,
              provider_token)
    if kind == "person":
        c.client = flows.register_client(s, scope="openid vault:read", grant_types=(
            "authorization_code", "refresh_token", flows.EXCHANGE_GRANT))
        key = flows.DpopKey()
        c.grant = flows.code_flow(s, person=person, client=c.client, scope="openid vault:read",
                                  key=key)
        t = ok_token(flows.refresh(s, c.client, c.grant.refresh_token, key), key)
        c.rotated, c.refresh = c.grant.refresh_token, t["refresh_token"]
        c.root, c.root_key = t["access_token"], key
        c.access = [c.grant.access_token, c.root]
        subject = ok_token(flows.exchange(s, c.client, c.root, key, audience=a["client_id"]),
                           key)["access_token"]
    else:
        t = ok_token(flows.token_request(s, as_client(a), {"grant_type": "client_credentials",
                                                           "scope": "vault:read"}, c.ka), c.ka)
        c.root, c.root_key = t["access_token"], c.ka
        c.access = [c.root]
        subject = c.root
    t = ok_token(flows.exchange(s, as_client(a), subject, c.ka, audience=b["client_id"]), c.ka)
    assert t["issued_token_type"] == flows.ACCESS_TOKEN_TYPE, t
    c.child = t["access_token"]
    c.grandchild = ok_token(flows.exchange(s, as_client(b), c.child, c.kb), c.kb)["access_token"]
    # The root fetches P's connection once, so the vault records its client
    # (what the Layer 5 cascade follows).
    r = vault_fetch(s, provider_id, c.root, c.root_key)
    assert r.status_code == 200, r.text
    return c


# -- the ways a grant ends (all on node 1) ------------------------------------------

def consent_revoke(s, c):
    r = api(s, "DELETE", "/api/v1/users/%s/consents/%s" % (c.person.id, c.grant.consent_id))
    assert r.status_code == 204, r.text


def user_delete(s, c):
    r = api(s, "DELETE", "/api/v1/users/" + c.person.id)
    assert r.status_code == 204, r.text


def layer3_all(s, c):
    r = api(s, "POST", "/api/v1/users/%s/revoke-agents" % c.person.id, json={})
    assert r.status_code == 200, r.text
    assert r.json()["revoked_agent_ids"] == sorted([c.a["id"], c.b["id"], c.client.client_id])
    assert r.json()["revoked_consent_count"] == 1


def layer3_scoped(s, c):
    """Layer 3 naming only the consented client C: A and B stay active."""
    r = api(s, "POST", "/api/v1/users/%s/revoke-agents" % c.person.id,
            json={"agent_ids": [c.client.client_id]})
    assert r.status_code == 200, r.text
    assert r.json()["revoked_agent_ids"] == [c.client.client_id]
    assert r.json()["revoked_consent_count"] == 1


def layer3_scoped_agent(s, c):
    """Layer 3 naming only agent A: B, holding the grandchild, stays active."""
    r = api(s, "POST", "/api/v1/users/%s/revoke-agents" % c.person.id,
            json={"agent_ids": [c.a["id"]]})
    assert r.status_code == 200, r.text
    assert r.json()["revoked_agent_ids"] == [c.a["id"]]


def agent_disable(s, c):
    r = api(s, "PATCH", "/api/v1/agents/" + c.a["id"], json={"status": "disabled"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "disabled"


def agent_delete(s, c):
    r = api(s, "DELETE", "/api/v1/agents/" + c.a["id"])
    assert r.status_code == 204, r.text


def app_delete(s, c):
    r = api(s, "DELETE", "/api/v1/apps/%s?cascade=true" % c.a["app_id"])
    assert r.status_code == 204, r.text


def agent_revoke_all(s, c):
    r = api(s, "POST", "/api/v1/agents/%s/tokens/revoke-all" % c.a["id"])
    assert r.status_code == 200, r.text
    assert r.json()["revoked_count"] == 2  # its own token and the child; B holds the rest


def agent_rotate_dpop(s, c):
    """A's key rotated: one key mark covers A's tokens bound to the old key (its
    own and the child); B's grandchild goes by its parent link."""
    r = api(s, "POST", "/api/v1/agents/%s/rotate-dpop-key" % c.a["id"],
            json={"new_public_key_jwk": flows.DpopKey().jwk, "reason": "revocation matrix"})
    assert r.status_code == 200, r.text
    assert r.json()["revoked_token_count"] == 2


def revoke_by_pattern(s, c):
    r = api(s, "POST", "/api/v1/admin/oauth/revoke-by-pattern",
            json={"client_id_pattern": c.client.client_id, "reason": "revocation matrix"})
    assert r.status_code == 200, r.text
    assert r.json()["pattern_matched"] == c.client.client_id


def vault_cascade(s, c):
    r = api(s, "DELETE", "/api/v1/vault/connections/" + c.conn["id"])
    assert r.status_code == 200, r.text
    assert r.json()["revoked_agent_ids"] == [c.client.client_id]


def rfc7009_access(s, c):
    """The client revokes the access token the child was derived from."""
    r = requests.post(s.url("/oauth/revoke"), data={"token": c.root}, auth=c.client.auth,
                      timeout=flows.TIMEOUT)
    assert r.status_code == 200, r.text


def rfc7009_refresh(s, c):
    """RFC 7009 §2.1: revoking a refresh token SHOULD end the access tokens of
    its grant too."""
    r = requests.post(s.url("/oauth/revoke"), data={"token": c.refresh}, auth=c.client.auth,
                      timeout=flows.TIMEOUT)
    assert r.status_code == 200, r.text


def refresh_reuse(s, c):
    """RFC 9700 §4.14.2: the spent RT1 presented again revokes its family."""
    r = flows.refresh(s, c.client, c.rotated, c.root_key)
    assert r.status_code == 400, r.text
    assert_oauth_error(r.json(), "invalid_grant")


PERSON = ["access", "refresh", "child", "grandchild", "vault"]
AGENT = ["access", "child", "grandchild", "vault"]  # no refresh token (see the top)
WAYS = {
    "consent_revoke": ("person", consent_revoke, PERSON),
    "user_delete": ("person", user_delete, PERSON),
    "layer3_all": ("person", layer3_all, PERSON),
    "layer3_scoped": ("person", layer3_scoped, PERSON),
    "layer3_scoped_agent": ("agent", layer3_scoped_agent, AGENT),
    "agent_disable": ("agent", agent_disable, AGENT),
    "agent_delete": ("agent", agent_delete, AGENT),
    "app_delete": ("agent", app_delete, AGENT),
    "agent_revoke_all": ("agent", agent_revoke_all, AGENT),
    "agent_rotate_dpop": ("agent", agent_rotate_dpop, AGENT),
    "revoke_by_pattern": ("person", revoke_by_pattern, PERSON),
    "vault_cascade": ("person", vault_cascade, PERSON),
    "rfc7009_access": ("person", rfc7009_access, [x for x in PERSON if x != "refresh"]),
    "rfc7009_refresh": ("person", rfc7009_refresh, PERSON),
    "refresh_reuse": ("person", refresh_reuse, PERSON),
}


# -- the credentials: accepted before, refused after, on both nodes -----------------

def refused_on_both(nodes, refused, what):
    """Node 1 refuses at once; node 2 within NOTIFY_WITHIN."""
    n1, n2 = nodes
    assert refused(n1), "%s is still accepted on node 1" % what
    deadline = time.time() + NOTIFY_WITHIN
    while not refused(n2):
        assert time.time() < deadline, "%s is still accepted on node 2" % what
        time.sleep(0.05)


def inactive(s, token):
    info = flows.introspect(s, token)
    assert info == {"active": False} or info["active"] is True, info
    return info["active"] is False


def tokens_of(c, credential, way=None):
    """The tokens of a credential, with who holds them. Revoking one access
    token (RFC 7009) need not end AT1, which AT2 is a sibling of, not derived
    from."""
    if credential == "child":
        return [(c.child, c.a["client_id"])]
    if credential == "grandchild":
        return [(c.grandchild, c.b["client_id"])]
    holder = c.client.client_id if c.kind == "person" else c.a["client_id"]
    return [(t, holder) for t in ([c.root] if way == "rfc7009_access" else c.access)]


def tokens_accepted(nodes, c, credential):
    sub = c.person.id if c.kind == "person" else c.a["client_id"]
    for token, holder in tokens_of(c, credential):
        for s in nodes:
            info = flows.introspect(s, token)
            assert info["active"] is True, info
            assert info["sub"] == sub and info["client_id"] == holder, info


def tokens_refused(nodes, c, credential, way):
    for i, (token, _) in enumerate(tokens_of(c, credential, way)):
        refused_on_both(nodes, lambda s: inactive(s, token), "%s token %d" % (credential, i))


def refresh_accepted(nodes, c):
    # RT1 was refreshed on node 1 when the grant was made; RT2 is refreshed
    # here on node 2, and its successor is the refresh token under test.
    t = ok_token(flows.refresh(nodes[1], c.client, c.refresh, c.root_key), c.root_key)
    c.refresh = t["refresh_token"]


def refresh_refused(nodes, c):
    # No wait: the refresh grant reads the database. A refusal spends
    # nothing, so node 2 is asked about the token in the very same state.
    for s in nodes:
        r = flows.refresh(s, c.client, c.refresh, c.root_key)
        assert r.status_code == 400, r.text
        assert_oauth_error(r.json(), "invalid_grant")


def vault_accepted(nodes, c):
    for s in nodes:
        r = vault_fetch(s, c.provider_id, c.root, c.root_key)
        assert r.status_code == 200, r.text
        assert r.json()["access_token"] == c.provider_token


def vault_refused(nodes, c):
    def refused(s):
        r = vault_fetch(s, c.provider_id, c.root, c.root_key)
        if r.status_code == 200:
            return False
        assert r.status_code == 401, r.text
        assert_api_error(r.json(), "invalid_token")
        return True

    refused_on_both(nodes, refused, "the vault fetch")


def accepted(nodes, c, credential):
    if credential == "refresh":
        refresh_accepted(nodes, c)
    elif credential == "vault":
        vault_accepted(nodes, c)
    else:
        tokens_accepted(nodes, c, credential)


def refused(nodes, c, credential, way):
    if credential == "refresh":
        refresh_refused(nodes, c)
    elif credential == "vault":
        vault_refused(nodes, c)
    else:
        tokens_refused(nodes, c, credential, way)


def cells():
    for way, (_, _, creds) in WAYS.items():
        for cred in creds:
            yield pytest.param(way, cred, id="%s-%s" % (way, cred))


@pytest.mark.parametrize("way,credential", list(cells()))
def test_ending_a_grant_kills_the_credential_on_every_node(nodes, vault, way, credential):
    kind, end, _ = WAYS[way]
    c = build(kind, nodes[0], vault)
    accepted(nodes, c, credential)
    end(nodes[0], c)
    refused(nodes, c, credential, way)


@pytest.mark.parametrize("mark", ["client", "key"])
def test_a_child_minted_from_a_marked_parent_by_a_node_that_had_not_heard_is_refused(
        nodes, pg_cluster, mark):
    """The parent-jti cascade reaches children made after the mark: node 2,
    not yet told of a mark covering A (its notification held back here), lets
    A's token be exchanged; the child is revoked as it is written, and both
    nodes refuse it. The mark: all of A's tokens, or those bound to a key
    other than the one A keeps."""
    n1, n2 = nodes
    person = flows.sign_up(n1)
    a, b = make_agent(n1, person.id), make_agent(n1, person.id)
    ka, kb = flows.DpopKey(), flows.DpopKey()
    root = ok_token(flows.token_request(n1, as_client(a), {"grant_type": "client_credentials"},
                                        ka), ka)["access_token"]
    ci = pg_cluster.conninfo("matrix")
    # a check on a node that just started asks the database while its set
    # loads; the second, a moment later, reads memory
    for s in nodes:
        assert flows.introspect(s, root)["active"] is True
    time.sleep(1)
    pg_cluster.psql(
        "BEGIN; ALTER TABLE revocation_watermarks DISABLE TRIGGER revocation_watermarks_inserted; "
        "INSERT INTO revocation_watermarks (kind, subject_id, revoked_before, keep_jkt) "
        "VALUES ('%s', '%s', now(), %s); "
        "ALTER TABLE revocation_watermarks ENABLE TRIGGER revocation_watermarks_inserted; COMMIT"
        % (mark, a["client_id"], "'kept'" if mark == "key" else "NULL"), "matrix")
    assert flows.introspect(n2, root)["active"] is True  # node 2 has not heard
    r = flows.exchange(n2, as_client(a), root, ka, audience=b["client_id"])
    child = ok_token(r, ka)["access_token"]
    refused_on_both(nodes, lambda s: inactive(s, child), "the child")
    # and so is what B would derive from it
    r = flows.exchange(n2, as_client(b), child, kb)
    assert r.status_code == 400, r.text
    assert_oauth_error(r.json(), "invalid_grant")
    rows = pg_cluster.psql("SELECT count(*) FROM oauth_tokens WHERE parent_jti IS NOT NULL "
                           "AND client_id IN ('%s', '%s') AND revoked_at IS NULL"
                           % (a["client_id"], b["client_id"]), "matrix").strip()
    assert rows == "0"
    # once the nodes reload, the mark itself refuses the parent
    n1.psql("NOTIFY shark_revoked, 'reload'", conninfo=ci)
    refused_on_both(nodes, lambda s: inactive(s, root), "the parent")

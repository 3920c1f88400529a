"""Listings page by page against a real shark: every iter_* method yields each
row exactly once, in the server's order (newest first), and stops. The agent
tokens route pages by cursor; the other routes page by cursor on a server with
the listing contract and by offset on one from before it, and each test holds
for both (it compares with the rows the server counts or lists in one page)."""
import itertools
import os

import pytest
from conftest import HERE, Person, register_code_client, uniq
from test_vault import connect

from shark_auth import AgentList, AuditEvent, OAuthClient, Page, TokenInfo, VaultConnectionRecord
from shark_auth.claims import AgentTokenClaims

ROWS = 250  # more than two pages of 100


def ids(rows):
    return [r["id"] if isinstance(r, dict) else r.id for r in rows]


def once_each(got, want):
    assert len(got) == len(set(got)), "a row came twice"
    assert got == want


@pytest.fixture(scope="module")
def many_tokens(shark, admin, app):
    """An agent with ROWS live tokens, issued one after another."""
    agent = admin.agents.register_agent(app_id=app["id"], name=uniq("paged"), scopes=["mcp:read"])
    oauth = OAuthClient(shark.url)
    jtis = [AgentTokenClaims.parse(oauth.get_token(
        client_id=agent["client_id"], client_secret=agent["client_secret"],
        scope="mcp:read").access_token).raw["jti"] for _ in range(ROWS)]
    return agent, jtis


def test_list_tokens_walks_every_cursor_page(shark, admin, many_tokens):
    agent, jtis = many_tokens
    first = shark.api("GET", "/api/v1/agents/%s/tokens" % agent["id"], params={"limit": 100})
    assert first.status_code == 200 and len(first.json()["data"]) == 100
    assert first.json()["next_cursor"], "the route pages: one page does not hold them all"
    toks = admin.agents.list_tokens(agent["id"])
    assert all(isinstance(t, TokenInfo) for t in toks)
    got = [t.token_id for t in toks]
    assert len(got) == len(set(got)) == ROWS and set(got) == set(jtis)
    expiry = [t.expires_at for t in toks]
    assert expiry == sorted(expiry, reverse=True), "latest expiry first"
    assert got[:100] == [d["token_id"] for d in first.json()["data"]]


def test_iter_tokens_matches_list_tokens_at_any_page_size(admin, many_tokens):
    agent, _ = many_tokens
    every = [t.token_id for t in admin.agents.list_tokens(agent["id"])]
    for size in (100, 7, 1000):
        once_each([t.token_id for t in admin.agents.iter_tokens(agent["id"], page_size=size)],
                  every)
    # a cap that ends inside the second page
    assert [t.token_id for t in admin.agents.list_tokens(agent["id"], limit=120)] == every[:120]
    assert [t.token_id for t in admin.agents.list_tokens(agent["id"], limit=None)] == every
    # iteration is lazy: a consumer may stop early
    assert [t.token_id for t in itertools.islice(
        admin.agents.iter_tokens(agent["id"], page_size=3), 3)] == every[:3]
    with pytest.raises(ValueError):
        admin.agents.list_tokens(agent["id"], limit=0)
    with pytest.raises(ValueError):
        list(admin.agents.iter_tokens(agent["id"], page_size=1001))
    admin.agents.revoke_all(agent["id"])
    assert list(admin.agents.iter_tokens(agent["id"])) == []


def test_iter_events_follows_the_audit_cursor(admin, many_tokens):
    agent, _ = many_tokens
    one_page = admin.audit.list_events(actor_id=agent["id"], limit=1000)
    assert len(one_page.data) >= ROWS and one_page.next_cursor is None
    want = [e.id for e in one_page.data]
    got = list(admin.audit.iter_events(actor_id=agent["id"], page_size=100))
    assert all(isinstance(e, AuditEvent) for e in got)
    once_each([e.id for e in got], want)
    # more than a page's 1000 asked: the events there are, fetched page by page
    assert [e.id for e in admin.agents.get_audit_logs(agent["id"], limit=5000)] == want


@pytest.fixture(scope="module")
def many_agents(admin):
    """ROWS agents of their own app, oldest first."""
    own = admin.apps.create_app(name=uniq("paged-app"), scopes=["mcp:read"])
    return own, [admin.agents.register_agent(app_id=own["id"], name="a%03d" % i,
                                             scopes=["mcp:read"])["id"] for i in range(ROWS)]


def test_iter_agents_yields_each_agent_once_newest_first(admin, many_agents):
    own, made = many_agents
    page = admin.agents.list_agents(app_id=own["id"], limit=100)
    assert isinstance(page, AgentList) and page.total == ROWS and len(page.data) == 100
    once_each(ids(admin.agents.iter_agents(app_id=own["id"], page_size=100)), made[::-1])
    once_each(ids(admin.agents.iter_agents(app_id=own["id"], page_size=1000)), made[::-1])
    assert ids(itertools.islice(admin.agents.iter_agents(app_id=own["id"]), 5)) == made[:-6:-1]
    assert list(admin.agents.iter_agents(app_id=own["id"], status="disabled")) == []


def test_a_page_is_its_rows(admin, app):
    page = admin.apps.list_apps(limit=2, total=True)
    assert isinstance(page, Page) and len(page) == len(page.data) == 2
    assert page.total is not None and page.total >= 2
    assert [a["id"] for a in page] == ids(page.data) and page[0] == page.data[0]
    if page.next_cursor:  # a server with cursors: the next page follows on
        nxt = admin.apps.list_apps(limit=2, cursor=page.next_cursor)
        assert not set(ids(nxt)) & set(ids(page))


def test_iter_users_apps_webhooks(admin, receiver_url):
    hooks = []
    for _ in range(5):
        admin.users.create_user(email=uniq("pg") + "@example.test")
        admin.apps.create_app(name=uniq("pg-app"), scopes=["x:y"])
        hooks.append(admin.webhooks.create_webhook(url=receiver_url, events=["agent.created"]))
    for one_page, walk in (
            (admin.users.list_users, admin.users.iter_users),
            (admin.apps.list_apps, admin.apps.iter_apps),
            (admin.webhooks.list_webhooks, admin.webhooks.iter_webhooks)):
        want = one_page(limit=1000)
        assert len(want) >= 5 and want.next_cursor is None
        once_each(ids(walk(page_size=2)), ids(want))
    for h in hooks:
        admin.webhooks.delete_webhook(h["id"])


@pytest.fixture
def receiver_url():
    return "http://127.0.0.1:9/hook"  # nothing listens: deliveries fail, and are kept


def test_iter_deliveries(admin, receiver_url):
    hook = admin.webhooks.create_webhook(url=receiver_url, events=["agent.created"])
    for _ in range(5):
        admin.webhooks.test_webhook(hook["id"])
    want = admin.webhooks.list_deliveries(hook["id"], limit=1000, total=True)
    assert len(want) == 5 and want.total == 5
    once_each(ids(admin.webhooks.iter_deliveries(hook["id"], page_size=2)), ids(want))
    assert list(admin.webhooks.iter_deliveries(hook["id"], status="delivered")) == []
    admin.webhooks.delete_webhook(hook["id"])


def test_user_agents_and_consents(shark, admin, app, user):
    made = [admin.agents.register_agent(app_id=app["id"], name=uniq("ua"), scopes=["mcp:read"],
                                        created_by=user["id"])["id"] for _ in range(5)]
    page = admin.users.list_agents(user["id"], filter="created", limit=2)
    assert page.total == 5 and len(page.data) == 2 and page.filter == "created"
    once_each(ids(admin.users.iter_agents(user["id"], filter="created", page_size=2)), made[::-1])
    assert list(admin.users.iter_agents(user["id"], filter="authorized")) == []

    person = Person(shark)
    try:
        for _ in range(3):
            person.authorize(register_code_client(shark, "mcp:read")["client_id"], "mcp:read")
    finally:
        person.browser.close()
    want = admin.users.list_consents(person.id, limit=1000, total=True)
    assert isinstance(want, Page) and len(want) == 3 and want.total == 3
    once_each(ids(admin.users.iter_consents(person.id, page_size=2)), ids(want))


def test_iter_connections_and_providers(shark, admin):
    users = [admin.users.create_user(email=uniq("vc") + "@example.test")["id"] for _ in range(5)]
    made = [connect(shark, u, provider="slack")["id"] for u in users]
    page = admin.vault.list_connections(provider_id="slack", limit=2)
    assert page.total == 5 and len(page.items) == 2
    got = list(admin.vault.iter_connections(provider_id="slack", page_size=2))
    assert all(isinstance(c, VaultConnectionRecord) for c in got)
    once_each(ids(got), made[::-1])
    want = admin.vault.list_providers(limit=1000)
    assert len(want) >= 5 and "slack" in ids(want)
    once_each(ids(admin.vault.iter_providers(page_size=3)), ids(want))



def test_the_readme_listing_example_runs(shark, monkeypatch, capsys):
    with open(os.path.join(HERE, "..", "README.md")) as f:
        section = f.read().split("## Listings, page by page", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.setenv("SHARK_URL", shark.url)
    monkeypatch.setenv("ADMIN_KEY", shark.admin_key)
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})
    out = capsys.readouterr().out
    assert " live tokens\n" in out and " apps\n" in out and "@example.test\n" in out

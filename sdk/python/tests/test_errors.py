"""The exception hierarchy and the retry policy against a real shark with a
tight rate limit (--rate-limit 1:2): 429 becomes RateLimitError with
retry_after; a GET is retried after Retry-After, a POST never is."""
import socket
import time

import pytest
from conftest import Shark, finish, free_port

from shark_auth import (AuthenticationError, Client, NotFoundError, OAuthError, Page,
                        RateLimitError, SharkError, TokenVerificationError, VaultError)


def test_hierarchy():
    for cls in (OAuthError, VaultError, AuthenticationError, NotFoundError, RateLimitError,
                TokenVerificationError):
        assert issubclass(cls, SharkError)
    v = VaultError("no connection", 404)
    assert (v.message, v.status_code) == ("no connection", 404) and "404" in str(v)
    o = OAuthError("invalid_grant", "expired", 400)
    assert (o.error, o.error_description, o.status_code, o.code) == (
        "invalid_grant", "expired", 400, "invalid_grant")
    r = RateLimitError("slow down", retry_after=3)
    assert r.status_code == 429 and r.retry_after == 3


@pytest.fixture(scope="module")
def limited():
    s = Shark("--rate-limit", "1:2")
    yield s
    finish(s)


def drain(c):
    """Spend the burst: requests until one is refused."""
    for _ in range(10):
        try:
            c.users.list_users()
        except RateLimitError as e:
            return e
    raise AssertionError("the rate limit never answered 429")


def test_rate_limit(limited):
    once = Client(limited.url, token=limited.admin_key, max_retries=0)
    e = drain(once)
    assert e.status_code == 429 and e.code == "rate_limited"
    assert e.retry_after is not None and e.retry_after >= 0
    # a GET waits for Retry-After and is sent again
    patient = Client(limited.url, token=limited.admin_key, max_retries=3)
    drain(once)
    assert isinstance(patient.users.list_users(), Page)
    # a POST is never sent twice: the 429 surfaces at once
    drain(once)
    with pytest.raises(RateLimitError):
        patient.apps.create_app(name="never-created", scopes=["x"])
    time.sleep(3)  # let the bucket refill before looking
    assert "never-created" not in [a["name"] for a in patient.apps.list_apps()]


def test_unreachable_server_is_a_shark_error():
    port = free_port()
    c = Client("http://127.0.0.1:%d" % port, token="sk_live_x", max_retries=1)
    with pytest.raises(SharkError) as e:
        c.agents.list_agents()
    assert e.value.status_code is None and "cannot reach" in e.value.message
    with pytest.raises(ValueError):
        Client("", token="x")


def test_clients_close_and_work_as_context_managers(shark):
    from shark_auth import (AgentsClient, DPoPHTTPClient, OAuthClient, UsersClient,
                            VaultClient)
    with Client(shark.url, token=shark.admin_key) as c:
        assert isinstance(c.users.list_users(), Page) and c.base_url == shark.url
    with AgentsClient(shark.url, token=shark.admin_key) as a:
        assert a.list_agents().total >= 0
    with UsersClient(shark.url, token=shark.admin_key) as u:
        assert isinstance(u.list_users(limit=1), Page)
    with DPoPHTTPClient(base_url=shark.url) as h:
        from shark_auth import DPoPProver
        r = h.get_with_dpop("/healthz", token="t", prover=DPoPProver.generate())
        assert r.status_code == 200
    OAuthClient(shark.url).close()
    VaultClient(shark.url).close()


def test_replay_cache_bounds_and_expiry():
    from shark_auth import ReplayCache
    now = time.time()
    rc = ReplayCache(max_entries=2)
    assert rc.seen("a", now + 60) is False and rc.seen("a", now + 60) is True
    assert rc.seen("b", now + 60) is False and rc.seen("c", now + 60) is False
    assert rc.seen("a", now + 60) is False  # evicted: the cache stays bounded
    assert rc.seen("x", now - 1) is False and rc.seen("x", now + 60) is False  # expired

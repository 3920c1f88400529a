"""A person's grant without offline_access ends with the browser session that
approved it (OIDC Core §11); with offline_access it outlives the session.
Issue 20: logout is one of the ways a grant ends."""
import pytest
import requests

import flows
from conftest import assert_oauth_error


def log_out(s, person):
    r = person.browser.post(s.url("/api/v1/auth/logout"),
                            headers={"X-CSRF-Token": person.csrf}, timeout=15)
    assert r.status_code == 204, r.text


def end_by_api(s, person):
    """The other way out: the person ends that session from another one."""
    browser = requests.Session()
    r = browser.post(s.url("/api/v1/auth/login"),
                     json={"email": person.email, "password": person.password}, timeout=15)
    assert r.status_code == 200, r.text
    other = flows._with_session(s, browser, person.id, person.email, person.password)
    r = other.browser.delete(s.url("/api/v1/auth/sessions/" + person.session_id),
                             headers={"X-CSRF-Token": other.csrf}, timeout=15)
    assert r.status_code == 204, r.text


@pytest.mark.parametrize("end", [log_out, end_by_api])
def test_logout_ends_the_grant_it_approved(shark, end):
    g = flows.code_flow(shark, scope="openid mcp:read")
    r = flows.refresh(shark, g.client, g.refresh_token)
    assert r.status_code == 200, r.text
    rotated = r.json()
    assert flows.active(shark, rotated["access_token"]) is True
    end(shark, g.session)
    assert flows.active(shark, rotated["access_token"]) is False
    assert flows.active(shark, g.access_token) is False
    r = flows.refresh(shark, g.client, rotated["refresh_token"])
    assert r.status_code == 400, r.text
    assert_oauth_error(r.json(), "invalid_grant")


def test_offline_access_outlives_the_session(shark):
    g = flows.code_flow(shark, scope="openid offline_access mcp:read")
    log_out(shark, g.session)
    assert flows.active(shark, g.access_token) is True
    r = flows.refresh(shark, g.client, g.refresh_token)
    assert r.status_code == 200, r.text

"""The contract test's calls of the dashboard's routes (paths-dashboard.yaml):
the pages under /admin and /api/docs, the admin session (sign in, read, sign
out, with bad requests beside), a token's chain and the audit CSV export.
Picked up by openapi_scenario.run, on its server and recorder."""
import re

import requests

T = 20


def run(s):
    key = {"Authorization": "Bearer " + s.admin_key}
    # Pages: the app at every depth, an asset (200, then 304), a missing asset, the reference.
    html = requests.get(s.url("/admin"), timeout=T)
    assert html.status_code == 200, html.text
    for path in ("/admin/agents", "/admin/agents/x", "/admin/tokens/x/chain",
                 "/admin/tokens/x/chain/more", "/api/docs"):
        assert requests.get(s.url(path), timeout=T).status_code == 200, path
    asset = re.search(r'src="(/admin/assets/[^"]+)"', html.text).group(1)
    r = requests.get(s.url(asset), timeout=T)
    assert r.status_code == 200
    assert requests.get(s.url(asset), headers={"If-None-Match": r.headers["ETag"]},
                        timeout=T).status_code == 304
    # Under /admin/assets only files answer, at every depth.
    for missing in ("/admin/assets", "/admin/assets/missing.js", "/admin/assets/a/b",
                    "/admin/assets/a/b/c"):
        assert requests.get(s.url(missing), timeout=T).status_code == 404, missing

    # The session: refused, made, read, used, ended.
    session = "/api/v1/admin/session"
    assert requests.post(s.url(session), json={"admin_key": "sk_live_wrong"},
                         timeout=T).status_code == 401
    assert requests.post(s.url(session), data="x", headers={"Content-Type": "text/plain"},
                         timeout=T).status_code == 415
    assert requests.get(s.url(session), timeout=T).status_code == 401
    r = requests.post(s.url(session), json={"admin_key": s.admin_key}, timeout=T)
    assert r.status_code == 201, r.text
    jar = {"shark_admin": r.cookies["shark_admin"]}
    csrf = r.json()["csrf_token"]
    assert requests.get(s.url(session), cookies=jar, timeout=T).status_code == 200
    assert requests.delete(s.url(session), cookies=jar, timeout=T).status_code == 403
    assert requests.delete(s.url(session), cookies=jar, headers={"X-CSRF-Token": csrf},
                           timeout=T).status_code == 204
    assert requests.delete(s.url(session), cookies=jar, headers={"X-CSRF-Token": csrf},
                           timeout=T).status_code == 401

    # A token's chain: one of its own, an unknown one, a bad one.
    app = requests.post(s.url("/api/v1/apps"), json={"name": "chain-app", "scopes": ["mcp:read"]},
                        headers=key, timeout=T).json()
    agent = requests.post(s.url("/api/v1/agents"), headers=key, timeout=T,
                          json={"app_id": app["id"], "name": "chain-agent", "scopes": ["mcp:read"]}).json()
    tok = requests.post(s.url("/oauth/token"), auth=(agent["client_id"], agent["client_secret"]),
                        data={"grant_type": "client_credentials", "scope": "mcp:read"}, timeout=T)
    assert tok.status_code == 200, tok.text
    intro = requests.post(s.url("/oauth/introspect"), data={"token": tok.json()["access_token"]},
                          auth=(agent["client_id"], agent["client_secret"]), timeout=T).json()
    jti = intro["jti"]
    assert requests.get(s.url("/api/v1/tokens/%s/chain" % jti), headers=key,
                        timeout=T).status_code == 200
    assert requests.get(s.url("/api/v1/tokens/tok_unknown/chain"), headers=key,
                        timeout=T).status_code == 404
    assert requests.get(s.url("/api/v1/tokens/%s/chain" % ("a" * 129)), headers=key,
                        timeout=T).status_code == 400

    # The CSV export: a page with its next cursor, and a bad filter.
    r = requests.get(s.url("/api/v1/audit-logs/export"), params={"limit": 2}, headers=key,
                     timeout=T)
    assert r.status_code == 200 and r.headers.get("X-Next-Cursor"), r.text
    assert requests.get(s.url("/api/v1/audit-logs/export"), params={"cursor": r.headers["X-Next-Cursor"]},
                        headers=key, timeout=T).status_code == 200
    assert requests.get(s.url("/api/v1/audit-logs/export"), params={"limit": "0"}, headers=key,
                        timeout=T).status_code == 400

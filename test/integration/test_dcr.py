"""Dynamic client registration: RFC 7591 POST /oauth/register and RFC 7592
GET/PUT/DELETE /oauth/register/{client_id}, in each --dcr mode."""
import hashlib
import os
import subprocess
import time

import pytest
import requests

from conftest import Shark, assert_oauth_error, pg_bindir

INITIAL_TOKEN = "iat_0123456789abcdefXYZ"

# RFC 7515 appendix A.3 (P-256); "d" is the private part.
EC_PUBLIC = {"kty": "EC", "crv": "P-256",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}
EC_PRIVATE = dict(EC_PUBLIC, d="jpsQnnGQmL-YBIScLIatXWhgvrpXZx4DiCoHeEBdlV4")

WEB = {"redirect_uris": ["https://app.example.com/cb"]}
M2M = {"grant_types": ["client_credentials"]}


@pytest.fixture(scope="module")
def srv():
    s = Shark()
    s.start()
    yield s
    s.cleanup()


@pytest.fixture(scope="module")
def token_srv():
    s = Shark(extra=["--dcr", "token", "--dcr-token", INITIAL_TOKEN])
    s.start()
    yield s
    s.cleanup()


@pytest.fixture(scope="module")
def off_srv():
    s = Shark(extra=["--dcr", "off"])
    s.start()
    yield s
    s.cleanup()


def register(s, body, headers=None, raw=None):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    if raw is not None:
        return s.request("POST", "/oauth/register", data=raw, headers=h)
    return s.request("POST", "/oauth/register", json=body, headers=h)


def registered(s, body):
    """Registered with the admin key: these tests are about RFC 7591/7592 themselves;
    what anonymous registration may ask for is test_dcr_policy.py's."""
    r = register(s, body, headers=s.auth())
    assert r.status_code == 201, r.text
    return r.json()


def manage(s, method, client_id, token, body=None, raw=None, content_type="application/json"):
    h = {}
    if token is not None:
        h["Authorization"] = "Bearer " + token
    if body is not None or raw is not None:
        h["Content-Type"] = content_type
    return s.request(method, "/oauth/register/" + client_id, json=body, data=raw, headers=h)


def sha256_hex(s):
    return hashlib.sha256(s.encode()).hexdigest()


def assert_invalid_token(r):
    assert r.status_code == 401, r.text
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert_oauth_error(r.json(), "invalid_token")


def audit(s, event, target):
    r = s.get("/api/v1/audit-logs", admin=True, params={"event": event, "target_id": target})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def metadata_of(info):
    """The registered metadata, without the server-issued credentials and times."""
    drop = {"client_secret", "client_id_issued_at", "client_secret_expires_at",
            "registration_access_token"}
    return {k: v for k, v in info.items() if k not in drop}


# ---- registration ---------------------------------------------------------------

def test_register_defaults_client_secret_basic(srv):
    before = int(time.time())
    r = register(srv, dict(WEB, client_name="Web App"))
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.headers["Cache-Control"] == "no-store"
    c = r.json()
    assert c["client_id"].startswith("client_") and len(c["client_id"]) == 7 + 22
    assert c["client_id"][7:].isalnum()
    assert len(c["client_secret"]) == 43 and c["client_secret"].isalnum()
    assert c["registration_access_token"].startswith("rat_")
    assert len(c["registration_access_token"]) == 4 + 43
    assert c["registration_client_uri"] == srv.url("/oauth/register/" + c["client_id"])
    assert before - 5 <= c["client_id_issued_at"] <= time.time() + 5
    assert c["client_secret_expires_at"] == 0
    assert c["token_endpoint_auth_method"] == "client_secret_basic"
    assert c["grant_types"] == ["authorization_code"]
    assert c["response_types"] == ["code"]
    assert c["redirect_uris"] == WEB["redirect_uris"]
    assert c["client_name"] == "Web App"


def test_register_client_secret_post(srv):
    c = registered(srv, dict(M2M, token_endpoint_auth_method="client_secret_post",
                             scope="read write"))
    assert c["token_endpoint_auth_method"] == "client_secret_post"
    assert c["client_secret"]
    assert c["grant_types"] == ["client_credentials"]
    assert c["response_types"] == []
    assert c["redirect_uris"] == []
    assert c["scope"] == "read write"


def test_register_private_key_jwt(srv):
    jwks = {"keys": [dict(EC_PUBLIC, kid="k1", use="sig", alg="ES256")]}
    c = registered(srv, dict(M2M, token_endpoint_auth_method="private_key_jwt", jwks=jwks))
    assert c["token_endpoint_auth_method"] == "private_key_jwt"
    assert "client_secret" not in c
    assert c["jwks"] == jwks


def test_register_public_client(srv):
    c = registered(srv, {"redirect_uris": ["http://127.0.0.1:8765/cb"],
                         "grant_types": ["authorization_code", "refresh_token"],
                         "token_endpoint_auth_method": "none"})
    assert "client_secret" not in c
    assert c["token_endpoint_auth_method"] == "none"
    assert c["grant_types"] == ["authorization_code", "refresh_token"]


def test_all_grant_types(srv):
    grants = ["authorization_code", "refresh_token", "client_credentials",
              "urn:ietf:params:oauth:grant-type:token-exchange",
              "urn:ietf:params:oauth:grant-type:device_code"]
    c = registered(srv, dict(WEB, grant_types=grants, response_types=["code"]))
    assert c["grant_types"] == grants


@pytest.mark.parametrize("uri", [
    "http://127.0.0.1/cb", "http://127.0.0.1:8080/cb?x=1", "http://[::1]:9000/cb",
    "http://localhost/cb", "http://LOCALHOST:1/", "https://app.example.com:8443/a/b?c=d",
    "https://app.example.com", "https://[2001:db8::1]/cb",
])
def test_redirect_uri_accepted(srv, uri):
    c = registered(srv, {"redirect_uris": [uri]})
    assert c["redirect_uris"] == [uri]


def test_unknown_members_kept_and_server_owned_ignored(srv):
    body = dict(WEB, software_id="sw-1", contacts=["ops@example.com"],
                logo_uri="https://app.example.com/logo.png", nested={"a": [1, None, True]},
                client_id="client_chosen", client_secret="chosen", created_by="usr_someone",
                registration_access_token="rat_chosen", client_id_issued_at=1,
                client_name=None)
    c = registered(srv, body)
    for k in ("software_id", "contacts", "logo_uri", "nested"):
        assert c[k] == body[k]
    assert c["client_id"] != "client_chosen"
    assert c["client_secret"] != "chosen"
    assert c["registration_access_token"] != "rat_chosen"
    assert c["client_id_issued_at"] > 1
    assert "created_by" not in c and "client_name" not in c
    g = manage(srv, "GET", c["client_id"], c["registration_access_token"]).json()
    assert g["software_id"] == "sw-1" and g["nested"] == body["nested"]
    stored = srv.psql("SELECT metadata->>'created_by' IS NULL, kind, status FROM oauth_clients "
                      "WHERE client_id = '%s'" % c["client_id"]).strip()
    assert stored == "t|dcr|active"


def test_client_name_limit_counts_characters(srv):
    c = registered(srv, dict(WEB, client_name="é" * 200))
    assert c["client_name"] == "é" * 200


def test_sql_metacharacters_stored_verbatim(srv):
    name = "Robert'); DROP TABLE oauth_clients;-- \" \\ $1 %s ; --"
    c = registered(srv, dict(WEB, client_name=name, scope="a'b c;d",
                             extra="'; DELETE FROM audit_events; --"))
    assert c["client_name"] == name and c["scope"] == "a'b c;d"
    g = manage(srv, "GET", c["client_id"], c["registration_access_token"]).json()
    assert g["client_name"] == name
    assert g["extra"] == "'; DELETE FROM audit_events; --"
    stored = srv.psql("SELECT name FROM oauth_clients WHERE client_id = '%s'" % c["client_id"])
    assert stored.rstrip("\n") == name
    assert int(srv.psql("SELECT count(*) FROM audit_events").strip()) > 0
    # A client id made of SQL is just an unknown client.
    assert_invalid_token(manage(srv, "GET", "x'%20OR%20'1'='1", c["registration_access_token"]))


# ---- validation -----------------------------------------------------------------

META = "invalid_client_metadata"
REDIRECT = "invalid_redirect_uri"
PRIVATE_KEY_JWT = {"grant_types": ["client_credentials"],
                   "token_endpoint_auth_method": "private_key_jwt"}


@pytest.mark.parametrize("body,error,desc", [
    ({"redirect_uris": "https://a.example/cb"}, META, "redirect_uris must be an array"),
    ({"redirect_uris": [1]}, META, "redirect_uris[0] must be a string"),
    ({"redirect_uris": ["https://a.example/cb", "https://a.example/cb"]}, META, "repeats"),
    ({"redirect_uris": ["http://app.example.com/cb"]}, REDIRECT, "http only for"),
    ({"redirect_uris": ["http://127.0.0.2/cb"]}, REDIRECT, "http only for"),
    ({"redirect_uris": ["https://a.example/cb#x"]}, REDIRECT, "fragment"),
    ({"redirect_uris": ["/cb"]}, REDIRECT, "absolute https"),
    ({"redirect_uris": ["com.example.app:/cb"]}, REDIRECT, "absolute https"),
    ({"redirect_uris": ["ftp://a.example/cb"]}, REDIRECT, "absolute https"),
    ({"redirect_uris": ["https://u:p@a.example/cb"]}, REDIRECT, "credentials"),
    ({"redirect_uris": ["https:///cb"]}, REDIRECT, "host"),
    ({"redirect_uris": ["https://a.example:99999999/cb"]}, REDIRECT, "port"),
    ({"redirect_uris": ["https://a.example:/cb"]}, REDIRECT, "port"),
    ({"redirect_uris": ["https://[::1/cb"]}, REDIRECT, "host"),
    ({"redirect_uris": ["https://a.example/c b"]}, REDIRECT, "space"),
    ({"redirect_uris": ["https://a.example/\u00e9"]}, REDIRECT, "non-ASCII"),
    ({"redirect_uris": ["https://a.example/" + "a" * 2000]}, REDIRECT, "too long"),
    ({"redirect_uris": ["https://a.example/%d" % i for i in range(51)]}, META, "at most 50"),
    ({"redirect_uris": ["https://a.example/cb", "http://evil.example/"]}, REDIRECT,
     "redirect_uris[1]"),
    ({}, REDIRECT, "required"),
    ({"redirect_uris": []}, REDIRECT, "required"),
    ({"grant_types": ["authorization_code"]}, REDIRECT, "required"),
    ({"grant_types": "client_credentials"}, META, "grant_types must be an array"),
    ({"grant_types": [["client_credentials"]]}, META, "grant_types[0] must be a string"),
    ({"grant_types": ["password"]}, META, "'password' is not supported"),
    ({"grant_types": ["implicit"]}, META, "not supported"),
    ({"grant_types": []}, META, "must not be empty"),
    ({"grant_types": ["client_credentials", "client_credentials"]}, META, "repeats"),
    (dict(WEB, response_types=["token"]), META, "'token' is not supported"),
    (dict(WEB, response_types="code"), META, "response_types must be an array"),
    (dict(WEB, response_types=[]), META, "response_types must include code"),
    (dict(M2M, response_types=["code"]), META, "response_types must include code"),
    (dict(M2M, token_endpoint_auth_method="client_secret_jwt"), META,
     "token_endpoint_auth_method"),
    (dict(M2M, token_endpoint_auth_method=1), META, "token_endpoint_auth_method"),
    (PRIVATE_KEY_JWT, META, "private_key_jwt requires jwks"),
    (dict(PRIVATE_KEY_JWT, jwks_uri="https://a.example/jwks"), META, "jwks_uri"),
    (dict(PRIVATE_KEY_JWT, jwks={"keys": []}), META, "non-empty keys"),
    (dict(PRIVATE_KEY_JWT, jwks=[EC_PUBLIC]), META, "jwks must be an object"),
    (dict(PRIVATE_KEY_JWT, jwks={"keys": EC_PUBLIC}), META, "jwks must be an object"),
    (dict(PRIVATE_KEY_JWT, jwks={"keys": [EC_PRIVATE]}), META, "private key members"),
    (dict(PRIVATE_KEY_JWT, jwks={"keys": [EC_PUBLIC, {"kty": "oct", "k": "c2VjcmV0"}]}),
     META, "jwks.keys[1] is a symmetric key"),
    (dict(PRIVATE_KEY_JWT, jwks={"keys": [dict(EC_PUBLIC, x="AAAA")]}), META,
     "not a supported public key"),
    (dict(PRIVATE_KEY_JWT, jwks={"keys": ["x"]}), META, "not a supported public key"),
    (dict(PRIVATE_KEY_JWT, jwks={"keys": [EC_PUBLIC] * 21}), META, "at most 20 keys"),
    (dict(M2M, token_endpoint_auth_method="none"), META, "client_credentials"),
    (dict(M2M, scope=42), META, "scope must be a string"),
    (dict(M2M, scope="a  b"), META, "single spaces"),
    (dict(M2M, scope=" a"), META, "single spaces"),
    (dict(M2M, scope="a "), META, "single spaces"),
    (dict(M2M, scope='a"b'), META, "scope must be"),
    (dict(M2M, scope="a\\b"), META, "scope must be"),
    (dict(M2M, scope="caf\u00e9"), META, "scope must be"),
    (dict(M2M, scope="a\tb"), META, "scope must be"),
    (dict(M2M, scope=" ".join("s%d" % i for i in range(51))), META, "at most 50"),
    (dict(M2M, client_name="x" * 201), META, "client_name"),
    (dict(M2M, client_name=5), META, "client_name must be a string"),
    (dict(M2M, client_name=["a"]), META, "client_name must be a string"),
])
def test_validation_errors(srv, body, error, desc):
    before = srv.psql("SELECT count(*) FROM oauth_clients").strip()
    r = register(srv, body)
    assert r.status_code == 400, r.text
    assert_oauth_error(r.json(), error)
    assert desc in r.json()["error_description"], r.json()
    assert srv.psql("SELECT count(*) FROM oauth_clients").strip() == before


def test_fifty_scopes_accepted(srv):
    scope = " ".join("s%d" % i for i in range(50))
    assert registered(srv, dict(M2M, scope=scope))["scope"] == scope


@pytest.mark.parametrize("ctype,raw", [
    ("text/plain", '{"grant_types":["client_credentials"]}'),
    ("application/x-www-form-urlencoded", "grant_types=client_credentials"),
    ("application/jsonx", '{"grant_types":["client_credentials"]}'),
    ("application/json", "{not json"),
    ("application/json", ""),
    ("application/json", '["client_credentials"]'),
    ("application/json", '"x"'),
    ("application/json", '{"grant_types":["client_credentials"],"a":1,"a":2}'),
])
def test_body_must_be_json_object(srv, ctype, raw):
    r = register(srv, None, headers={"Content-Type": ctype}, raw=raw)
    assert r.status_code == 400, r.text
    assert_oauth_error(r.json(), "invalid_request")


def test_json_content_type_with_charset(srv):
    r = register(srv, None, headers={"Content-Type": "application/json; charset=utf-8"},
                 raw='{"redirect_uris":["https://app.example.com/cb"]}')
    assert r.status_code == 201, r.text


def test_null_members_count_as_absent(srv):
    c = registered(srv, dict(M2M, scope=None, client_name=None, jwks=None, jwks_uri=None,
                             token_endpoint_auth_method=None))
    assert c["token_endpoint_auth_method"] == "client_secret_basic"
    assert "scope" not in c and "jwks" not in c


# ---- secrets at rest ------------------------------------------------------------

def test_secret_shown_once_and_stored_hashed(srv):
    c = registered(srv, dict(WEB, client_name="hash-check"))
    secret, rat = c["client_secret"], c["registration_access_token"]
    g = manage(srv, "GET", c["client_id"], rat)
    assert g.status_code == 200, g.text
    assert "client_secret" not in g.json()
    assert secret not in g.text
    row = srv.psql("SELECT secret_hash, registration_token_hash FROM oauth_clients "
                   "WHERE client_id = '%s'" % c["client_id"]).strip()
    assert row == "%s|%s" % (sha256_hex(secret), sha256_hex(rat))
    dump = subprocess.run([os.path.join(pg_bindir(), "pg_dump"),
                           "host=%s dbname=shark user=shark" % srv.pg_socket_dir],
                          capture_output=True, text=True, timeout=60, env=srv.pg_env())
    assert dump.returncode == 0, dump.stderr
    assert c["client_id"] in dump.stdout and "hash-check" in dump.stdout
    assert secret not in dump.stdout
    assert rat not in dump.stdout and rat[4:] not in dump.stdout
    assert sha256_hex(secret) in dump.stdout


def test_registered_secret_authenticates_until_deleted(srv):
    c = registered(srv, dict(M2M, token_endpoint_auth_method="client_secret_post",
                             scope="read"))
    form = {"grant_type": "client_credentials", "client_id": c["client_id"],
            "client_secret": c["client_secret"]}
    r = srv.request("POST", "/oauth/token", data=form)
    assert r.status_code == 200, r.text
    assert r.json()["access_token"]
    assert manage(srv, "DELETE", c["client_id"], c["registration_access_token"]).status_code == 204
    r = srv.request("POST", "/oauth/token", data=form)
    assert r.status_code == 401, r.text
    assert_oauth_error(r.json(), "invalid_client")


# ---- --dcr token / off ------------------------------------------------------------

@pytest.mark.parametrize("auth", [
    None, "Bearer wrong-token-wrong-token", "Bearer " + INITIAL_TOKEN + "x",
    "Bearer " + INITIAL_TOKEN[:-1], "Basic " + INITIAL_TOKEN, INITIAL_TOKEN, "Bearer ",
])
def test_token_mode_rejects(token_srv, auth):
    r = register(token_srv, M2M, headers={"Authorization": auth} if auth else None)
    assert_invalid_token(r)
    assert token_srv.psql("SELECT count(*) FROM oauth_clients").strip() == "0"


def test_token_mode_accepts_initial_token(token_srv):
    r = register(token_srv, WEB, headers={"Authorization": "Bearer " + INITIAL_TOKEN})
    assert r.status_code == 201, r.text
    c = r.json()
    # Management uses the client's own registration token, not the initial one.
    assert_invalid_token(manage(token_srv, "GET", c["client_id"], INITIAL_TOKEN))
    assert manage(token_srv, "GET", c["client_id"],
                  c["registration_access_token"]).status_code == 200


def test_token_mode_lowercase_scheme(token_srv):
    r = register(token_srv, WEB, headers={"Authorization": "bearer " + INITIAL_TOKEN})
    assert r.status_code == 201, r.text


def test_off_mode(off_srv):
    r = register(off_srv, M2M)
    assert r.status_code == 403, r.text
    assert r.json() == {"error": "access_denied",
                        "error_description": "dynamic registration is disabled"}
    assert off_srv.psql("SELECT count(*) FROM oauth_clients").strip() == "0"


# ---- RFC 7592 management -------------------------------------------------------------

def test_get_returns_current_metadata(srv):
    c = registered(srv, dict(WEB, client_name="Reader", scope="openid profile",
                             policy_uri="https://app.example.com/policy"))
    r = manage(srv, "GET", c["client_id"], c["registration_access_token"])
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-store"
    g = r.json()
    assert metadata_of(g) == metadata_of(c)
    assert g["registration_access_token"] == c["registration_access_token"]
    assert g["client_id_issued_at"] == c["client_id_issued_at"]


def test_wrong_or_missing_token_and_unknown_client(srv):
    a = registered(srv, M2M)
    b = registered(srv, M2M)
    for method in ("GET", "PUT", "DELETE"):
        body = dict(M2M, client_id=a["client_id"]) if method == "PUT" else None
        for token in (None, "", "rat_wrong", b["registration_access_token"], a["client_secret"],
                      srv.admin_key, a["registration_access_token"] + "x"):
            assert_invalid_token(manage(srv, method, a["client_id"], token, body))
        assert_invalid_token(manage(srv, method, "client_doesnotexist",
                                    a["registration_access_token"], body))
        assert_invalid_token(manage(srv, method, "c" * 200, a["registration_access_token"],
                                    body))
    # Nothing changed.
    assert manage(srv, "GET", a["client_id"], a["registration_access_token"]).status_code == 200


def test_basic_scheme_is_not_accepted(srv):
    c = registered(srv, M2M)
    r = srv.request("GET", "/oauth/register/" + c["client_id"],
                    headers={"Authorization": "Basic " + c["registration_access_token"]})
    assert_invalid_token(r)


def test_agent_clients_are_not_manageable(srv):
    # SQL: no route gives an agent a registration token; this checks that one
    # found in the table (a bad import, an old row) still manages nothing.
    token = "rat_agenttokenagenttokenagenttoken"
    srv.psql("INSERT INTO oauth_clients (client_id, kind, auth_method, grant_types, "
             "registration_token_hash) VALUES ('shark_agent_x1', 'agent', 'private_key_jwt', "
             "'{client_credentials}', '%s')" % sha256_hex(token))
    for method in ("GET", "DELETE"):
        assert_invalid_token(manage(srv, method, "shark_agent_x1", token))
    assert_invalid_token(manage(srv, "PUT", "shark_agent_x1", token,
                                dict(M2M, client_id="shark_agent_x1")))
    assert srv.psql("SELECT status FROM oauth_clients WHERE client_id = 'shark_agent_x1'"
                    ).strip() == "active"


def test_put_replaces_metadata(srv):
    c = registered(srv, dict(WEB, client_name="Before", scope="a b", software_id="sw",
                             grant_types=["authorization_code", "refresh_token"]))
    new = {"client_id": c["client_id"], "client_secret": c["client_secret"],
           "redirect_uris": ["https://new.example.com/cb", "http://localhost:3000/cb"],
           "client_name": "After", "tos_uri": "https://new.example.com/tos"}
    r = manage(srv, "PUT", c["client_id"], c["registration_access_token"], new)
    assert r.status_code == 200, r.text
    u = r.json()
    assert "client_secret" not in u  # kept, not reissued
    assert u["client_name"] == "After"
    assert u["redirect_uris"] == new["redirect_uris"]
    assert u["grant_types"] == ["authorization_code"]  # omitted: back to the default
    # scope omitted: the default interactive scopes this registration may have (issue 14)
    assert set(u["scope"].split()) <= {"openid", "profile", "email", "offline_access"}, u
    assert "software_id" not in u
    assert u["tos_uri"] == "https://new.example.com/tos"
    assert u["client_id_issued_at"] == c["client_id_issued_at"]
    assert metadata_of(manage(srv, "GET", c["client_id"],
                              c["registration_access_token"]).json()) == metadata_of(u)
    row = srv.psql("SELECT secret_hash, updated_at > created_at FROM oauth_clients "
                   "WHERE client_id = '%s'" % c["client_id"]).strip()
    assert row == "%s|t" % sha256_hex(c["client_secret"])


def test_put_without_secret_member(srv):
    c = registered(srv, M2M)
    r = manage(srv, "PUT", c["client_id"], c["registration_access_token"],
               dict(M2M, client_id=c["client_id"], scope="x"))
    assert r.status_code == 200, r.text
    assert r.json()["scope"] == "x"


def test_put_changes_auth_method(srv):
    c = registered(srv, M2M)
    cid, rat = c["client_id"], c["registration_access_token"]
    jwks = {"keys": [EC_PUBLIC]}
    r = manage(srv, "PUT", cid, rat, dict(M2M, client_id=cid,
                                          token_endpoint_auth_method="private_key_jwt",
                                          jwks=jwks))
    assert r.status_code == 200, r.text
    assert "client_secret" not in r.json() and r.json()["jwks"] == jwks
    assert srv.psql("SELECT secret_hash IS NULL FROM oauth_clients WHERE client_id = '%s'"
                    % cid).strip() == "t"
    # Back to a secret method: a new secret, returned this once.
    r = manage(srv, "PUT", cid, rat, dict(M2M, client_id=cid))
    assert r.status_code == 200, r.text
    secret = r.json()["client_secret"]
    assert secret != c["client_secret"]
    assert "client_secret" not in manage(srv, "GET", cid, rat).json()
    tok = srv.request("POST", "/oauth/token", data={"grant_type": "client_credentials"},
                      auth=(cid, secret))
    assert tok.status_code == 200, tok.text
    old = srv.request("POST", "/oauth/token", data={"grant_type": "client_credentials"},
                      auth=(cid, c["client_secret"]))
    assert old.status_code == 401, old.text


@pytest.mark.parametrize("change,error,desc", [
    ({"client_id": None}, "invalid_request", "client_id"),
    ({"client_id": "client_other"}, "invalid_request", "client_id"),
    ({"client_id": 7}, "invalid_request", "client_id"),
    ({"client_secret": "wrong"}, "invalid_request", "client_secret"),
    ({"client_secret": 5}, "invalid_request", "client_secret"),
    ({"grant_types": ["password"]}, META, "not supported"),
    ({"redirect_uris": ["http://evil.example/cb"]}, REDIRECT, "http only"),
    ({"token_endpoint_auth_method": "none"}, META, "client_credentials"),
])
def test_put_errors_change_nothing(srv, change, error, desc):
    c = registered(srv, dict(M2M, client_name="Stable"))
    body = dict(M2M, client_id=c["client_id"], client_secret=c["client_secret"],
                client_name="Changed")
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    r = manage(srv, "PUT", c["client_id"], c["registration_access_token"], body)
    assert r.status_code == 400, r.text
    assert_oauth_error(r.json(), error)
    assert desc in r.json()["error_description"]
    g = manage(srv, "GET", c["client_id"], c["registration_access_token"]).json()
    assert g["client_name"] == "Stable"


def test_put_secret_on_public_client_mismatches(srv):
    c = registered(srv, {"redirect_uris": ["http://localhost/cb"],
                         "token_endpoint_auth_method": "none"})
    body = {"client_id": c["client_id"], "client_secret": "anything",
            "redirect_uris": ["http://localhost/cb"], "token_endpoint_auth_method": "none"}
    r = manage(srv, "PUT", c["client_id"], c["registration_access_token"], body)
    assert r.status_code == 400, r.text
    assert_oauth_error(r.json(), "invalid_request")


def test_put_requires_json(srv):
    c = registered(srv, M2M)
    r = manage(srv, "PUT", c["client_id"], c["registration_access_token"],
               raw="client_id=" + c["client_id"], content_type="application/x-www-form-urlencoded")
    assert r.status_code == 400, r.text
    assert_oauth_error(r.json(), "invalid_request")


def test_delete(srv):
    c = registered(srv, M2M)
    cid, rat = c["client_id"], c["registration_access_token"]
    r = manage(srv, "DELETE", cid, rat)
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert srv.psql("SELECT status FROM oauth_clients WHERE client_id = '%s'" % cid).strip() \
        == "disabled"
    assert_invalid_token(manage(srv, "GET", cid, rat))
    assert_invalid_token(manage(srv, "PUT", cid, rat, dict(M2M, client_id=cid)))
    assert_invalid_token(manage(srv, "DELETE", cid, rat))


def test_other_methods(srv):
    c = registered(srv, M2M)
    r = srv.request("PATCH", "/oauth/register/" + c["client_id"])
    assert r.status_code == 405
    assert srv.request("GET", "/oauth/register").status_code == 405


# ---- audit ---------------------------------------------------------------------------

def test_audit_events(srv):
    c = registered(srv, dict(WEB, client_name="Audited",
                             grant_types=["authorization_code", "refresh_token"]))
    cid, rat = c["client_id"], c["registration_access_token"]
    ev = audit(srv, "oauth.client_registered", cid)
    assert len(ev) == 1
    e = ev[0]
    assert e["actor_type"] == "client" and e["actor_id"] == cid and e["target_id"] == cid
    assert e["id"].startswith("audit_")
    assert e["metadata"] == {"client_name": "Audited",
                             "grant_types": ["authorization_code", "refresh_token"],
                             "token_endpoint_auth_method": "client_secret_basic"}
    assert c["client_secret"] not in str(ev) and rat not in str(ev)

    assert manage(srv, "PUT", cid, rat, {"client_id": cid, "client_name": "Renamed",
                                         "grant_types": ["client_credentials"]}
                  ).status_code == 200
    ev = audit(srv, "oauth.client_updated", cid)
    assert len(ev) == 1
    assert ev[0]["actor_id"] == cid and ev[0]["actor_type"] == "client"
    assert ev[0]["metadata"]["client_name"] == "Renamed"
    assert ev[0]["metadata"]["grant_types"] == ["client_credentials"]

    assert manage(srv, "DELETE", cid, rat).status_code == 204
    ev = audit(srv, "oauth.client_deleted", cid)
    assert len(ev) == 1 and ev[0]["actor_id"] == cid

    # Failed attempts record nothing.
    assert_invalid_token(manage(srv, "DELETE", cid, rat))
    assert len(audit(srv, "oauth.client_deleted", cid)) == 1
    all_ev = srv.get("/api/v1/audit-logs", admin=True, params={"event": "oauth.*"}).json()
    assert any(x["event"] == "oauth.client_registered" for x in all_ev["data"])

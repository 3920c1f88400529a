"""The OpenAPI 3.1 document (api/openapi/*.yaml, served at /api/openapi.yaml and
/api/docs/openapi.yaml) against the real server.

1. The router's table (`shark routes`, which registers every module's routes
   and prints them without serving) and the document's operations are the
   same set: an undocumented route, or a documented one the server lacks, fails.
2. Contract: openapi_scenario.py drives every documented operation against a
   running server; every response it gets is checked here against the
   document: its status is one the operation documents, its media type is one
   that status documents, and its body validates against that schema (JSON
   Schema Draft 2020-12, as OpenAPI 3.1 uses). Each operation must have been
   answered with a success, and, unless listed in NO_ERROR_CASE, with a
   documented error too.
3. The served document is the assembled one, and it is valid OpenAPI 3.1
   (openapi-spec-validator, from PyPI: test/run installs it in a venv and
   names its python in SHARK_OPENAPI_PYTHON)."""
import importlib.util
import json
import os
import re
import subprocess
import urllib.parse

import jsonschema
import pytest
import requests
import yaml

import openapi_scenario
from conftest import REPO, SHARK_BIN, Shark

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")

# Operations with no error a client can cause cheaply: they take no input and
# need no credentials (a liveness probe cannot be made to fail from outside;
# the dashboard's page and the API reference are static files, their only 404
# being a build without the bundle).
NO_ERROR_CASE = {
    "GET /healthz", "GET /readyz", "GET /metrics", "GET /api/openapi.yaml",
    "GET /api/docs/openapi.yaml", "GET /.well-known/oauth-authorization-server",
    "GET /.well-known/openid-configuration", "GET /.well-known/jwks.json",
    "GET /admin", "GET /api/docs",
}


def _assembled():
    spec = importlib.util.spec_from_file_location("assemble",
                                                  os.path.join(REPO, "api", "assemble.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    doc, _ = mod.assemble(os.path.join(REPO, "api", "openapi"))
    return doc


SOURCE_DOC = _assembled()
OPERATIONS = sorted("%s %s" % (m.upper(), p) for p, item in SOURCE_DOC["paths"].items()
                    for m in METHODS if m in item)


def _template_re(path):
    parts = re.split(r"(\{[^}/]+\})", path)
    return re.compile("^" + "".join("[^/]+" if p.startswith("{") else re.escape(p)
                                    for p in parts) + "$")


TEMPLATES = [(p, _template_re(p), p.count("{")) for p in SOURCE_DOC["paths"]]


def operation_of(method, path):
    """The documented operation a request hits: literal segments win over
    {params}, as in the router."""
    hits = [(n, p) for p, rx, n in TEMPLATES if rx.match(path)
            and method.lower() in SOURCE_DOC["paths"][p]]
    return "%s %s" % (method, min(hits)[1]) if hits else None


# -- the server and its traffic -------------------------------------------------------

@pytest.fixture(scope="module")
def server():
    s = Shark(extra=openapi_scenario.SHARK_ARGS)
    s.start()
    yield s
    s.cleanup()


@pytest.fixture(scope="module")
def records(server):
    """Runs the scenario, recording (operation, status, media type, body) of every
    request that reached the server."""
    seen = []
    real_send = requests.Session.send
    # the scenario's server, and any other it starts with other flags (RECORDED)
    bases = openapi_scenario.RECORDED
    bases[:] = [server.url("")]

    def send(self, request, **kw):
        resp = real_send(self, request, **kw)
        if any(request.url.startswith(b + "/") for b in bases):
            url = urllib.parse.urlsplit(request.url)
            path = url.path
            seen.append({"op": operation_of(request.method, path),
                         "request": "%s %s" % (request.method, path),
                         "query": sorted({k for k, _ in urllib.parse.parse_qsl(
                             url.query, keep_blank_values=True)}),
                         "request_type": request.headers.get("Content-Type", ""),
                         "request_body": request.body,
                         "status": resp.status_code,
                         "type": resp.headers.get("Content-Type", ""),
                         "body": resp.content})
        return resp

    requests.Session.send = send
    try:
        openapi_scenario.run(server, SOURCE_DOC)
    finally:
        requests.Session.send = real_send
    if os.environ.get("SHARK_OPENAPI_DUMP"):
        with open(os.environ["SHARK_OPENAPI_DUMP"], "w") as f:
            json.dump([dict(r, body=r["body"].decode("utf-8", "replace")[:3000],
                            request_body=None) for r in seen], f, indent=1)
    return seen


# -- 1. the router's table -------------------------------------------------------------

def test_router_table_matches_the_document():
    out = subprocess.run([SHARK_BIN, "routes"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    routes = set(out.stdout.split("\n")) - {""}
    assert len(routes) > 50, out.stdout
    for line in routes:
        assert re.fullmatch(r"[A-Z]+ /\S*", line), line
    undocumented = sorted(routes - set(OPERATIONS))
    unrouted = sorted(set(OPERATIONS) - routes)
    assert not undocumented, "routes missing from api/openapi/*.yaml: %s" % undocumented
    assert not unrouted, "documented operations the router does not have: %s" % unrouted


def test_routes_subcommand_takes_no_arguments():
    out = subprocess.run([SHARK_BIN, "routes", "extra"], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 2 and "unexpected argument" in out.stderr


# -- 3. the document itself ------------------------------------------------------------

def test_served_document_is_the_assembled_one(server):
    for path in ("/api/openapi.yaml", "/api/docs/openapi.yaml"):
        r = requests.get(server.url(path), timeout=15)
        assert r.status_code == 200
        assert r.headers["Content-Type"] == "application/yaml"
        assert r.content.isascii()
        assert yaml.safe_load(r.content) == SOURCE_DOC
    assert requests.head(server.url("/api/openapi.yaml"), timeout=15).status_code == 200
    r = requests.post(server.url("/api/openapi.yaml"), timeout=15)
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"


def test_document_is_valid_openapi_3_1(tmp_path):
    py = os.environ.get("SHARK_OPENAPI_PYTHON")
    if not py:
        try:
            import openapi_spec_validator  # noqa: F401
            py = "python3"
        except ImportError:
            pytest.skip("openapi-spec-validator is only on PyPI; test/run installs it in a venv "
                        "and sets SHARK_OPENAPI_PYTHON")
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(SOURCE_DOC))
    out = subprocess.run([py, "-c", "import json, sys\n"
                          "from openapi_spec_validator import validate\n"
                          "from openapi_spec_validator.validation import OpenAPIV31SpecValidator\n"
                          "validate(json.load(open(sys.argv[1])), cls=OpenAPIV31SpecValidator)\n",
                          str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-4000:]


OP = "  get:\n    operationId: %s\n    responses: {'200': {description: ok}}\n"


@pytest.mark.parametrize("files, error", [
    ({"paths-a.yaml": "/x:\n" + OP % "a", "paths-b.yaml": "/x:\n" + OP % "b"},
     "path /x is already defined in paths-a.yaml"),
    ({"paths-a.yaml": "/x:\n" + OP % "same" + "/y:\n" + OP % "same"},
     "operationId same is used by GET /x and GET /y"),
    ({"paths-a.yaml": "/x:\n" + OP % "a" + "    parameters: [{$ref: '#/components/x'}]\n"},
     "$ref #/components/x points nowhere"),
    ({"components-a.yaml": "schemas: {A: {type: object}}\n",
      "components-b.yaml": "schemas: {A: {type: string}}\n"},
     "components/schemas/A is defined twice"),
    ({"notes.yaml": "a: 1\n"}, "name it paths-<area>.yaml or components-<area>.yaml"),
    ({"paths-a.yaml": "x:\n" + OP % "a"}, "'x' is not a path"),
    ({"paths-a.yaml": "/x:\n  get:\n    operationId: a\n"
      "    responses: {'200': {description: The page, or the signed-out page.}}\n"},
     "a key with no value (an unquoted comma"),
])
def test_assembly_fails_loudly(tmp_path, files, error):
    """The build's assembly refuses a document that two fragments disagree on."""
    (tmp_path / "base.yaml").write_text("openapi: 3.1.0\ninfo: {title: t, version: '1'}\n")
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    out = subprocess.run(["/usr/bin/python3", os.path.join(REPO, "api", "assemble.py"),
                          str(tmp_path), str(tmp_path / "o.yaml"), str(tmp_path / "o.c")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and error in out.stderr, out.stderr
    assert not (tmp_path / "o.c").exists()


def test_assembly_picks_up_a_new_fragment(tmp_path):
    (tmp_path / "base.yaml").write_text("openapi: 3.1.0\ninfo: {title: t, version: '1'}\n")
    (tmp_path / "paths-new.yaml").write_text("/x:\n" + OP % "x")
    out = subprocess.run(["/usr/bin/python3", os.path.join(REPO, "api", "assemble.py"),
                          str(tmp_path), str(tmp_path / "o.yaml"), str(tmp_path / "o.c"),
                          str(tmp_path / "o.d")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert list(yaml.safe_load((tmp_path / "o.yaml").read_text())["paths"]) == ["/x"]
    assert "api_openapi_yaml[]" in (tmp_path / "o.c").read_text()
    # The depfile names the directory itself, so an added file rebuilds the document.
    assert str(tmp_path) in (tmp_path / "o.d").read_text().split()


def test_every_operation_has_a_summary_and_a_declared_tag():
    """The reference (/api/docs) groups operations by tag: each one names a tag
    base.yaml declares (with its description), and says in a line what it does."""
    declared = {t["name"] for t in SOURCE_DOC.get("tags", [])}
    bad = []
    for path, item in SOURCE_DOC["paths"].items():
        for m in METHODS:
            op = item.get(m)
            if op is None:
                continue
            tags = op.get("tags") or []
            if not op.get("summary") or not tags or any(t not in declared for t in tags):
                bad.append("%s %s %s" % (m.upper(), path, tags))
    assert not bad, bad


def test_document_schemas_are_valid_2020_12():
    """Every schema in the document is a valid JSON Schema 2020-12 schema."""
    def walk(node):
        if isinstance(node, dict):
            if "schema" in node and isinstance(node["schema"], dict):
                yield node["schema"]
            for v in node.values():
                yield from walk(v)
        elif isinstance(node, list):
            for v in node:
                yield from walk(v)
    schemas = list(walk(SOURCE_DOC["paths"])) + list(
        SOURCE_DOC.get("components", {}).get("schemas", {}).values())
    assert schemas
    for s in schemas:
        jsonschema.Draft202012Validator.check_schema(s)


# -- 2. the contract -------------------------------------------------------------------

def _validate(schema, instance):
    wrapper = {"$schema": "https://json-schema.org/draft/2020-12/schema",
               "components": SOURCE_DOC.get("components", {}), "allOf": [schema]}
    jsonschema.Draft202012Validator(wrapper).validate(instance)


def _resolve(schema):
    while isinstance(schema, dict) and "$ref" in schema:
        node = SOURCE_DOC
        for part in schema["$ref"][2:].split("/"):
            node = node[part]
        schema = dict(node, **{k: v for k, v in schema.items() if k != "$ref"})
    return schema


def _properties(schema):
    """The properties a schema (with its allOf parts) names, or None when it
    names none (an open object such as audit metadata)."""
    schema = _resolve(schema)
    props = dict(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        props.update(_properties(part) or {})
    return props or None


def undocumented_members(schema, instance, where="$"):
    """Members of a JSON body that its schema does not name: the document must
    describe every field the server sends, not just the required ones."""
    schema = _resolve(schema)
    found = []
    if isinstance(instance, dict):
        props = _properties(schema)
        if props is not None:
            found += ["%s.%s" % (where, k) for k in instance if k not in props]
            for k, v in instance.items():
                if k in props:
                    found += undocumented_members(props[k], v, "%s.%s" % (where, k))
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for i, v in enumerate(instance):
            found += undocumented_members(schema["items"], v, "%s[%d]" % (where, i))
    return found


def _response_for(op, status):
    method, path = op.split(" ", 1)
    responses = SOURCE_DOC["paths"][path][method.lower()]["responses"]
    resp = responses.get(str(status)) or responses.get("%dXX" % (status // 100)) or \
        responses.get("default")
    while resp is not None and "$ref" in resp:
        resp = SOURCE_DOC["components"]["responses"][resp["$ref"].rsplit("/", 1)[1]]
    return resp


def test_member_check_finds_an_undocumented_member():
    app = {"id": "app_x", "name": "n", "description": None, "scopes": [], "redirect_uris": [],
           "resources": [], "created_at": "t", "updated_at": "t"}
    page = {"data": [app], "total": 1, "limit": 1, "next_cursor": None}
    ref = {"$ref": "#/components/schemas/AppPage"}
    assert undocumented_members(ref, page) == []
    page["data"][0] = dict(app, secret="leak")
    page["next"] = None
    assert sorted(undocumented_members(ref, page)) == ["$.data[0].secret", "$.next"]


def test_examples_match_their_schemas():
    """Every example of a request body, a response body or a component schema
    is valid against its schema."""
    checked = 0

    def media_examples(content, where):
        nonlocal checked
        for media, m in (content or {}).items():
            if "example" in m and "schema" in m and media.endswith("json"):
                try:
                    _validate(m["schema"], m["example"])
                except jsonschema.ValidationError as e:
                    raise AssertionError("%s %s: %s" % (where, media, e.message)) from None
                checked += 1

    for path, item in SOURCE_DOC["paths"].items():
        for m in METHODS:
            op = item.get(m)
            if op is None:
                continue
            where = "%s %s" % (m.upper(), path)
            media_examples(op.get("requestBody", {}).get("content"), where + " request")
            for status, resp in op["responses"].items():
                media_examples(resp.get("content"), "%s %s" % (where, status))
    for name, resp in SOURCE_DOC["components"].get("responses", {}).items():
        media_examples(resp.get("content"), "responses/" + name)
    for name, schema in SOURCE_DOC["components"]["schemas"].items():
        if "example" in schema:
            _validate({"$ref": "#/components/schemas/" + name}, schema["example"])
            checked += 1
    assert checked > 30, checked


def _request_body(r):
    media = r["request_type"].split(";")[0].strip()
    raw = r["request_body"] or b""
    if isinstance(raw, str):
        raw = raw.encode()
    if media == "application/json":
        return media, json.loads(raw)
    if media == "application/x-www-form-urlencoded":
        return media, dict(urllib.parse.parse_qsl(raw.decode()))
    return media, None


def test_every_request_hit_a_documented_operation(records):
    stray = sorted({r["request"] for r in records if r["op"] is None})
    assert not stray, stray


def _parameters(path, method):
    item = SOURCE_DOC["paths"][path]
    for p in item.get("parameters", []) + item[method].get("parameters", []):
        while "$ref" in p:
            p = SOURCE_DOC["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]]
        yield p


def test_every_query_parameter_is_sent(records):
    """Each documented query parameter is sent by the scenario at least once (so
    the answer to it is checked too; openapi_scenario_params.py has the filters
    and paging the other calls leave out)."""
    sent = {}
    for r in records:
        sent.setdefault(r["op"], set()).update(r["query"])
    never = ["%s ?%s" % (op, p["name"]) for op in OPERATIONS
             for p in _parameters(op.split(" ", 1)[1], op.split(" ", 1)[0].lower())
             if p["in"] == "query" and p["name"] not in sent.get(op, ())]
    assert not never, never


@pytest.mark.parametrize("op", OPERATIONS)
def test_contract(records, op):
    mine = [r for r in records if r["op"] == op]
    home = "add one to openapi_scenario.py or an openapi_scenario_<area>.py"
    assert any(r["status"] < 400 for r in mine), "no successful call of %s (%s): %s" % (
        op, home, [r["status"] for r in mine])
    if op not in NO_ERROR_CASE:
        assert any(r["status"] >= 400 for r in mine), "no error case of %s (%s)" % (op, home)
    for r in mine:
        where = "%s -> %d" % (r["request"], r["status"])
        body = op_doc = None
        if r["status"] < 400 and r["request_body"]:
            # A request the server took must fit the documented request body.
            method, path = op.split(" ", 1)
            op_doc = SOURCE_DOC["paths"][path][method.lower()]
            media, body = _request_body(r)
            content = op_doc.get("requestBody", {}).get("content", {})
            assert media in content, "%s: sent %s, documented %s" % (where, media, list(content))
            try:
                _validate(content[media]["schema"], body)
            except jsonschema.ValidationError as e:
                raise AssertionError("%s: the request body does not fit: %s" % (
                    where, e.message)) from None
            extra = undocumented_members(content[media]["schema"], body) \
                if isinstance(body, (dict, list)) else []
            assert not extra, "%s: took request members the document does not describe: %s" % (
                where, extra)
        resp = _response_for(op, r["status"])
        assert resp is not None, "%s: status not documented" % where
        content = resp.get("content") or {}
        if not r["body"] or r["status"] in (204, 304):
            continue
        media = r["type"].split(";")[0].strip()
        assert media in content, "%s: %s not documented (has %s)" % (where, media, list(content))
        schema = content[media].get("schema")
        if schema is None:
            continue
        if media == "application/json" or media.endswith("+json"):
            body = json.loads(r["body"])
        elif media == "application/yaml":
            body = yaml.safe_load(r["body"])
        else:
            body = r["body"].decode("utf-8")
        try:
            _validate(schema, body)
        except jsonschema.ValidationError as e:
            raise AssertionError("%s: %s\nbody: %s" % (where, e.message,
                                                       r["body"][:2000])) from None
        extra = undocumented_members(schema, body) if isinstance(body, (dict, list)) and \
            media != "application/yaml" else []
        assert not extra, "%s: members the document does not describe: %s" % (where, extra)

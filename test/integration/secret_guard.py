"""No secret in any server log: a pytest plugin for the integration suite.

While the tests run, every secret they see go to or come from a server through
`requests` is recorded: client secrets, access, refresh, id and registration
access tokens, admin keys (sk_live_...), initial access tokens, authorization
and device codes, PKCE verifiers, passwords, Basic credentials, session
cookies. Before a `Shark` or `PgCluster` removes its directory, its logs (shark
stdout/stderr of every start, the embedded PostgreSQL's initdb.log and
postgres.log, an external cluster's pg.log) are copied aside.

With SHARK_SECRET_GUARD=1 (test/run sets it) one more test runs after all
others, `secret_guard.py::test_no_secret_in_server_logs`. It fails when any
recorded secret appears in any log, and it also fails when nothing was
recorded or no log was found, so it cannot pass by having looked at nothing.
The one sanctioned appearance is the first-boot banner on stdout, which shows
the new admin key once by design; that banner is cut out before the scan.

Matching: each secret is reduced to its longest run of [A-Za-z0-9_-] (for a
JWT, a segment; for a base64 blob, a run between '+', '/', '=') and must be at
least MIN_PIECE long; a log leaks it when any run of those characters in the
log contains that piece. Passwords, which may hold any character, are looked
for as plain substrings.
"""
import base64
import json
import os
import pathlib
import re
import shutil
import tempfile
import urllib.parse

import pytest
import requests

MIN_PIECE = 16
MIN_PASSWORD = 8
RUN = re.compile(r"[A-Za-z0-9_-]+")
KEY_RE = re.compile(r"sk_live_[0-9A-Za-z]{20,}")
BANNER = re.compile(r"\n  SharkAuth first boot\. Your admin API key \(shown once; also saved "
                    r"to [^\n]*\):\n\n      sk_live_[0-9A-Za-z]+\n")

# Members (JSON, form or query) whose values are secrets.
SECRET_FIELDS = {
    "client_secret", "access_token", "refresh_token", "id_token", "registration_access_token",
    "initial_access_token", "device_code", "code", "code_verifier", "subject_token",
    "actor_token", "token", "key", "admin_key", "api_key", "secret", "signing_secret",
}
PASSWORD_FIELDS = {"password", "new_password", "current_password", "old_password"}
SESSION_COOKIE = re.compile(r"(session|csrf)", re.I)


class Recorder:
    def __init__(self):
        self.pieces = {}      # longest run -> a label saying where it was seen
        self.passwords = {}   # password -> label
        self.log_dir = tempfile.mkdtemp(prefix="shark-secret-guard-")
        self.logs = 0
        self.saved = set()
        self.errors = []

    def guarded(self, fn, *args, **kw):
        """Recording never fails the test it runs in; the guard test reports it."""
        try:
            fn(*args, **kw)
        except Exception as e:  # noqa: BLE001
            self.errors.append("%s: %r" % (fn.__name__, e))

    # -- secrets ---------------------------------------------------------------
    def secret(self, value, label):
        if not isinstance(value, str):
            return
        runs = RUN.findall(value)
        if not runs:
            return
        piece = max(runs, key=len)
        # A secret is random: a run without a digit is an error code, a word.
        if len(piece) >= MIN_PIECE and re.search(r"[0-9]", piece) and re.search(r"[A-Za-z]", piece):
            self.pieces.setdefault(piece, label)

    def password(self, value, label):
        if isinstance(value, str) and len(value) >= MIN_PASSWORD:
            self.passwords.setdefault(value, label)

    def fields(self, obj, where, depth=0):
        """Secret members of a decoded JSON value or a list of (name, value)."""
        if depth > 20:
            return
        if isinstance(obj, dict):
            for k, v in obj.items():
                if k in SECRET_FIELDS:
                    self.secret(v, "%s %s" % (where, k))
                elif k in PASSWORD_FIELDS:
                    self.password(v, "%s %s" % (where, k))
                if isinstance(v, (dict, list)):
                    self.fields(v, where, depth + 1)
        elif isinstance(obj, list):
            for v in obj:
                if isinstance(v, (dict, list)):
                    self.fields(v, where, depth + 1)

    def pairs(self, pairs, where):
        for k, v in pairs:
            if k in SECRET_FIELDS:
                self.secret(v, "%s %s" % (where, k))
            elif k in PASSWORD_FIELDS:
                self.password(v, "%s %s" % (where, k))

    def authorization(self, value, where):
        scheme, _, cred = (value or "").partition(" ")
        if scheme.lower() in ("bearer", "dpop"):
            self.secret(cred.strip(), where + " Authorization " + scheme)
        elif scheme.lower() == "basic":
            self.secret(cred.strip(), where + " Authorization Basic")
            try:
                _, _, pw = base64.b64decode(cred.strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return
            self.secret(urllib.parse.unquote_plus(pw), where + " Basic client_secret")
            self.password(pw, where + " Basic password")

    def request(self, req):
        where = "request %s %s" % (req.method, urllib.parse.urlsplit(req.url).path)
        self.authorization(req.headers.get("Authorization"), where)
        self.pairs(urllib.parse.parse_qsl(urllib.parse.urlsplit(req.url).query), where + " query")
        body = req.body
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        if not isinstance(body, str) or not body:
            return
        ctype = req.headers.get("Content-Type", "")
        if "json" in ctype:
            try:
                self.fields(json.loads(body), where + " body")
            except ValueError:
                pass
        elif "form-urlencoded" in ctype:
            self.pairs(urllib.parse.parse_qsl(body, keep_blank_values=True), where + " body")
        for k in KEY_RE.findall(body):
            self.secret(k, where + " body admin key")

    def response(self, resp, body=True):
        where = "response to %s %s" % (resp.request.method,
                                       urllib.parse.urlsplit(resp.request.url).path)
        loc = resp.headers.get("Location")
        if loc:
            u = urllib.parse.urlsplit(loc)
            self.pairs(urllib.parse.parse_qsl(u.query) + urllib.parse.parse_qsl(u.fragment),
                       where + " Location")
        for c in resp.cookies:
            if SESSION_COOKIE.search(c.name):
                self.secret(c.value, where + " cookie " + c.name)
        ctype = resp.headers.get("Content-Type", "")
        if not body or len(resp.content) > 1 << 20:
            return
        text = resp.content.decode("utf-8", "replace")
        if "json" in ctype:
            try:
                self.fields(json.loads(text), where)
            except ValueError:
                pass
        for k in KEY_RE.findall(text):
            self.secret(k, where + " admin key")

    # -- logs ----------------------------------------------------------------
    def save_logs(self, paths):
        """Copies the log files that exist (each once) before they are removed."""
        for p in paths:
            if not p or p in self.saved or not os.path.isfile(p):
                continue
            self.saved.add(p)
            self.logs += 1
            shutil.copyfile(p, os.path.join(self.log_dir, "%05d-%s" % (self.logs,
                                                                      os.path.basename(p))))

    def scan(self):
        """(leaks, number of log files, bytes scanned)."""
        lengths = sorted({len(p) for p in self.pieces})
        leaks, nbytes, files = [], 0, sorted(os.listdir(self.log_dir))
        for name in files:
            with open(os.path.join(self.log_dir, name), "rb") as f:
                text = f.read().decode("utf-8", "replace")
            nbytes += len(text)
            if "stdout" in name:
                text = BANNER.sub("\n", text, count=1)
            found = set()
            for run in set(RUN.findall(text)):
                if len(run) < MIN_PIECE:
                    continue
                if run in self.pieces:
                    found.add(run)
                    continue
                for n in lengths:
                    if n >= len(run):
                        break
                    for i in range(len(run) - n + 1):
                        if run[i:i + n] in self.pieces:
                            found.add(run[i:i + n])
            for pw in self.passwords:
                if pw in text:
                    leaks.append((name, self.passwords[pw], "password " + pw[:3] + "..."))
            for piece in sorted(found):
                leaks.append((name, self.pieces[piece], piece[:6] + "..."))
        return leaks, len(files), nbytes


_rec = None


def shark_logs(s):
    paths = []
    for i in range(1, s.starts + 1):
        paths.append(os.path.join(s.tmp_root, "stdout.%d.log" % i))
        paths.append(os.path.join(s.tmp_root, "stderr.%d.log" % i))
    pg = os.path.join(s.data_dir, "pg")
    paths += [os.path.join(pg, "postgres.log"), os.path.join(pg, "initdb.log")]
    return paths


def install(config, shark_cls, cluster_cls):
    """Called from conftest's pytest_configure: hooks requests and the helpers."""
    global _rec
    if _rec is not None:
        return
    _rec = Recorder()
    send = requests.Session.send

    def recording_send(self, request, **kw):
        _rec.guarded(_rec.request, request)
        resp = send(self, request, **kw)
        # A streamed body is the test's to read: reading it here would release
        # the connection under it. Its headers still count.
        _rec.guarded(_rec.response, resp, body=not kw.get("stream"))
        return resp

    requests.Session.send = recording_send

    shark_cleanup = shark_cls.cleanup

    def cleanup_shark(self):
        self.kill()  # logs are complete once the process is gone
        _rec.guarded(_rec.save_logs, shark_logs(self))
        shark_cleanup(self)

    shark_cls.cleanup = cleanup_shark
    cluster_cleanup = cluster_cls.cleanup

    def cleanup_cluster(self):
        self.kill()
        _rec.guarded(_rec.save_logs, [self.logfile])
        cluster_cleanup(self)

    cluster_cls.cleanup = cleanup_cluster
    config.pluginmanager.register(Plugin(), "secret_guard")


class Plugin:
    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session, config, items):
        if os.environ.get("SHARK_SECRET_GUARD") != "1":
            return
        mod = pytest.Module.from_parent(session, path=pathlib.Path(__file__))
        items.extend(i for i in mod.collect() if i.name == "test_no_secret_in_server_logs")

    def pytest_unconfigure(self, config):
        if _rec is not None:
            shutil.rmtree(_rec.log_dir, ignore_errors=True)


def test_no_secret_in_server_logs():
    """Runs last (SHARK_SECRET_GUARD=1): every log of the run, every secret seen."""
    import conftest  # the servers still running have not been cleaned up yet
    for s in list(conftest._live_sharks):
        _rec.save_logs(shark_logs(s))
    for c in list(conftest._live_clusters):
        _rec.save_logs([c.logfile])
    assert not _rec.errors, "recording failed %d time(s), first: %s" % (len(_rec.errors),
                                                                         _rec.errors[0])
    assert _rec.pieces, "no secret was recorded: the guard looked at nothing"
    leaks, files, nbytes = _rec.scan()
    print("secret guard: %d secrets and %d passwords looked for in %d log files (%d bytes)"
          % (len(_rec.pieces), len(_rec.passwords), files, nbytes))
    assert files > 0 and nbytes > 0, "no server log was found: the guard looked at nothing"
    assert not leaks, "%d secret(s) found in server logs (%d files, %d bytes scanned):\n%s" % (
        len(leaks), files, nbytes,
        "\n".join("  %s: %s (%s)" % leak for leak in leaks[:50]))

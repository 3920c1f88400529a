"""`shark migrate` (--check, --dry-run), `shark serve --no-migrate`, and the
previous release's binary working on the new schema (issue 19, point 3).

The previous release is built from git history inside the test (git archive of
PREV_COMMIT, meson + ninja) and cached outside the repository by commit, so a
second run does not build it again.
"""
import os
import shutil
import subprocess
import tempfile

import pytest
import requests

from conftest import REPO, SHARK_BIN, Shark

# The main commit before this work: the release nodes run while a rolling
# upgrade replaces them.
PREV_COMMIT = os.environ.get("SHARK_PREV_COMMIT", "67b8edb")
CACHE = os.environ.get("SHARK_TOOLS", "/var/cache/shark-tools")


def migrate(*args, env=None, timeout=120):
    e = {k: v for k, v in os.environ.items() if not k.startswith("SHARK_")}
    e.update(env or {})
    return subprocess.run([SHARK_BIN, "migrate", *args], capture_output=True, text=True,
                          timeout=timeout, env=e, stdin=subprocess.DEVNULL)


def tables(cluster, db):
    return cluster.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", db).strip()


def latest_version():
    names = [f for f in os.listdir(os.path.join(REPO, "store", "migrations")) if f.endswith(".sql")]
    return max(int(n.split("_")[0]) for n in names)


def test_check_dry_run_apply(pg_cluster):
    pg_cluster.psql("CREATE DATABASE mig1")
    ci = pg_cluster.conninfo("mig1")
    n = len([f for f in os.listdir(os.path.join(REPO, "store", "migrations"))
             if f.endswith(".sql")])

    r = migrate("--check", "--db", ci)
    assert r.returncode == 1, r.stderr
    assert len([l for l in r.stdout.splitlines() if l.startswith("pending ")]) == n, r.stdout
    assert "pending 0001 0001_init" in r.stdout
    assert tables(pg_cluster, "mig1") == "0", "--check changed the database"

    r = migrate("--dry-run", "--db", ci)
    assert r.returncode == 0, r.stderr
    assert len([l for l in r.stdout.splitlines() if l.startswith("would apply ")]) == n
    assert "rolled back; nothing changed" in r.stdout
    assert tables(pg_cluster, "mig1") == "0", "--dry-run changed the database"

    r = migrate("--db", ci)
    assert r.returncode == 0, r.stderr
    assert len([l for l in r.stdout.splitlines() if l.startswith("applied ")]) == n
    got = pg_cluster.psql("SELECT max(version), count(*) FROM schema_migrations", "mig1").strip()
    assert got == "%d|%d" % (latest_version(), n)

    for args in (("--check",), ("--dry-run",), ()):
        r = migrate(*args, "--db", ci)
        assert r.returncode == 0, (args, r.stderr)
        assert "schema up to date (version %d)" % latest_version() in r.stdout, r.stdout
    # Through the environment as `shark serve` reads it.
    r = migrate("--check", env={"SHARK_DB": ci})
    assert r.returncode == 0 and "up to date" in r.stdout, r.stderr


def test_dry_run_reports_a_failing_migration_and_changes_nothing(pg_cluster):
    pg_cluster.psql("CREATE DATABASE mig2")
    ci = pg_cluster.conninfo("mig2")
    # A table in the way of the first migration (0001 creates admin_keys):
    # the dry run runs into it, says which migration, and leaves all as it was.
    pg_cluster.psql("CREATE TABLE admin_keys (id int, note text)", "mig2")
    r = migrate("--dry-run", "--db", ci)
    assert r.returncode == 1, r.stdout
    assert "migration 0001_init (dry run; rolled back)" in r.stderr, r.stderr
    assert "admin_keys" in r.stderr
    assert pg_cluster.psql("SELECT to_regclass('schema_migrations') IS NULL", "mig2").strip() == "t"
    assert tables(pg_cluster, "mig2") == "1"


def test_bad_arguments_and_unreachable_database():
    r = migrate("--nope")
    assert r.returncode == 2 and "unknown flag" in r.stderr
    r = migrate("--help")
    assert r.returncode == 0 and "--dry-run" in r.stdout
    r = migrate("--check", "--db", "host=/nonexistent-socket-dir port=1 dbname=x user=x")
    assert r.returncode == 1
    assert "connecting to the database" in r.stderr


def test_serve_no_migrate(pg_cluster, shark_factory):
    pg_cluster.psql("CREATE DATABASE mig3")
    ci = pg_cluster.conninfo("mig3")
    mk = {"SHARK_MASTER_KEY": os.urandom(32).hex()}
    s = shark_factory(db=ci, env=mk, extra=["--no-migrate"])
    s.spawn()
    assert s.proc.wait(60) == 1
    assert "run `shark migrate` first" in s.stderr()
    assert tables(pg_cluster, "mig3") == "0"

    assert migrate("--db", ci).returncode == 0
    s = shark_factory(db=ci, env=mk, extra=["--no-migrate"])
    s.start()
    s.wait_ready(30)
    assert s.get("/readyz").json()["schema_version"] == latest_version()
    assert s.stop() == 0

    # A newer shark migrated past this one (a rolling upgrade): --no-migrate
    # serves on it and is ready; migrating it with this binary is refused.
    pg_cluster.psql("INSERT INTO schema_migrations (version, name) VALUES (999999, 'future')",
                    "mig3")
    s = shark_factory(db=ci, env=mk, extra=["--no-migrate"])
    s.start()
    s.wait_ready(30)
    assert s.get("/readyz").json()["schema_version"] == 999999
    assert s.stop() == 0
    r = migrate("--db", ci)
    assert r.returncode == 1 and "999999" in r.stderr, r.stderr
    r = migrate("--check", "--db", ci)
    assert r.returncode == 0 and "newer than this shark" in r.stdout, r.stdout


def test_migrate_the_embedded_database(shark_factory):
    s = shark_factory()
    r = migrate("--data-dir", s.data_dir)
    assert r.returncode == 0, r.stderr
    assert "applied 0001" in r.stdout
    s.extra.append("--no-migrate")
    s.start()
    s.wait_ready(60)
    # A running server holds the data directory: a second cluster must not start.
    r = migrate("--check", "--data-dir", s.data_dir)
    assert r.returncode == 1 and "in use by another shark process" in r.stderr
    assert s.stop() == 0


def previous_binary():
    """The shark of PREV_COMMIT, built once per commit into the tools cache."""
    sha = subprocess.run(["git", "-C", REPO, "rev-parse", PREV_COMMIT], capture_output=True,
                         text=True, check=True).stdout.strip()
    cache = CACHE if os.access(os.path.dirname(CACHE) or "/", os.W_OK) else \
        os.path.join(os.path.expanduser("~"), ".cache", "shark-tools")
    out = os.path.join(cache, "prev-" + sha, "shark")
    if os.access(out, os.X_OK):
        return out
    src = tempfile.mkdtemp(prefix="shark-prev-")
    try:
        archive = subprocess.Popen(["git", "-C", REPO, "archive", sha], stdout=subprocess.PIPE)
        subprocess.run(["tar", "-x", "-C", src], stdin=archive.stdout, check=True)
        assert archive.wait() == 0
        # The llhttp subproject is vendored; nothing is downloaded.
        subprocess.run(["meson", "setup", "build", "--buildtype=debugoptimized"], cwd=src,
                       check=True, capture_output=True, timeout=300)
        subprocess.run(["nice", "-n", "10", "ninja", "-C", "build", "shark"], cwd=src,
                       check=True, capture_output=True, timeout=900)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        shutil.copy2(os.path.join(src, "build", "shark"), out + ".tmp")
        os.rename(out + ".tmp", out)
    finally:
        shutil.rmtree(src, ignore_errors=True)
    return out


def cc(s, name):
    r = requests.post(s.url("/oauth/register"), timeout=15, headers=s.auth(), json={
        "client_name": name, "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "client_secret_basic", "scope": "mcp:read"})
    assert r.status_code == 201, r.text
    return r.json()["client_id"], r.json()["client_secret"]


def issue(s, auth):
    r = requests.post(s.url("/oauth/token"), auth=auth, timeout=15,
                      data={"grant_type": "client_credentials"})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def introspect(s, auth, tok):
    r = requests.post(s.url("/oauth/introspect"), auth=auth, timeout=15, data={"token": tok})
    assert r.status_code == 200, r.text
    return r.json()["active"]


def revoke(s, auth, tok):
    r = requests.post(s.url("/oauth/revoke"), auth=auth, timeout=15, data={"token": tok})
    assert r.status_code == 200, r.text


def test_previous_release_keeps_working_on_the_new_schema(pg_cluster, shark_factory):
    """A rolling upgrade: old nodes serve while `shark migrate` moves the
    schema on, then new nodes (--no-migrate) join; both see each other's
    tokens and revocations."""
    old_bin = previous_binary()
    pg_cluster.psql("CREATE DATABASE roll")
    ci = pg_cluster.conninfo("roll")
    mk = {"SHARK_MASTER_KEY": os.urandom(32).hex()}

    class OldShark(Shark):
        def args(self):
            return [old_bin] + super().args()[1:]

    # One issuer for both, as behind one load balancer.
    iss = ["--issuer", "http://auth.shark.test"]
    old = OldShark(db=ci, env=mk, extra=iss)
    old.start()
    old.wait_ready(60)
    old_version = old.get("/readyz").json()["schema_version"]
    auth = cc(old, "rolling")
    t_old = issue(old, auth)

    r = migrate("--db", ci)
    assert r.returncode == 0, r.stderr
    assert latest_version() >= old_version

    new = shark_factory(db=ci, env=mk, extra=iss + ["--no-migrate"])
    # The first-boot key file is the old node's; both read the same admin key.
    os.makedirs(new.data_dir, exist_ok=True)
    shutil.copy(old.key_file, new.key_file)
    new.start()
    new.wait_ready(30)

    # The old binary on the new schema: issue, introspect, revoke, list.
    t_old2 = issue(old, auth)
    assert introspect(old, auth, t_old2)
    t_new = issue(new, auth)
    for s in (old, new):
        for t in (t_old, t_old2, t_new):
            assert introspect(s, auth, t), (s, t)
    revoke(old, auth, t_new)
    revoke(new, auth, t_old)
    for s in (old, new):
        assert not introspect(s, auth, t_new)
        assert not introspect(s, auth, t_old)
        assert introspect(s, auth, t_old2)
    for s in (old, new):
        r = s.get("/api/v1/audit-logs", admin=True)
        assert r.status_code == 200, r.text
        r = s.get("/api/v1/agents", admin=True)
        assert r.status_code == 200, r.text
    # Admin writes from the old release are read by the new one.
    r = old.request("POST", "/api/v1/apps", admin=True,
                    json={"name": "old-release app", "scopes": ["mcp:read"]})
    assert r.status_code == 201, r.text
    app_id = r.json()["id"]
    r = old.request("POST", "/api/v1/agents", admin=True,
                    json={"app_id": app_id, "name": "old-release agent", "scopes": ["mcp:read"]})
    assert r.status_code == 201, r.text
    listed = new.get("/api/v1/agents", admin=True).text
    assert "old-release agent" in listed, listed
    assert old.proc.poll() is None and new.proc.poll() is None
    assert old.stop() == 0
    assert new.stop() == 0
    old.cleanup()

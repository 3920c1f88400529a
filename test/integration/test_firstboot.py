"""First boot: admin key banner and file, firstboot endpoint, hash-only storage,
master key, restart keeps state."""
import hashlib
import os
import re
import socket
import stat
import subprocess

import pytest
import requests

from conftest import Shark, KEY_RE, RawConn, http_req, assert_api_error

# The tests in this module run in file order against one installation.


@pytest.fixture(scope="module")
def fb():
    s = Shark()
    s.start()
    yield s
    s.cleanup()


def non_loopback_ip():
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect(("10.255.255.255", 1))
        ip = s.getsockname()[0]
        s.close()
        if not ip.startswith("127."):
            return ip
    except OSError:
        pass
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True).stdout.split()
        for ip in out:
            if "." in ip and not ip.startswith("127."):
                return ip
    except OSError:
        pass
    return None


def test_key_file_mode_and_format(fb):
    st = os.stat(fb.key_file)
    assert stat.S_IMODE(st.st_mode) == 0o600
    with open(fb.key_file) as f:
        text = f.read()
    assert KEY_RE.fullmatch(text.strip()), text
    assert text.strip().count("sk_live_") == 1


def test_banner_on_stdout_contains_key(fb):
    out = fb.stdout()
    keys = KEY_RE.findall(out)
    assert keys == [fb.admin_key], out
    # The key is exactly 43 base62 chars after the prefix, not a longer token.
    m = re.search(r"sk_live_([0-9A-Za-z]+)", out)
    assert len(m.group(1)) == 43


def test_key_never_in_stderr(fb):
    assert fb.admin_key not in fb.stderr()
    assert fb.admin_key[8:] not in fb.stderr()


def test_master_key_file(fb):
    p = os.path.join(fb.data_dir, "master.key")
    st = os.stat(p)
    assert stat.S_IMODE(st.st_mode) == 0o600
    with open(p) as f:
        assert re.fullmatch(r"[0-9a-f]{64}", f.read().strip(), re.I)


def test_data_dir_mode(fb):
    assert stat.S_IMODE(os.stat(fb.data_dir).st_mode) == 0o711


def test_firstboot_endpoint_from_loopback(fb):
    r = fb.get("/api/v1/admin/firstboot/key")
    assert r.status_code == 200
    assert r.json() == {"admin_key": fb.admin_key}
    assert r.headers.get("Cache-Control") == "no-store"
    # Still available while the key has not been used.
    assert fb.get("/api/v1/admin/firstboot/key").status_code == 200


def test_firstboot_endpoint_refused_when_proxied(fb):
    # A loopback peer carrying X-Forwarded-For is a local reverse proxy relaying a
    # remote client: the key is not revealed.
    r = fb.get("/api/v1/admin/firstboot/key", headers={"X-Forwarded-For": "203.0.113.9"})
    assert r.status_code == 404
    assert fb.admin_key not in r.text
    assert fb.get("/api/v1/admin/firstboot/key").status_code == 200


def test_firstboot_endpoint_refused_from_non_loopback(shark_factory):
    ip = non_loopback_ip()
    if ip is None:
        pytest.skip("no non-loopback address on this host")
    s = shark_factory(listen_host="0.0.0.0")
    s.start()
    r = requests.get("http://%s:%d/api/v1/admin/firstboot/key" % (ip, s.port), timeout=10,
                     headers={"X-Forwarded-For": "127.0.0.1"})
    # the route does not exist for a remote peer, forwarded header or not
    assert r.status_code == 404, r.text
    assert_api_error(r.json(), "not_found")
    assert "admin_key" not in r.text
    assert s.admin_key not in r.text
    # Loopback still works on that server.
    assert requests.get(s.url("/api/v1/admin/firstboot/key"), timeout=10).status_code == 200


def test_failed_admin_attempt_does_not_burn_firstboot(fb):
    r = fb.get("/api/v1/system/health", headers={"Authorization": "Bearer sk_live_" + "Q" * 43})
    assert r.status_code == 401
    assert fb.get("/api/v1/admin/firstboot/key").status_code == 200


def test_firstboot_endpoint_404_after_first_admin_use(fb):
    r = fb.get("/api/v1/system/health", admin=True)
    assert r.status_code == 200
    r = fb.get("/api/v1/admin/firstboot/key")
    assert r.status_code == 404
    assert_api_error(r.json(), "not_found")
    assert fb.admin_key not in r.text


def test_only_hash_stored(fb):
    key = fb.admin_key
    h = hashlib.sha256(key.encode()).hexdigest()
    rows = fb.psql("select key_hash from admin_keys").split()
    assert rows == [h]
    ci = "host=%s dbname=shark user=shark" % fb.pg_socket_dir
    dump = subprocess.run(["pg_dump", "--data-only", ci], capture_output=True, text=True,
                          timeout=60, env=fb.pg_env())
    assert dump.returncode == 0, dump.stderr
    assert h in dump.stdout
    assert key not in dump.stdout
    assert key[8:] not in dump.stdout
    full = subprocess.run(["pg_dump", ci], capture_output=True, text=True, timeout=60,
                          env=fb.pg_env())
    assert full.returncode == 0
    assert key[8:] not in full.stdout


def test_first_boot_audit_event(fb):
    out = fb.psql("select event from audit_events order by created_at").split()
    assert out.count("system.first_boot") == 1
    assert out.count("system.started") == 1


def test_restart_keeps_key_and_data_no_second_banner(fb):
    key = fb.admin_key
    with open(os.path.join(fb.data_dir, "master.key")) as f:
        master = f.read()
    before = fb.psql("select key_hash, created_at from admin_keys")
    fb.restart()
    assert KEY_RE.search(fb.stdout()) is None, fb.stdout()
    assert "first boot" not in fb.stdout().lower()
    with open(os.path.join(fb.data_dir, "master.key")) as f:
        assert f.read() == master
    assert fb.psql("select key_hash, created_at from admin_keys") == before
    r = fb.get("/api/v1/system/health", headers={"Authorization": "Bearer " + key})
    assert r.status_code == 200
    # Still consumed after restart.
    assert fb.get("/api/v1/admin/firstboot/key").status_code == 404
    events = fb.psql("select event from audit_events").split()
    assert events.count("system.first_boot") == 1
    assert events.count("system.started") == 2


def test_restart_firstboot_not_yet_consumed_still_available(shark_factory):
    s = shark_factory()
    s.start()
    key = s.admin_key
    s.restart()
    r = s.get("/api/v1/admin/firstboot/key")
    # Unused key survives a restart: still retrievable from loopback.
    assert r.status_code == 200 and r.json() == {"admin_key": key}

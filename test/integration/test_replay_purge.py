"""Expired DPoP replay keys are purged every second, in chunks, whatever the
backlog (migration 0016, protocol/oauth.c upkeep); live ones stay."""
import time

import pytest

from conftest import Shark


@pytest.fixture(scope="module")
def node():
    s = Shark()
    s.start()
    yield s
    s.cleanup()


def count(node, where):
    return int(node.psql(f"SELECT count(*) FROM oauth_replay WHERE {where}").strip())


def test_a_backlog_larger_than_one_chunk_is_purged_and_live_keys_stay(node):
    # SQL: a backlog of 25,000 already-expired keys cannot be made through the
    # token endpoint without waiting out each proof's lifetime.
    node.psql("INSERT INTO oauth_replay (key, expires_at) "
              "SELECT 'dpop:purge-test:' || g, now() - interval '1 minute' "
              "FROM generate_series(1, 25000) g")
    node.psql("INSERT INTO oauth_replay (key, expires_at) "
              "SELECT 'dpop:live-test:' || g, now() + interval '1 hour' "
              "FROM generate_series(1, 50) g")
    deadline = time.time() + 20
    while time.time() < deadline and count(node, "key LIKE 'dpop:purge-test:%'") > 0:
        time.sleep(0.5)
    assert count(node, "key LIKE 'dpop:purge-test:%'") == 0
    assert count(node, "key LIKE 'dpop:live-test:%'") == 50

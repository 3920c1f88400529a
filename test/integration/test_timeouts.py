"""--request-timeout (408) and --idle-timeout (silent close)."""
import time

import pytest

from conftest import Shark, RawConn, http_req, assert_api_error


@pytest.fixture(scope="module")
def fast():
    s = Shark(extra=["--request-timeout", "1", "--idle-timeout", "1"])
    s.start()
    yield s
    s.cleanup()


def test_408_half_request(fast):
    c = RawConn(fast.port)
    try:
        c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        t0 = time.time()
        c.settimeout(6)
        r = c.read_response()
        el = time.time() - t0
        assert r.status == 408
        assert_api_error(r.json(), "request_timeout")
        assert 0.5 <= el <= 4, el
        assert c.is_closed(3)
    finally:
        c.close()


def test_408_body_incomplete(fast):
    c = RawConn(fast.port)
    try:
        c.send(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n12345")
        c.settimeout(6)
        r = c.read_response()
        assert r.status == 408
        assert c.is_closed(3)
    finally:
        c.close()


def test_408_slowloris_trickle(fast):
    """The timeout covers the whole request, not each read."""
    c = RawConn(fast.port)
    t0 = time.time()
    try:
        data = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 40
        got408 = False
        for i in range(len(data)):
            try:
                c.send(data[i:i + 1])
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.1)
            if time.time() - t0 > 5:
                break
        c.settimeout(5)
        try:
            r = c.read_response()
            got408 = r.status == 408
        except (EOFError, ConnectionResetError):
            got408 = c.buf.startswith(b"HTTP/1.1 408")
        assert got408, c.buf[:100]
        assert time.time() - t0 < 4.5
    finally:
        c.close()


def test_idle_keepalive_closed_silently(fast):
    c = RawConn(fast.port)
    try:
        c.send(http_req("GET", "/healthz"))
        assert c.read_response().status == 200
        t0 = time.time()
        c.settimeout(6)
        data = c.sock.recv(100)
        assert data == b"", data
        assert 0.5 <= time.time() - t0 <= 4
    finally:
        c.close()


def test_keepalive_within_idle_timeout_survives(fast):
    c = RawConn(fast.port)
    try:
        for _ in range(4):
            c.send(http_req("GET", "/healthz"))
            assert c.read_response().status == 200
            time.sleep(0.4)
    finally:
        c.close()


def test_fresh_connection_without_bytes_closed(fast):
    c = RawConn(fast.port)
    try:
        c.settimeout(6)
        t0 = time.time()
        data = b""
        try:
            while True:
                chunk = c.sock.recv(4096)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
        assert time.time() - t0 <= 4
        # Either a silent close or a 408; never a hang.
        assert data == b"" or data.startswith(b"HTTP/1.1 408")
    finally:
        c.close()


def test_default_timeouts_keep_slow_client_alive(shark):
    # The shared server uses the 10 s default: 2 s of slowness is fine.
    c = RawConn(shark.port)
    try:
        c.send(b"GET /healthz HTTP/1.1\r\n")
        time.sleep(2)
        c.send(b"Host: x\r\n\r\n")
        assert c.read_response().status == 200
    finally:
        c.close()

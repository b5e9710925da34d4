"""--idle-timeout closes quiet connections silently; --request-timeout answers 408 to slow requests."""

import socket
import time

import pytest

from harness import Reader

FLAGS = ("--idle-timeout", "0.3", "--request-timeout", "0.5")


@pytest.fixture
def quick(fresh_server):
    return fresh_server(*FLAGS)


def seconds_until_eof(sock, start, limit=6.0):
    """Waits for EOF (or a reset), failing if any byte arrives; returns seconds since start."""
    sock.settimeout(limit)
    try:
        data = sock.recv(1)
    except ConnectionResetError:
        data = b""
    except socket.timeout:
        pytest.fail(f"still open after {limit} s")
    assert data == b"", f"the server sent {data!r} on an idle connection"
    return time.monotonic() - start


def test_idle_connection_is_closed_silently(quick):
    with quick.connect() as sock:
        start = time.monotonic()
        elapsed = seconds_until_eof(sock, start)
    assert 0.2 <= elapsed <= 4.0, elapsed


def test_idle_connection_after_a_response_is_closed_silently(quick):
    with quick.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = Reader(sock)
        assert reader.read().status == 200
        start = time.monotonic()
        assert reader.buffer == b""
        elapsed = seconds_until_eof(sock, start)
    assert 0.2 <= elapsed <= 4.0, elapsed


def test_idle_timeout_still_applies_after_a_handler_that_outlasted_it(quick):
    """A handler that runs past the connection's idle deadline (here /sleep for 0.8 s against a
    0.3 s idle timeout) must not leave the connection without one: once answered and idle, it is
    closed silently like any other. (A model that drops a deadline that came due while a worker
    held the connection, and then never schedules the next one, keeps it open for ever.)"""
    with quick.connect() as sock:
        sock.sendall(b"GET /sleep?ms=800 HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = Reader(sock)
        assert reader.read().status == 200
        start = time.monotonic()
        elapsed = seconds_until_eof(sock, start)
    assert 0.2 <= elapsed <= 4.0, elapsed


def expect_408(sock, start):
    reader = Reader(sock)
    response = reader.read()
    elapsed = time.monotonic() - start
    assert response.status == 408, response
    assert response.header("Connection") == "close"
    assert response.body == b"408 Request Timeout\nthe request did not arrive within the request timeout\n"
    assert reader.at_eof()
    return elapsed


@pytest.mark.parametrize(
    "partial",
    [b"GET / HTT", b"GET / HTTP/1.1\r\nHost: x\r\n",
     b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
     b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"],
    ids=["request-line", "headers", "body", "chunked-body"],
)
def test_half_sent_request_gets_408(quick, partial):
    with quick.connect() as sock:
        start = time.monotonic()
        sock.sendall(partial)
        elapsed = expect_408(sock, start)
    assert 0.35 <= elapsed <= 5.0, elapsed


def test_trickling_request_gets_408(quick):
    # A client that keeps sending a byte now and then must not extend the request's deadline.
    with quick.connect() as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start = time.monotonic()
        sock.sendall(b"GET / HTTP/1.1\r\n")
        sock.settimeout(0.1)
        deadline = start + 5.0
        got = b""
        while time.monotonic() < deadline:
            try:
                got = sock.recv(65536)
                break
            except socket.timeout:
                sock.sendall(b"X")
        assert got.startswith(b"HTTP/1.1 408 "), got
        elapsed = time.monotonic() - start
    assert 0.35 <= elapsed <= 5.0, elapsed


def test_half_sent_request_after_a_response_gets_408(quick):
    with quick.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert Reader(sock).read().status == 200
        start = time.monotonic()
        sock.sendall(b"GET / HTTP/1.1\r\n")
        elapsed = expect_408(sock, start)
    assert 0.35 <= elapsed <= 5.0, elapsed


def test_busy_connection_outlives_both_timeouts(quick):
    # Requests every 0.1 s for 0.8 s: longer than both timeouts, but never idle for 0.3 s and no
    # request takes 0.5 s, so the connection stays up.
    with quick.connect() as sock:
        reader = Reader(sock)
        start = time.monotonic()
        count = 0
        while time.monotonic() - start < 0.8:
            sock.sendall(b"GET /echo?i=%d HTTP/1.1\r\nHost: x\r\n\r\n" % count)
            response = reader.read()
            assert response.status == 200, response
            assert response.body.startswith(b"GET /echo?i=%d " % count)
            assert response.header("Connection") is None
            count += 1
            time.sleep(0.1)
        assert count >= 5


def test_slow_request_within_the_timeout_is_answered(quick):
    # Half a request, a pause shorter than the request timeout, then the rest.
    with quick.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n")
        time.sleep(0.2)
        sock.sendall(b"Host: x\r\n\r\n")
        response = Reader(sock).read()
    assert (response.status, response.body) == (200, b"Hello, World!")


def test_default_idle_timeout_is_longer_than_one_second(fresh_server):
    # With the defaults (5 s idle), a connection idle for 1 s is still served.
    srv = fresh_server()
    with srv.connect() as sock:
        sock.settimeout(1.0)
        with pytest.raises(socket.timeout):
            sock.recv(1)
        sock.settimeout(5)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert Reader(sock).read().status == 200


def test_reader_that_stops_reading_is_dropped(fresh_server, tmp_path):
    # The request timeout also bounds a client that stops reading a response: the server gives
    # up on it (closes mid-body) rather than waiting forever. The file is far larger than any
    # socket buffers (sparse, so it costs no disk).
    size = 64 * 1024 * 1024
    with open(tmp_path / "huge.bin", "wb") as f:
        f.truncate(size)
    quick = fresh_server(*FLAGS, docroot=tmp_path)
    with quick.connect(rcvbuf=4096) as sock:
        sock.sendall(b"GET /static/huge.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(1.0)  # stall well past the 0.5 s timeout
        sock.settimeout(5)
        data = b""
        start = time.monotonic()
        try:
            while True:
                chunk = sock.recv(1 << 20)
                if not chunk:
                    break
                data += chunk
                assert time.monotonic() - start < 5, "the server kept sending to a stalled reader"
        except ConnectionResetError:
            pass
    assert data.startswith(b"HTTP/1.1 200 ")
    assert b"\r\nContent-Length: %d\r\n" % size in data[:1000]
    assert len(data) < size, "the whole file was sent to a reader that stalled"
    assert quick.alive()
    response = quick.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", timeout=5)
    assert response.status == 200


def test_a_request_that_waited_for_a_busy_loop_is_answered(chapter, fresh_server):
    """A deadline measures the client, not the server: a request that reached the server in time
    is answered even if the server was too busy to read it before the deadline passed. Here one
    loop (`--threads 1`) is kept busy by a /sleep while a new client connects and sends GET /; the
    event that announces it comes in one batch with a second /sleep that outlasts the new client's
    1 s idle timeout. A loop that expires the deadlines of that batch before it looks at the
    sockets closes the client with its request unread (a reset); a loop that blocks for nothing
    answers it at once, and the others when they get to it."""
    flags = ("--idle-timeout", "1", *(("--threads", "1") if "threads" in chapter.flags else ()))
    server = fresh_server(*flags)

    def sleep(ms):
        return f"GET /sleep?ms={ms} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()

    with server.connect() as first, server.connect() as busy:
        time.sleep(0.1)  # both accepted and idle
        busy.sendall(sleep(500))  # the loop sleeps for 0.5 s
        time.sleep(0.1)
        with server.connect(timeout=10) as late:
            late.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # arrives in time
            time.sleep(0.05)
            first.sendall(sleep(2000))  # ready in the same batch as the late client, after it
            try:
                response = Reader(late).read()
            except (ConnectionResetError, ValueError, AssertionError) as e:
                pytest.fail(f"a client whose GET / arrived while the loop was busy was dropped ({e!r})")
            assert response.status == 200, response

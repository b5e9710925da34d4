"""Clients that misbehave at the socket level: resets, slow readers, half-closes, and leaks."""

import random
import socket
import struct
import time

from harness import Reader, fd_count

HELLO = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
BIG = b"GET /static/big.bin HTTP/1.1\r\nHost: x\r\n\r\n"


def reset(sock):
    """Closes with SO_LINGER 0: the kernel sends RST instead of FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def assert_serves(srv):
    response = srv.request(HELLO, timeout=5)
    assert (response.status, response.body) == (200, b"Hello, World!")
    assert srv.alive()


def test_reset_during_big_response(server):
    sock = server.connect(rcvbuf=4096)
    try:
        sock.sendall(BIG)
        got = sock.recv(4096)
        assert got.startswith(b"HTTP/1.1 200 ")
    finally:
        reset(sock)
    assert_serves(server)


def test_reset_mid_request(server):
    sock = server.connect()
    sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
    reset(sock)
    assert_serves(server)


def test_close_during_sleep(server):
    sock = server.connect()
    sock.sendall(b"GET /sleep?ms=200 HTTP/1.1\r\nHost: x\r\n\r\n")
    sock.close()
    assert_serves(server)


def test_garbage_is_400_and_server_survives(server):
    rng = random.Random(1234)
    garbage = bytes(rng.randrange(256) for _ in range(4096))
    with server.connect() as sock:
        try:
            sock.sendall(garbage + b"\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        reader = Reader(sock)
        response = reader.read()
        assert response.status in (400, 414, 431)
        assert response.header("Connection") == "close"
    assert_serves(server)


def test_slow_reader_gets_big_file_exactly(server, big_file):
    start = time.monotonic()
    with server.connect(rcvbuf=4096) as sock:
        sock.sendall(BIG)
        data = bytearray()
        pieces = 0
        while True:
            chunk = sock.recv(2048)
            if not chunk:
                break
            data += chunk
            pieces += 1
            if pieces % 8 == 0:
                time.sleep(0.002)  # a reader that pauses now and then
            if b"\r\n\r\n" in data:
                head_end = data.index(b"\r\n\r\n") + 4
                if len(data) - head_end >= len(big_file):
                    break
    head, body = bytes(data[:head_end]), bytes(data[head_end:])
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"\r\nContent-Length: %d\r\n" % len(big_file) in head
    assert body == big_file
    assert time.monotonic() - start < 10


def test_half_close_still_gets_the_response(server):
    with server.connect() as sock:
        sock.sendall(HELLO)
        sock.shutdown(socket.SHUT_WR)
        reader = Reader(sock)
        response = reader.read()
        assert (response.status, response.body) == (200, b"Hello, World!")
        assert reader.at_eof()


def test_half_close_after_pipelined_requests_answers_them_all(server, big_file):
    with server.connect() as sock:
        sock.sendall(HELLO + b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc" + BIG)
        sock.shutdown(socket.SHUT_WR)
        reader = Reader(sock)
        assert reader.read().body == b"Hello, World!"
        assert reader.read().body == b"abc"
        assert reader.read().body == big_file
        assert reader.at_eof()


def test_half_close_mid_request_closes_without_answer(server):
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost:")
        sock.shutdown(socket.SHUT_WR)
        assert Reader(sock).at_eof()
    assert_serves(server)


def one_connection(srv, kind):
    """One of several ways to use, and abuse, a connection."""
    if kind == 0:  # a normal request, then close
        with srv.connect(timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert Reader(sock).read().status == 200
    elif kind == 1:  # connect and close without a byte
        srv.connect(timeout=5).close()
    elif kind == 2:  # a malformed request
        with srv.connect(timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost : x\r\n\r\n")
            reader = Reader(sock)
            assert reader.read().status == 400
            assert reader.at_eof()
    elif kind == 3:  # a static file (the server opens a descriptor for it), keep-alive, then close
        with srv.connect(timeout=5) as sock:
            sock.sendall(b"GET /static/index.html HTTP/1.1\r\nHost: x\r\n\r\n")
            assert Reader(sock).read().status == 200
    elif kind == 4:  # a reset in the middle of a request
        sock = srv.connect(timeout=5)
        sock.sendall(b"GET / HTTP/1.1\r\n")
        reset(sock)
    elif kind == 5:  # a reset in the middle of a file being sent
        sock = srv.connect(timeout=5, rcvbuf=4096)
        try:
            sock.sendall(BIG)
            assert sock.recv(1024)
        finally:
            reset(sock)
    elif kind == 6:  # half a request, then a plain close
        with srv.connect(timeout=5) as sock:
            sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab")
    elif kind == 7:  # half-close after a request
        with srv.connect(timeout=5) as sock:
            sock.sendall(HELLO)
            sock.shutdown(socket.SHUT_WR)
            reader = Reader(sock)
            assert reader.read().status == 200
            assert reader.at_eof()
    elif kind == 8:  # a missing static file and a 413
        with srv.connect(timeout=5) as sock:
            sock.sendall(b"GET /static/nope HTTP/1.1\r\nHost: x\r\n\r\n"
                         b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 9999999\r\n\r\n")
            reader = Reader(sock)
            assert reader.read().status == 404
            assert reader.read().status == 413


def settle(pid, expected, limit=3.0):
    """Polls the descriptor count until it equals expected or limit seconds pass; returns it."""
    deadline = time.monotonic() + limit
    count = fd_count(pid)
    while count != expected and time.monotonic() < deadline:
        time.sleep(0.05)
        count = fd_count(pid)
    return count


def test_no_descriptor_leak(fresh_server):
    srv = fresh_server()
    for kind in range(9):  # warm up: anything opened lazily is open now
        one_connection(srv, kind)
    assert_serves(srv)
    before = settle(srv.pid, -1, limit=0.3)  # let the last connection's close land
    before = settle(srv.pid, before)
    for i in range(50):
        one_connection(srv, i % 9)
    assert_serves(srv)
    after = settle(srv.pid, before)
    assert after == before, f"{before} descriptors before 50 connections, {after} after"

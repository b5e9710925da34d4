"""Clients that misbehave at the socket level: resets, slow readers, half-closes, and leaks."""

import random
import select
import socket
import struct
import time

from harness import Reader, child_pids, fd_count, stable_fd_count

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


def test_half_close_after_more_pipelined_requests_than_the_output_cap_answers_them_all(server):
    """60,000 pipelined GET / (1.6 MiB, more than one read takes) and then the client's FIN: every
    one is answered (about 8 MiB, several times the output cap) before the server closes. A
    server that asks what to do next while requests it stopped answering at the cap are still in
    hand, and has seen the end of the stream, closes with them unanswered."""
    count = 60_000
    with server.connect(timeout=5, rcvbuf=4 << 20) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * count)
        sock.shutdown(socket.SHUT_WR)
        reader = Reader(sock)
        first = reader.read()
        assert first.body == b"Hello, World!"
        data = len(reader.buffer)
        while True:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            data += len(chunk)
    assert data == len(first.raw) * (count - 1), (
        f"{data // len(first.raw) + 1} of {count} answers before the close")


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


# --- resets at any point of a big response, and readers that are slow or stop -----------------

def read_at_least(sock, count, limit=10.0):
    """Reads until count bytes have arrived (or the peer closes); returns how many did."""
    deadline = time.monotonic() + limit
    got = 0
    while got < count and time.monotonic() < deadline:
        chunk = sock.recv(min(65536, count - got))
        if not chunk:
            break
        got += len(chunk)
    return got


def test_resets_all_along_a_big_response_leak_nothing(chapter, fresh_server, big_file):
    """RST after 64 KiB, 1, 2 and almost 4 MiB of big.bin, and in the middle of eight pipelined
    copies of it: the server keeps serving, a keep-alive client of a concurrent model is served
    throughout, and no descriptor (the file's included) is left open."""
    srv = fresh_server()
    keeper = None
    if chapter.caps["concurrent"]:
        keeper = srv.connect(timeout=5)
        keeper.sendall(HELLO)
        keeper_reader = Reader(keeper)
        assert keeper_reader.read().status == 200
    with srv.connect() as sock:  # a whole big.bin first: anything opened lazily is open now
        sock.sendall(BIG)
        assert Reader(sock).read().body == big_file
    baseline = stable_fd_count(srv.pid)
    deliveries = [(BIG, n) for n in (64 * 1024, 1024 * 1024, 2 * 1024 * 1024, len(big_file) - 64 * 1024)]
    deliveries.append((BIG * 8, 12 * 1024 * 1024 + 100))  # inside the fourth of eight responses
    for raw, offset in deliveries:
        sock = srv.connect(rcvbuf=65536)
        try:
            sock.sendall(raw)
            assert read_at_least(sock, offset) == offset, f"the response ended before byte {offset}"
        finally:
            reset(sock)
        assert_serves(srv)
        if keeper is not None:
            keeper.sendall(HELLO)
            assert keeper_reader.read().body == b"Hello, World!"
    after = settle(srv.pid, baseline, limit=5.0)
    assert after == baseline, f"{baseline} descriptors before the resets, {after} after"
    if keeper is not None:
        keeper.close()


def test_slow_steady_reader_outlasts_the_request_timeout(fresh_server, big_file):
    """--request-timeout bounds a client that stops reading, not one that reads slowly: a reader
    taking several times the timeout for big.bin, never pausing long, gets every byte."""
    srv = fresh_server("--request-timeout", "0.5")
    start = time.monotonic()
    with srv.connect(rcvbuf=16384, timeout=5) as sock:
        sock.sendall(BIG)
        data = bytearray()
        expected = None
        while time.monotonic() - start < 30:
            chunk = sock.recv(16384)
            if not chunk:
                break
            data += chunk
            if expected is None and b"\r\n\r\n" in data:
                expected = data.index(b"\r\n\r\n") + 4 + len(big_file)
            if expected is not None and len(data) >= expected:
                break
            time.sleep(0.003)  # under 6 MB/s: 4 MiB take half as long again as the 0.5 s timeout
    took = time.monotonic() - start
    head_end = data.index(b"\r\n\r\n") + 4
    assert data.startswith(b"HTTP/1.1 200 ")
    assert bytes(data[head_end:]) == big_file, f"{len(data) - head_end} of {len(big_file)} bytes in {took:.1f} s"
    assert took > 0.6, f"the read took only {took:.2f} s: not slow enough to test anything"
    assert_serves(srv)


# --- a client that sends and never reads -----------------------------------------------------

FLOOD = 64 * 1024 * 1024  # bytes of pipelined requests the client tries to push
FLOOD_PUSHED_MAX = 24 * 1024 * 1024  # more than every socket buffer on the way could hold
FLOOD_FILES_MAX = 32  # open descriptors beyond the baseline: a few answers in flight, not 300


def total_fd_count(pid):
    """Descriptors of a server and its children (the forking model serves in a child)."""
    total = fd_count(pid)
    for child in child_pids(pid):
        try:
            total += fd_count(child)
        except OSError:
            continue  # exited while we looked
    return total


def push_until_stalled(sock, data, stall=0.75, limit=20.0):
    """Sends data without blocking until it is all sent or no byte has left for `stall` seconds;
    returns how many bytes the kernel took."""
    sock.setblocking(False)
    sent, last_progress, start = 0, time.monotonic(), time.monotonic()
    view = memoryview(data)
    while sent < len(data) and time.monotonic() - last_progress < stall and time.monotonic() - start < limit:
        select.select([], [sock], [], 0.1)
        try:
            n = sock.send(view[sent : sent + 1024 * 1024])
        except BlockingIOError:
            continue
        sent += n
        last_progress = time.monotonic()
    return sent


def test_client_that_never_reads_is_held_back(chapter, fresh_server):
    """A client pipelines 64 MiB of requests for big.bin and reads nothing. Its answers cannot
    leave, so the server must stop taking its requests (an event loop caps a connection's unsent
    output and stops reading it; a blocking server sits in send()), and TCP flow control then
    stops the client: the kernel takes only what the socket buffers hold. The server neither
    buffers the flood nor opens big.bin for every request in it, and keeps serving others. Once
    the client resets, every descriptor it cost is released."""
    srv = fresh_server()
    assert_serves(srv)
    baseline = stable_fd_count(srv.pid)
    sock = srv.connect(rcvbuf=65536)
    try:
        pushed = push_until_stalled(sock, BIG * (FLOOD // len(BIG)))
        held = total_fd_count(srv.pid) - baseline
        print(f"{chapter.id}: the server took {pushed / 2**20:.1f} MiB of requests it could not answer; "
              f"{held} descriptors more than before")
        assert pushed < FLOOD_PUSHED_MAX, f"the server kept reading: {pushed / 2**20:.1f} MiB taken from a client that never reads"
        assert held < FLOOD_FILES_MAX, f"{held} descriptors held for one client that never reads"
        if chapter.caps["concurrent"]:
            assert_serves(srv)
    finally:
        reset(sock)
    assert_serves(srv)
    after = settle(srv.pid, baseline, limit=5.0)
    assert after == baseline, f"{baseline} descriptors before the flood, {after} after"

"""Processes and descriptors: what a server leaves behind after serving, and at shutdown.

Every chapter runs these. A single-process model passes the zombie checks trivially; a forking
model must reap its children, close the parent's copy of each client descriptor, honour
--max-clients, and take its children down with it on SIGTERM.
"""

import signal
import subprocess
import threading
import time

from harness import Reader, child_pids, fd_count, wait_until, zombies

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
CLOSE = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def _state(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0]


def sequential_requests(server, count):
    for _ in range(count):
        response = server.request(CLOSE)
        assert response.status == 200


def test_no_zombies(chapter, fresh_server):
    """After 200 sequential connections, no child of the server stays a zombie."""
    server = fresh_server()
    sequential_requests(server, 200)
    assert wait_until(lambda: not zombies(server.pid), 3.0), f"zombies left: {zombies(server.pid)}"


def test_no_descriptor_leak(chapter, fresh_server):
    """After 100 connections the server process holds as many descriptors as before them."""
    server = fresh_server()
    sequential_requests(server, 1)  # anything opened lazily on first use is part of the baseline
    baseline = fd_count(server.pid)
    sequential_requests(server, 100)
    settled = wait_until(lambda: fd_count(server.pid) <= baseline, 3.0)
    assert settled, f"{fd_count(server.pid)} descriptors open, {baseline} before the connections"


def answered_within(sock, seconds):
    """The response read from sock within seconds, or None."""
    sock.settimeout(seconds)
    try:
        return Reader(sock).read()
    except OSError:  # a timeout, or the connection closed or reset without an answer
        return None


def test_max_clients_cap(chapter, fresh_server):
    """With --max-clients 2, a third client waits until one of two held connections closes."""
    if "max-clients" not in chapter.flags:
        return  # no cap to test: nothing to check for this model
    server = fresh_server("--max-clients", "2")
    held = []
    for _ in range(2):
        sock = server.connect()
        sock.sendall(GET)
        assert Reader(sock).read().status == 200
        held.append(sock)
    third = server.connect()
    try:
        third.sendall(GET)
        assert answered_within(third, 1.5) is None, "a third client was served past --max-clients 2"
        held[0].close()
        response = answered_within(third, 5.0)
        assert response is not None and response.status == 200, "the third client was never served"
    finally:
        third.close()
        for sock in held:
            sock.close()


def test_sigterm_with_idle_and_busy_clients(chapter, fresh_server):
    """SIGTERM with 20 idle keep-alive clients and a /sleep in flight: the sleeper gets an answer,
    the server exits 0 within 2 s, and no child process survives it."""
    server = fresh_server()
    sleeper = server.connect()
    sleeper.sendall(b"GET /sleep?ms=300 HTTP/1.1\r\nHost: x\r\n\r\n")
    result = {}
    reader = threading.Thread(target=lambda: result.update(response=answered_within(sleeper, 5.0)))
    reader.start()
    idle = []
    for _ in range(20):
        sock = server.connect()
        if chapter.caps["concurrent"]:
            # One request each, so every connection is open and idle inside the server. A model
            # that serves one client at a time leaves them queued in the backlog instead.
            sock.sendall(GET)
            assert Reader(sock).read().status == 200
        idle.append(sock)
    time.sleep(0.05)  # the sleep has started; it cannot be over before 300 ms
    children = set(child_pids(server.pid))
    start = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    try:
        server.proc.wait(timeout=2.0)
    except subprocess.TimeoutExpired:
        pass
    took = time.monotonic() - start
    reader.join(timeout=5)
    try:
        code = server.proc.poll()
        assert code == 0, f"exit status {code} {took:.2f} s after SIGTERM: {server.stderr()}"
        response = result.get("response")
        assert response is not None, "the client with a request in flight got no response"
        assert response.status in (200, 503), response
        survivors = [pid for pid in children if alive(pid)]
        assert not survivors, f"children still running after the server exited: {survivors}"
    finally:
        sleeper.close()
        for sock in idle:
            sock.close()


def alive(pid):
    try:
        return _state(pid) != "Z"
    except OSError:
        return False

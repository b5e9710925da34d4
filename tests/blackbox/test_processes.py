"""Processes and descriptors: what a server leaves behind after serving, and at shutdown.

Every chapter runs these. A single-process model passes the zombie checks trivially; a forking
model must reap its children, close the parent's copy of each client descriptor, honour
--max-clients, take its children down with it on SIGTERM, let a child stop alone, and leave
no child serving once it is killed.
"""

import os
import signal
import subprocess
import threading
import time

import pytest
from harness import (Reader, answered_keep_alive, answered_within, child_pids, cpu_during, fd_count, process_alive,
                     wait_until, zombies)

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
CLOSE = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


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


def test_max_clients_cap(chapter, fresh_server):
    """With --max-clients 2, a third client waits until one of two held connections closes."""
    if "max-clients" not in chapter.flags:
        return  # no cap to test: nothing to check for this model
    server = fresh_server("--max-clients", "2")
    held = answered_keep_alive(server, 2)
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
        survivors = [pid for pid in children if process_alive(pid)]
        assert not survivors, f"children still running after the server exited: {survivors}"
    finally:
        sleeper.close()
        for sock in idle:
            sock.close()


def _start_with_two_children(chapter):
    """A server with at least two child processes (two loop processes, or two clients' children),
    and the keep-alive clients that hold them; skips a model that runs in one process."""
    server = chapter.start(*(("--threads", "2") if "threads" in chapter.flags else ()))
    try:
        clients = answered_keep_alive(server, 2)  # a forking model makes a child per client
    except BaseException:
        server.stop(timeout=10)
        raise
    if len(child_pids(server.pid)) < 2:
        for sock in clients:
            sock.close()
        server.stop(timeout=10)
        pytest.skip("the server runs in one process: no child can outlive it or stop alone")
    return server, clients


def _end_one_child(chapter, sig, check):
    """Sends sig to one of two children and waits for it to end; then check(server, children),
    and 10 new clients must be answered. Returns (exit code, stderr) of the SIGTERM that stops the
    server afterwards."""
    server, clients = _start_with_two_children(chapter)
    try:
        children = child_pids(server.pid)
        os.kill(children[0], sig)
        assert wait_until(lambda: not process_alive(children[0]), 3.0), f"the child survived {sig.name}"
        check(server, children)
        for _ in range(10):
            assert server.request(CLOSE, timeout=5).status == 200
    finally:
        for sock in clients:
            sock.close()
        code, _, err = server.stop(timeout=10)
    return code, err


def test_sigterm_to_one_child_stops_only_that_child(chapter):
    """A child process that gets SIGTERM stops alone: its siblings keep running, the parent neither
    stops nor spins, and new clients are answered. (The shutdown eventfd that a child inherits is
    shared with its parent and siblings; a child must make its own, or its stop stops them all.)"""
    def check(server, children):
        spent = cpu_during(server.pid, 0.5, children=False)
        assert server.alive(), f"the parent stopped with its child: {server.stderr()}"
        stopped = [pid for pid in children[1:] if not process_alive(pid)]
        assert not stopped, f"siblings stopped with it: {stopped}"
        assert spent < 0.2, f"the parent used {spent:.2f} s of CPU in 0.5 s after a child stopped"

    code, err = _end_one_child(chapter, signal.SIGTERM, check)
    assert code is not None, f"the server did not stop on SIGTERM: {err}"


def test_killed_server_leaves_no_child_serving(chapter):
    """SIGKILL cannot be caught, so the parent cannot pass it on: the children ask the kernel for
    SIGTERM when their parent dies (PR_SET_PDEATHSIG). They finish within 3 s and the port closes,
    instead of orphans serving it for good."""
    server, clients = _start_with_two_children(chapter)
    try:
        children = child_pids(server.pid)
        server.proc.kill()
        server.proc.wait(timeout=5)
        survivors = lambda: [pid for pid in children if process_alive(pid)]  # noqa: E731
        assert wait_until(lambda: not survivors(), 3.0), f"orphans still running: {survivors()}"
        with pytest.raises(ConnectionRefusedError):
            server.connect(timeout=2).close()
    finally:
        for sock in clients:
            sock.close()
        for pid in children:
            if process_alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_dead_loop_process_is_reported_at_shutdown(chapter):
    """A loop process that died (kill -9) does not stop its siblings, and when the server is then
    stopped with SIGTERM it says so: a shutdown line that counts the dead, and exit status 1 for a
    supervisor. A clean stop, without a death, exits 0 (test_sigterm_with_idle_and_busy_clients)."""
    if "--processes" not in chapter.variant_args:
        pytest.skip("no loop processes: a child here serves one client, or there are none")
    code, err = _end_one_child(chapter, signal.SIGKILL, lambda server, children: None)
    assert code == 1, f"exit status {code} after a loop process died: {err}"
    assert "shutting down; 1 loop process had died" in err, err

"""C10k: 10,000 concurrent keep-alive connections are held open and all served.

A model that holds a process or a thread (or the whole server) per connection declares c10k
false and is skipped: the test would only measure how it runs out of processes, threads or time.
The test opens its connections with non-blocking connect() calls, holds them all, then sends one
GET / on each and reads every answer, with poll() and bounded time. It prints the server's
resident memory per connection.
"""

import errno
import json
import resource
import select
import socket
import time

import pytest

from harness import Reader, child_pids

CONNECTIONS = 10_000
MARGIN = 200  # descriptors the test process needs besides its connections
BUDGET = 60.0  # seconds for the whole test
BATCH = 1000  # connections opened at once
GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
EXPECTED_BODY = b"Hello, World!"


def rss_kib(pid):
    """The resident memory of the server: the process and its children (loops in processes)."""
    total = 0
    for process in [pid, *child_pids(pid)]:
        try:
            with open(f"/proc/{process}/status") as f:
                total += next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
        except OSError:
            continue  # exited while we looked
    return total


def wait_until_open(server, count, deadline):
    """Waits until /stats counts count open connections (plus the one asking): a server may see
    a connection after the client does (TCP_DEFER_ACCEPT holds it in the kernel for a second)."""
    while True:
        with server.connect(timeout=5) as sock:
            sock.sendall(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            open_now = json.loads(Reader(sock).read().body)["open_connections"] - 1
        if open_now >= count or time.monotonic() > deadline:
            return open_now
        time.sleep(0.1)


def raise_own_limit(needed):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"hard RLIMIT_NOFILE is {hard}, below the {needed} descriptors this test needs")
    if soft == resource.RLIM_INFINITY or soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def open_all(server, count, deadline):
    """Opens count connections, a batch of non-blocking connects at a time, and waits after each
    batch until the server holds every connection opened so far.

    The wait matters where the listener defers accept (TCP_DEFER_ACCEPT): the kernel keeps a
    silent client in its SYN queue for about a second, then hands it over when the client
    acknowledges a retransmitted SYN-ACK. Ten thousand of them at once overflow the SYN queue
    (the kernel then prunes old entries, or answers with SYN cookies) and the accept queue (the
    ACK that would complete a connection is dropped), and a silent client so dropped is never
    heard of again: a real limit of deferred accept, which batches of a thousand stay clear of."""
    socks = []
    while len(socks) < count:
        assert time.monotonic() < deadline, f"only {len(socks)} connections opened in time"
        batch = []
        for _ in range(min(BATCH, count - len(socks))):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            err = sock.connect_ex(server.address)
            assert err in (0, errno.EINPROGRESS), f"connect: {errno.errorcode.get(err, err)}"
            batch.append(sock)
        poller = select.poll()
        pending = {s.fileno(): s for s in batch}
        for fd in pending:
            poller.register(fd, select.POLLOUT)
        while pending:
            assert time.monotonic() < deadline, f"{len(pending)} connects still pending"
            for fd, _ in poller.poll(1000):
                sock = pending.pop(fd)
                poller.unregister(fd)
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                assert err == 0, f"connect failed: {errno.errorcode.get(err, err)}"
        socks.extend(batch)
        held = wait_until_open(server, len(socks), deadline)
        assert held == len(socks), f"the server holds {held} of the {len(socks)} connections opened so far"
    return socks


def request_all(socks, deadline):
    """Sends GET / on every connection, a batch at a time, and checks each answer."""
    for start in range(0, len(socks), 1000):
        batch = {sock.fileno(): sock for sock in socks[start : start + 1000]}
        poller = select.poll()
        for fd, sock in batch.items():
            sock.send(GET)  # a few bytes always fit in an empty socket buffer
            poller.register(fd, select.POLLIN)
        received = dict.fromkeys(batch, b"")
        waiting = set(batch)
        while waiting:
            assert time.monotonic() < deadline, f"{len(waiting)} connections unanswered in time"
            for fd, _ in poller.poll(1000):
                try:
                    data = batch[fd].recv(4096)
                except BlockingIOError:
                    continue  # a spurious wakeup: nothing lost, keep waiting
                assert data, "the server closed a held connection"
                received[fd] += data
                if received[fd].endswith(EXPECTED_BODY):
                    waiting.discard(fd)
                    poller.unregister(fd)
        for raw in received.values():
            assert raw.startswith(b"HTTP/1.1 200 "), raw[:100]
            assert raw.endswith(b"\r\n\r\n" + EXPECTED_BODY), raw[-100:]


def test_c10k(chapter, fresh_server):
    if not chapter.caps["c10k"]:
        pytest.skip(
            "the model does not claim c10k: it holds a process or a thread per connection "
            "(or the whole server for one connection), so 10,000 clients would exhaust it"
        )
    raise_own_limit(CONNECTIONS + MARGIN)
    # The connections are idle until every one is open. A server may take them over several
    # seconds (with TCP_DEFER_ACCEPT the kernel hands over a silent client only after its defer
    # period, and 10,000 of them overflow the SYN queue): the idle timeout must outlast that.
    server = fresh_server("--idle-timeout", str(int(BUDGET)))
    deadline = time.monotonic() + BUDGET
    before = rss_kib(server.pid)
    socks = []
    try:
        socks = open_all(server, CONNECTIONS, deadline)
        held = rss_kib(server.pid)
        per_connection = (held - before) * 1024 / CONNECTIONS
        print(f"{chapter.id}: RSS {before} KiB idle, {held} KiB with {CONNECTIONS} connections "
              f"= {per_connection:.0f} bytes per connection")
        request_all(socks, deadline)
        after = rss_kib(server.pid)
        print(f"{chapter.id}: RSS {after} KiB after one request on each connection")
        assert server.alive()
    finally:
        for sock in socks:
            sock.close()

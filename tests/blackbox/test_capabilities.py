"""The capability table, tested both ways.

Each chapter declares in chapters/registry.json what its model can do. A test here fails if a
chapter does worse than it claims, and also if it does better: a claimed limitation is a fact
the chapter teaches, so it must be real.
"""

import json
import os
import socket
import threading
import time

import pytest

from harness import LoadGen, Reader, child_pids, sent_on_new_connections, server_cpu_seconds

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
PROMPT = 1.5  # seconds: "served promptly" (a loaded 2-core machine needs the margin)
STALLED = 1.5  # seconds a stalled client is watched without an answer


def probe_within(server, seconds, raw=GET):
    """Sends raw on a new connection; returns (socket, reader, response or None)."""
    sock = server.connect(timeout=seconds)
    sock.sendall(raw)
    reader = Reader(sock)
    try:
        return sock, reader, reader.read()
    except (socket.timeout, TimeoutError):
        return sock, reader, None


def workers(server):
    with server.connect() as sock:
        sock.sendall(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return json.loads(Reader(sock).read().body)["workers"]


def test_concurrent(chapter, fresh_server):
    """A second client is served while a first holds an open keep-alive connection."""
    server = fresh_server()
    holder = server.connect()
    holder.sendall(GET)
    assert Reader(holder).read().status == 200  # the first client is being served, and stays

    probe, reader, response = probe_within(server, PROMPT if chapter.caps["concurrent"] else STALLED)
    try:
        if chapter.caps["concurrent"]:
            assert response is not None, "declared concurrent, but a second client was not served"
        else:
            assert response is None, "declared not concurrent, but a second client was served"
            holder.close()  # the first client leaves: now the second one must be served
            probe.settimeout(5)
            assert reader.read().status == 200
    finally:
        holder.close()
        probe.close()


def test_isolates_slow_clients(chapter, fresh_server):
    """200 slowloris clients (a partial request, one byte a second) do not delay a fresh client."""
    server = fresh_server()
    slow = sent_on_new_connections(server, 200, b"GET / HTTP/1.1\r\n", timeout=5)
    stop = threading.Event()

    def drip():
        while not stop.wait(1.0):
            for sock in slow:
                try:
                    sock.send(b"X")  # a header line that never ends
                except OSError:
                    pass

    dripper = threading.Thread(target=drip, daemon=True)
    dripper.start()
    try:
        expect = chapter.caps["isolates_slow_clients"]
        probe, _, response = probe_within(server, PROMPT * 2 if expect else STALLED)
        probe.close()
        if expect:
            assert response is not None and response.status == 200, "a slowloris stalled a fresh client"
        else:
            assert response is None, "declared not to isolate slow clients, but the fresh client was served"
    finally:
        stop.set()
        dripper.join()
        for sock in slow:
            sock.close()
    # Once the slow clients are gone the server serves again.
    with server.connect(timeout=10) as sock:
        sock.sendall(GET)
        assert Reader(sock).read().status == 200


def probe_all(server, count, seconds):
    """Sends GET / on count new connections at once; returns how many were answered in time."""
    socks = [server.connect(timeout=seconds) for _ in range(count)]
    try:
        for sock in socks:
            sock.sendall(GET)
        deadline = time.monotonic() + seconds
        answered = 0
        for sock in socks:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                answered += Reader(sock).read().status == 200
            except (socket.timeout, TimeoutError):
                pass
        return answered
    finally:
        for sock in socks:
            sock.close()


@pytest.mark.timing
def test_isolates_blocking_work(chapter, fresh_server):
    """GET / stays fast while /sleep?ms=2000 requests run on other connections.

    A model that isolates blocking work must answer while all its workers but one sleep. A model
    that does not must leave some GET / waiting. With several event loops (one per core) a
    connection lands on a loop the test cannot choose, so it sends three sleeps per loop and
    probes on four connections per loop: the chance that some loop got no sleep *and* every
    probe landed on it is about one in ten thousand for two loops, and smaller for more.
    """
    server = fresh_server()
    n = workers(server)
    isolates = chapter.caps["isolates_blocking_work"]
    if isolates:
        sleeps, probes = max(1, min(n - 1, 15)), 1
    else:
        sleeps, probes = (1 if n == 1 else 3 * n), 4 * n
    busy = sent_on_new_connections(server, sleeps, b"GET /sleep?ms=2000 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.5)  # let the server pick the sleeps up before the probes arrive
    try:
        answered = probe_all(server, probes, 1.0)
        if isolates:
            assert answered == probes, f"GET / waited for someone else's /sleep ({n} workers, {sleeps} sleeping)"
        else:
            assert answered < probes, (
                f"declared not to isolate blocking work, but all {probes} GET / were answered "
                f"within 1 s while {sleeps} /sleep ran")
        for sock in busy:
            sock.settimeout(30)
            assert Reader(sock).read().status == 200
    finally:
        for sock in busy:
            sock.close()


@pytest.mark.timing
def test_multicore(chapter, fresh_server):
    """Under CPU-bound load from several clients, the server uses more than one core."""
    if os.cpu_count() < 2:
        pytest.skip("one CPU: a server cannot use more than one core here")
    server = fresh_server()
    deadline = time.monotonic() + 3.0
    errors = []

    def load():
        try:
            with server.connect(timeout=30) as sock:
                reader = Reader(sock)
                while time.monotonic() < deadline:
                    sock.sendall(b"GET /compute?n=30000 HTTP/1.1\r\nHost: x\r\n\r\n")
                    reader.read()
        except OSError as e:
            errors.append(e)

    before = server_cpu_seconds(server.pid)
    start = time.monotonic()
    # Sixteen clients: with one event loop per core and the kernel choosing the loop of each
    # connection (SO_REUSEPORT), all of them landing on one loop is a 1-in-30,000 event.
    clients = [threading.Thread(target=load) for _ in range(16)]
    for t in clients:
        t.start()
    for t in clients:
        t.join(timeout=60)
    wall = time.monotonic() - start
    # A forking server's children exit as their clients leave, and their CPU time reaches the
    # parent's counters only when they are reaped: a child that exits while we read would be
    # counted in neither place. Let them be reaped first (bounded; nothing to wait for otherwise).
    settle = time.monotonic() + 2.0
    while child_pids(server.pid) and time.monotonic() < settle:
        time.sleep(0.05)
    used = server_cpu_seconds(server.pid) - before
    ratio = used / wall
    print(f"{chapter.name}: server CPU {used:.2f} s over {wall:.2f} s wall = {ratio:.2f} cores")
    if chapter.caps["multicore"]:
        assert ratio > 1.1, f"declared multicore, but used {ratio:.2f} cores"
    else:
        assert ratio <= 1.05, f"declared single-core, but used {ratio:.2f} cores"


# Past capacity: real work per request (about a millisecond of CPU here), so that the server, not
# the load generator, is what saturates.
WORK = "/compute?n=20000"
ANSWER_BOUND_US = 1_000_000  # "answered within a bound": 1 s
REFUSE_BOUND_US = 500_000  # "refused at once": 0.5 s
LATE_SHARE = 0.01  # a responsive server may leave this share of requests late on a loaded machine


def capacity(chapter, server):
    """Requests per second the server answers 200 to, with 8 clients that each wait for their
    answer (a closed loop: enough to keep two cores busy, too few to overflow a small queue)."""
    load = LoadGen(chapter, server, "--connections", 8, "--requests", 10**6, "--path", WORK, seconds=1.5)
    result = load.result(30)
    return (result["requests"] - result["bad_status"]) / result["seconds"]


@pytest.mark.timing
def test_responsive_past_capacity(chapter, fresh_server):
    """Offered twice its capacity for 3 s, at a fixed rate (an open loop), with a quarter of the
    requests each on a new connection: a responsive server answers each request within 1 s or
    refuses it at once (503, within 0.5 s). One that queues without bound (in its own queues, in
    socket buffers, or in the listen backlog) leaves requests waiting longer and longer: more than
    1% of them wait over 1 s, or are never answered within 2 s."""
    server = fresh_server()
    rate = 2 * capacity(chapter, server)
    load = LoadGen(chapter, server, "--rate", f"{rate:.0f}", "--duration", 3, "--connections", 64,
                   "--new-share", 0.25, "--timeout", 2, "--path", WORK, seconds=30)
    r = load.result(40)
    print(f"{chapter.id}: offered {rate:.0f}/s: {r}")
    late = r["timed_out"] + r["errors"]
    responsive = (late <= LATE_SHARE * r["scheduled"] and r["p99_us"] <= ANSWER_BOUND_US
                  and r["refused_p99_us"] <= REFUSE_BOUND_US)
    if chapter.caps["responsive_past_capacity"]:
        assert responsive, (f"declared responsive past capacity, but at {rate:.0f} requests/s: {late} of "
                            f"{r['scheduled']} late or failed, p99 {r['p99_us'] / 1000:.0f} ms, "
                            f"refusals' p99 {r['refused_p99_us'] / 1000:.0f} ms")
    else:
        assert not responsive, (f"declared not responsive past capacity, but at {rate:.0f} requests/s all "
                                f"but {late} of {r['scheduled']} were answered within 1 s "
                                f"(p99 {r['p99_us'] / 1000:.0f} ms) or refused at once")

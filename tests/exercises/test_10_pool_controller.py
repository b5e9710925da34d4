"""Exercise pool-controller (chapter 10): a stage grows its pool while its queue stays long.

The starting copy keeps the one thread each stage starts with: eight /sleep?ms=600 sent at once
run one after another on the sleep stage's only thread, and the last is answered after 4.8 s. The
reference's thread-pool controller adds a thread per tick (50 ms) while the queue stays longer
than the threads serving it, up to the stage's ceiling, so the eight run side by side; idle
threads retire on their own after 2 s.
"""

import json
import time

from harness import answered_within, sent_on_new_connections


def sleep_threads(server):
    stats = json.loads(server.request(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").body)
    return next(stage["threads"] for stage in stats["stages"] if stage["name"] == "sleep")


def test_eight_sleeps_at_once_are_answered_together(fresh_server):
    """Eight /sleep?ms=600 at once are all answered within 2 s (one thread would take 4.8 s)."""
    server = fresh_server()
    start = time.monotonic()
    socks = sent_on_new_connections(server, 8, b"GET /sleep?ms=600 HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        for sock in socks:
            response = answered_within(sock, max(0.01, start + 2.0 - time.monotonic()))
            assert response is not None, (f"not all eight sleeps answered within 2 s: the pool stayed "
                                          f"at {sleep_threads(server)} thread(s)")
            assert response.status == 200
    finally:
        for sock in socks:
            sock.close()


def test_the_pool_never_grows_past_its_ceiling(fresh_server):
    """40 /sleep?ms=800 at once grow the sleep stage to its ceiling (16 threads with --threads 1),
    and never past it."""
    server = fresh_server("--threads", "1")
    socks = sent_on_new_connections(server, 40, b"GET /sleep?ms=800 HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        most = 0
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:
            most = max(most, sleep_threads(server))
            time.sleep(0.05)
        assert most > 1, "the sleep stage never grew"
        assert most <= 16, f"the sleep stage grew to {most} threads, past its ceiling of 16"
    finally:
        for sock in socks:
            sock.close()

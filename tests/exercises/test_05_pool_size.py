"""Exercise pool-size (chapter 05): size the pool for the blocking work, not for the cores.

The starting copy starts one worker per core, the right size for handlers that only compute.
These handlers sleep: with as many /sleep requests in flight as there are cores, every worker
sleeps, and a GET / waits in the queue for one of them. The reference starts 16 workers, or 4
per core on a larger machine.
"""

import os
import time

from harness import Reader, answered_within, sent_on_new_connections

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def assert_get_is_prompt_beside_sleeps(server, sleeps, why):
    """Keeps `sleeps` /sleep?ms=2000 in flight, then asserts that GET / is answered within 1 s
    (failing with `why`) and that every sleep is answered too."""
    busy = sent_on_new_connections(server, sleeps, b"GET /sleep?ms=2000 HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        time.sleep(0.5)  # the sleeps are running
        with server.connect(timeout=1.0) as probe:
            start = time.monotonic()
            probe.sendall(GET)
            response = answered_within(probe, 1.0)
        assert response is not None, f"GET / waited behind {sleeps} sleeps: {why}"
        assert time.monotonic() - start < 1.0
        for sock in busy:
            sock.settimeout(10)
            assert Reader(sock).read().status == 200
    finally:
        for sock in busy:
            sock.close()


def test_get_is_prompt_with_more_sleeps_than_cores(server):
    """With two more /sleep?ms=2000 in flight than there are cores, GET / is answered within 1 s."""
    assert_get_is_prompt_beside_sleeps(server, (os.cpu_count() or 1) + 2, "the pool is too small")


def test_get_is_prompt_with_fourteen_sleeps_in_flight(fresh_server):
    """With fourteen /sleep?ms=2000 in flight, GET / is answered within 1 s on any machine: the
    blocking work a pool must absorb does not shrink with the number of cores, so the default pool
    has at least 16 workers (two or four per core is too few on a small machine)."""
    assert_get_is_prompt_beside_sleeps(fresh_server(), 14, "the default pool has fewer than 15 workers")

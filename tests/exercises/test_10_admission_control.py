"""Exercise admission-control (chapter 10): a full stage says no, at once.

The starting copy queues every event a stage is offered, however long its queue already is. Past
capacity the queue then grows as long as clients send, and so does every request's wait: a
client learns nothing until it is served, long after it stopped caring. The reference refuses an
event at once when its stage's queue is full; the router answers 503 with Retry-After, and the
stage counts the refusal, which GET /stats shows.
"""

import json
import time

from harness import answered_within, sent_on_new_connections

SLEEPS = 120  # the sleep stage holds at most 16 threads' worth and a queue of 64


def sleep_stage(server):
    stats = json.loads(server.request(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").body)
    return next(stage for stage in stats["stages"] if stage["name"] == "sleep")


def test_a_flood_of_sleeps_is_refused_at_once_and_counted(server):
    """120 /sleep?ms=2000 at once: within 1 s some of them are answered 503 with Retry-After (none
    of the sleeps can be done by then), and the sleep stage's refused count in /stats says as many."""
    before = sleep_stage(server)["refused"]
    socks = sent_on_new_connections(server, SLEEPS, b"GET /sleep?ms=2000 HTTP/1.1\r\nHost: x\r\n\r\n")
    refused = 0
    try:
        deadline = time.monotonic() + 1.0
        for sock in socks:
            response = answered_within(sock, max(0.01, deadline - time.monotonic()))
            if response is None:
                continue  # admitted: still sleeping
            assert response.status == 503, f"a sleep answered {response.status} within 1 s"
            assert response.header("Retry-After") == "1", "a 503 must say when to try again"
            refused += 1
        assert refused > 0, (f"none of {SLEEPS} sleeps was refused within 1 s: the sleep stage queued "
                             "them all, and every client waits")
        counted = sleep_stage(server)["refused"] - before
        assert counted == refused, f"{refused} refused, but the sleep stage counted {counted}"
    finally:
        for sock in socks:
            sock.close()

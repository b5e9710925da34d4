"""Exercise emfile-pause (chapter 04): out of descriptors, the loop must rest, not spin.

The listener is level-triggered, and a connection that accept() cannot take (EMFILE) stays in
the backlog, so epoll_wait() reports the listener again at once: the starting copy, which only
returns and waits for the next event, turns that into a busy loop at 100% CPU. The reference
takes the listener out of the epoll set for 100 ms each time. This is the black-box suite's own
EMFILE test, run on the learner's copy, and a test that the loop keeps serving the connections it
holds at full speed meanwhile: a loop that sleeps 100 ms after EMFILE does not spin either, but
it holds every client back.
"""

import resource
import time

from harness import Reader, answered_keep_alive, sent_on_new_connections, stable_fd_count, timed_round_trips
from test_emfile import test_emfile_no_spin_and_recovery  # noqa: F401  (collected by pytest)

GET_CLOSE = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
ROUND_TRIPS = 60


def test_a_held_client_is_answered_at_full_speed_while_accept_rests(fresh_server):
    """Out of descriptors with clients waiting in the backlog, a keep-alive client the loop already
    holds gets 60 answers in a row, one request at a time, within 1.5 s: the loop rests by leaving
    the listener out of its epoll set for 100 ms, not by sleeping, which would hold every
    connection's answers back 100 ms at a time. Once descriptors are back, the waiting clients
    are served."""
    server = fresh_server()
    held = answered_keep_alive(server, 1)[0]
    soft, hard = resource.prlimit(server.pid, resource.RLIMIT_NOFILE)
    resource.prlimit(server.pid, resource.RLIMIT_NOFILE, (stable_fd_count(server.pid), hard))
    waiting = []
    try:
        waiting = sent_on_new_connections(server, 5, GET_CLOSE, timeout=15)
        time.sleep(0.3)  # the loop has met EMFILE by now, and meets it again after every rest
        answered, took = timed_round_trips(held, ROUND_TRIPS)
    finally:
        resource.prlimit(server.pid, resource.RLIMIT_NOFILE, (soft, hard))
    try:
        assert answered == ROUND_TRIPS and took < 1.5, (
            f"{answered} answers in {took:.1f} s on a held connection while out of descriptors: the "
            "loop sleeps instead of resting the listener, and every client waits with it")
        for sock in waiting:  # descriptors are back: everyone who waited is served
            assert Reader(sock).read().status == 200
    finally:
        held.close()
        for sock in waiting:
            sock.close()

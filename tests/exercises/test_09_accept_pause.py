"""Exercise accept-pause (chapter 09): out of descriptors, the ring must rest, not spin.

On EMFILE the kernel ends the multishot accept with that error, and the client it could not
take stays in the backlog. The starting copy arms a new accept at once, which fails at once: a
loop of io_uring_enter() calls at 100% CPU, in the kernel. The reference waits 100 ms (the
ring's wait() wakes up for it) before arming it again.

This is the black-box suite's test of a server started with only 40 descriptors. Its other
EMFILE test, which lowers the limit of a running server with prlimit, does not reach a multishot
accept: the kernel reads RLIMIT_NOFILE when the accept is submitted, and this one was submitted
at start-up, under the old limit. A second test checks that the ring keeps serving the clients it
holds at full speed meanwhile: a ring that sleeps 100 ms after EMFILE does not spin either, but
it holds every client back.
"""

import resource
import time

from harness import answered_keep_alive, sent_on_new_connections, timed_round_trips
from test_emfile import CLIENTS, LOW_LIMIT
from test_emfile import test_low_descriptor_limit_from_start  # noqa: F401  (collected by pytest)

ROUND_TRIPS = 60


def test_a_held_client_is_answered_at_full_speed_while_accept_rests(fresh_server):
    """One ring, started with 40 descriptors, holds a keep-alive client; then 60 clients with
    half-sent requests take the rest, and accept fails with EMFILE: the held client still gets 60
    answers in a row, one request at a time, within 1.5 s. The ring rests by not arming the accept
    for 100 ms (its wait() wakes up for that), not by sleeping, which would hold every
    connection's completions back 100 ms at a time."""
    server = fresh_server("--threads", "1",
                          preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (LOW_LIMIT, LOW_LIMIT)))
    held = answered_keep_alive(server, 1)[0]
    fillers = []
    try:
        fillers = sent_on_new_connections(server, CLIENTS, b"GET / HTTP/1.1\r\n", timeout=30)
        time.sleep(0.5)  # the ring takes what it can, then meets EMFILE, and meets it after every rest
        answered, took = timed_round_trips(held, ROUND_TRIPS)
        assert answered == ROUND_TRIPS and took < 1.5, (
            f"{answered} answers in {took:.1f} s on a held connection while out of descriptors: the ring "
            "sleeps instead of leaving the accept unarmed, and every client waits with it")
    finally:
        held.close()
        for sock in fillers:
            sock.close()

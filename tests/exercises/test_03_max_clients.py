"""Exercise max-clients (chapter 03): at --max-clients, wait for a thread to finish.

The starting copy counts threads but never waits, so every client gets a thread at once and a
flood of idle clients (slowloris) makes as many threads as it likes. The reference waits on a
condition variable while --max-clients threads are live; the clients beyond the cap wait in the
kernel's listen backlog, and the thread count stays bounded.
"""

import time

from harness import (LONGEST_COMPUTE, STOP_TIMEOUT, answered_within, on_one_cpu, sent_on_new_connections,
                     thread_count, wait_until)
from test_processes import test_max_clients_cap  # noqa: F401  (collected by pytest: the cap itself)

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
def test_thread_count_stays_bounded(fresh_server):
    """Twenty idle clients with --max-clients 4: main plus at most 4 connection threads."""
    srv = fresh_server("--max-clients", "4")
    held = sent_on_new_connections(srv, 20, GET)
    try:
        answered_within(held[0], 2.0)  # give the server time to start whatever it will start
        assert thread_count(srv.pid) <= 5, f"{thread_count(srv.pid)} threads with --max-clients 4"
    finally:
        for sock in held:
            sock.close()


def test_sigterm_ends_the_wait_for_a_free_slot(fresh_server):
    """At the cap (--max-clients 3, held by three /compute requests that share one CPU and need
    many seconds), SIGTERM stops the server within 3 s, exit status 0: the wait for a free slot
    looks at the shutdown flag. A wait on the condition variable alone sleeps until a computation
    ends."""
    srv = fresh_server("--max-clients", "3", preexec_fn=on_one_cpu())
    busy = sent_on_new_connections(srv, 3, LONGEST_COMPUTE)
    try:
        assert wait_until(lambda: thread_count(srv.pid) >= 4, 5.0), "the three computations never started"
        time.sleep(0.3)  # the accept loop now waits for a free slot
        code, elapsed, err = srv.stop(timeout=STOP_TIMEOUT + 1)
        assert code is not None, (f"still running {elapsed:.1f} s after SIGTERM: the accept loop waits for a "
                                  "free slot and never looks at the shutdown flag")
        assert code == 0, f"exit status {code}: {err}"
    finally:
        for sock in busy:
            sock.close()

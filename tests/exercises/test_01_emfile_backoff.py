"""Exercise emfile-backoff (chapter 01): out of descriptors, the accept loop must not spin.

When accept() fails with EMFILE the pending connection stays in the backlog, so the listener
stays readable and poll() returns at once: a loop that simply tries again burns a whole core
for as long as descriptors are short. The reference answers every accept failure through
common::accept_or_back_off(), which pauses about 100 ms after EMFILE.

This is the black-box suite's own EMFILE test, run on the learner's copy: it lowers the
server's RLIMIT_NOFILE to the descriptors it holds (prlimit), queues clients, and measures the
CPU the server uses meanwhile; then it gives the descriptors back and expects every queued
client to be served. A second test counts how often the loop sleeps meanwhile: a pause of a
millisecond or so keeps the CPU low, but still retries hundreds of times a second.
"""

import os
import resource
import time

from harness import Reader, sent_on_new_connections, stable_fd_count
from test_emfile import test_emfile_no_spin_and_recovery  # noqa: F401  (collected by pytest)

GET_CLOSE = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
MOST_WAITS = 60  # blocking waits in one second out of descriptors; the reference makes about 10


def voluntary_switches(pid):
    """How many times the threads of pid have blocked so far (voluntary context switches)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                total += sum(int(line.split()[1]) for line in f if line.startswith("voluntary_ctxt_switches:"))
        except OSError:
            continue  # a thread that ended while we looked
    return total


def test_out_of_descriptors_the_loop_retries_about_ten_times_a_second(fresh_server):
    """Out of descriptors with clients waiting, the accept loop blocks (sleeps) fewer than 60 times
    in a second: it rests about 100 ms between two tries, not a millisecond or so, a pause that
    costs little CPU but still makes hundreds of failed accept() calls a second. Once descriptors
    are back, every waiting client is served."""
    server = fresh_server()
    soft, hard = resource.prlimit(server.pid, resource.RLIMIT_NOFILE)
    resource.prlimit(server.pid, resource.RLIMIT_NOFILE, (stable_fd_count(server.pid), hard))
    waiting = []
    try:
        waiting = sent_on_new_connections(server, 5, GET_CLOSE, timeout=15)
        time.sleep(0.3)  # the loop has met EMFILE by now, and keeps meeting it
        before = voluntary_switches(server.pid)
        time.sleep(1.0)
        waits = voluntary_switches(server.pid) - before
    finally:
        resource.prlimit(server.pid, resource.RLIMIT_NOFILE, (soft, hard))
    try:
        print(f"{waits} blocking waits in 1 s out of descriptors")
        assert waits < MOST_WAITS, (
            f"the loop slept {waits} times in 1 s out of descriptors: about {1000 // max(waits, 1)} ms "
            "between two failed accepts, where about 100 ms is wanted")
        for sock in waiting:  # descriptors are back: everyone who waited is served
            assert Reader(sock).read().status == 200
    finally:
        for sock in waiting:
            sock.close()

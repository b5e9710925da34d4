"""Exercise emfile-backoff (chapter 01): out of descriptors, the accept loop must not spin.

When accept() fails with EMFILE the pending connection stays in the backlog, so the listener
stays readable and poll() returns at once: a loop that simply tries again burns a whole core
for as long as descriptors are short. The reference answers every accept failure through
common::accept_or_back_off(), which pauses about 100 ms after EMFILE.

The test lowers the server's RLIMIT_NOFILE to the descriptors it holds (prlimit), queues
clients, and measures the CPU the server uses meanwhile; then it gives the descriptors back and
expects every queued client to be served.
"""

import resource
import time

from harness import Reader, cpu_seconds, fd_count

GET_CLOSE = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
WATCH = 2.0  # seconds of exhaustion


def test_no_spin_while_out_of_descriptors_then_recovery(fresh_server):
    srv = fresh_server()
    assert srv.request(GET_CLOSE).status == 200
    soft, hard = resource.prlimit(srv.pid, resource.RLIMIT_NOFILE)
    deadline = time.monotonic() + 5
    while True:  # the server may still be closing the first client's descriptor: let it settle
        count = fd_count(srv.pid)
        time.sleep(0.2)
        if fd_count(srv.pid) == count or time.monotonic() > deadline:
            break
    resource.prlimit(srv.pid, resource.RLIMIT_NOFILE, (count, hard))
    waiting = []
    try:
        for _ in range(3):
            sock = srv.connect(timeout=15)
            sock.sendall(GET_CLOSE)
            waiting.append(sock)
        before = cpu_seconds(srv.pid)
        time.sleep(WATCH)
        used = cpu_seconds(srv.pid) - before
        assert used < 0.25 * WATCH, f"{used:.2f} s of CPU in {WATCH} s without descriptors: the loop spins"
        assert srv.alive()
    finally:
        resource.prlimit(srv.pid, resource.RLIMIT_NOFILE, (soft, hard))
    for sock in waiting:  # descriptors are back: everyone who waited is served
        assert Reader(sock).read().status == 200
        sock.close()

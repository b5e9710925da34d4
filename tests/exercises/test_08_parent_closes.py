"""Exercise parent-closes (chapter 08): after a loop process dies, its clients go elsewhere.

With --processes, each child keeps its own listener. If the parent keeps its copies too, a
child's socket outlives the child: the kernel goes on putting new connections into its accept
queue, and nobody ever accepts them. The reference closes the parent's copies after forking, so
a dead child's socket closes with it and the survivors get every new client.
"""

import os
import signal
import time

from harness import Reader, child_pids

GET = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def test_new_clients_avoid_a_dead_loop(chapter):
    """After one of two loop processes is killed, 20 new clients are all answered: no listener of
    the dead loop is left open in the parent for the kernel to send them to."""
    server = chapter.start("--processes", "--threads", "2")
    try:
        children = child_pids(server.pid)
        assert len(children) == 2, children
        os.kill(children[0], signal.SIGKILL)
        time.sleep(0.5)  # the parent reaps it; its socket is gone (or not)
        unanswered = 0
        for _ in range(20):  # the kernel's hash spreads these over the sockets still open
            with server.connect(timeout=5) as sock:
                sock.settimeout(1.0)
                sock.sendall(GET)
                try:
                    unanswered += Reader(sock).read().status != 200
                except OSError:
                    unanswered += 1
        assert unanswered == 0, f"{unanswered} of 20 new clients were never answered"
    finally:
        code, _, _ = server.stop(timeout=10)
    assert code == 1, "the parent must report that a loop process died (exit 1)"

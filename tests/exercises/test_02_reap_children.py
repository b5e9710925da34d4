"""Exercise reap-children (chapter 02): collect every child that exits.

A child that has exited stays in the process table as a zombie (state Z) until its parent
waits for it. The starting copy empties the SIGCHLD self-pipe but never calls waitpid(): the
zombies pile up, and since the parent forgets no child, its count of live children only grows
until --max-clients stops it from accepting anyone at all.
"""

import os
import signal

from harness import Reader, answered_keep_alive, answered_within, wait_until, zombies

CLOSE = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def test_no_zombies_after_clients_leave(fresh_server):
    """Ten clients come and go; a moment later no child of the server is a zombie."""
    srv = fresh_server()
    for _ in range(10):
        assert srv.request(CLOSE).status == 200
    assert wait_until(lambda: not zombies(srv.pid), 3.0), f"zombie children: {zombies(srv.pid)}"


def test_cap_counts_only_live_children(fresh_server):
    """With --max-clients 2, six clients one after the other are all served promptly: a child
    that has exited no longer counts against the cap."""
    srv = fresh_server("--max-clients", "2")
    for i in range(6):
        with srv.connect(timeout=3) as sock:
            sock.sendall(CLOSE)
            try:
                response = Reader(sock).read()
            except OSError:
                response = None
        assert response is not None and response.status == 200, f"client {i + 1} was not served"


def test_children_that_exit_together_are_all_reaped(fresh_server):
    """Five children exit while the parent is stopped (SIGSTOP), so that their five SIGCHLDs reach it
    as one signal and one byte in the self-pipe: after SIGCONT, within 3 s no child is a zombie.
    Signals of one kind do not queue, so one wake-up must collect every child that has exited,
    not one per wake-up."""
    srv = fresh_server()
    socks = answered_keep_alive(srv, 5)  # five children, each serving an idle keep-alive client
    os.kill(srv.pid, signal.SIGSTOP)
    try:
        for sock in socks:
            sock.close()  # each child reads the end of its client's stream, and exits
        exited = wait_until(lambda: len(zombies(srv.pid)) >= 5, 5.0)
    finally:
        os.kill(srv.pid, signal.SIGCONT)
        for sock in socks:
            sock.close()
    assert exited, f"only {len(zombies(srv.pid))} of 5 children exited while the parent was stopped"
    assert wait_until(lambda: not zombies(srv.pid), 3.0), (
        f"{len(zombies(srv.pid))} of 5 children still zombies 3 s after SIGCONT: "
        "one wake-up reaped fewer than every child that had exited")


def test_reaping_never_waits_for_a_live_child(fresh_server):
    """While one child serves an idle keep-alive client (for up to 30 s), another child exits: the
    parent reaps it and goes back to accepting, so a third client is answered within 3 s. A
    waitpid() without WNOHANG would wait there for the idle child, and nobody would be accepted
    until it exits."""
    srv = fresh_server("--idle-timeout", "30")
    held = answered_keep_alive(srv, 1)
    try:
        assert srv.request(CLOSE).status == 200  # its child exits once the answer is out
        assert wait_until(lambda: not zombies(srv.pid), 3.0), f"zombie children: {zombies(srv.pid)}"
        with srv.connect(timeout=5) as sock:
            sock.sendall(CLOSE)
            response = answered_within(sock, 3.0)
        assert response is not None and response.status == 200, (
            "a client was not answered within 3 s after a child exited: the parent is waiting for "
            "the child that still serves its idle client")
    finally:
        for sock in held:
            sock.close()

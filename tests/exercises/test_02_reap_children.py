"""Exercise reap-children (chapter 02): collect every child that exits.

A child that has exited stays in the process table as a zombie (state Z) until its parent
waits for it. The starting copy empties the SIGCHLD self-pipe but never calls waitpid(): the
zombies pile up, and since the parent forgets no child, its count of live children only grows
until --max-clients stops it from accepting anyone at all.
"""

from harness import Reader, wait_until, zombies

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

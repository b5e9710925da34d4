"""Exercise defer-accept (chapter 07): the kernel holds a silent client until it speaks.

The starting copy's acceptor gets every connection as soon as the handshake completes, so a
client that connects and says nothing costs a descriptor and a loop's attention at once. With
TCP_DEFER_ACCEPT on the listener, accept() returns a connection only once its first bytes have
arrived (or after about a second). The test counts open connections through /stats.
"""

import json
import time

from harness import Reader, wait_until


def open_connections(server):
    with server.connect(timeout=5) as sock:
        sock.sendall(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return json.loads(Reader(sock).read().body)["open_connections"] - 1  # not this one


def test_silent_client_is_not_accepted_at_once(server):
    """A client that connects and stays silent for 0.3 s is not yet an open connection; then it is served."""
    with server.connect(timeout=5) as silent:
        time.sleep(0.3)
        assert open_connections(server) == 0, "a client that sent nothing was accepted at once"
        silent.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert Reader(silent).read().status == 200


def test_silent_client_is_accepted_after_about_a_second(fresh_server):
    """A client that connects and never speaks is still accepted after about a second (within
    5 s), and from then on the idle timeout governs it: TCP_DEFER_ACCEPT takes seconds, and the
    kernel holds a silent client for about that long. A value meant as milliseconds (1000) would
    hold it, unseen by the server, for many minutes."""
    server = fresh_server()
    with server.connect(timeout=5) as silent:
        start = time.monotonic()
        accepted = wait_until(lambda: open_connections(server) == 1, 5.0)
        assert accepted, "a client that sent nothing was not accepted within 5 s"
        time.sleep(0.2)
        assert open_connections(server) == 1, "the silent client's connection did not stay open"
        print(f"accepted after {time.monotonic() - start:.1f} s")
        silent.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert Reader(silent).read().status == 200

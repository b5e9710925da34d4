"""Exercise queue-bound (chapter 05): a full request queue pushes back on the clients.

The starting copy's queue always has room, so the loop reads every request it is sent and the
queue grows with the clients' patience (and their memory with it). The reference bounds the
queue at 64 jobs per worker; a connection whose request finds the queue full is no longer read,
so its next bytes stay in the kernel, where `ss -tn` shows them as Recv-Q, and TCP flow control
eventually stops the client. The test reads that Recv-Q from /proc/net/tcp.
"""

import time

from harness import answered_within, sent_on_new_connections, wait_until

CONNECTIONS = 100  # with one worker, 64 jobs fit in the queue


def unread_sockets(port):
    """Server-side sockets on port (local address) with bytes waiting unread in the kernel."""
    count = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local_port = int(fields[1].split(":")[1], 16)
            state = fields[3]
            rx_queue = int(fields[4].split(":")[1], 16)
            if local_port == port and state == "01" and rx_queue > 0:
                count += 1
    return count


def test_full_queue_leaves_requests_in_the_kernel(fresh_server):
    """100 connections send a /sleep each to one worker, then a GET /: at least 20 of them have that
    GET / left unread in the kernel (Recv-Q), because the loop stopped reading them."""
    server = fresh_server("--threads", "1")
    socks = sent_on_new_connections(server, CONNECTIONS, b"GET /sleep?ms=2000 HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        time.sleep(0.5)  # every first request was read; those beyond the bound wait for room
        for sock in socks:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        time.sleep(0.3)  # a loop that reads everything has read them by now
        unread = wait_until(lambda: unread_sockets(server.port) >= 20, 1.0) and unread_sockets(server.port)
        assert unread >= 20, (
            f"{unread_sockets(server.port)} connections have unread requests: the loop kept reading "
            f"with {CONNECTIONS} requests for one worker")
    finally:
        for sock in socks:
            sock.close()


def test_a_full_queue_does_not_stop_the_loop(fresh_server):
    """With the queue full (one worker, 100 connections each sending a /sleep?ms=10000), the loop
    still reads and answers everyone else: a malformed request on a new connection gets its 400,
    which the loop itself answers, within 1.5 s. The bound refuses the job and leaves its
    connection unread; a push that waits for room would hold the loop, and every client with it."""
    server = fresh_server("--threads", "1")
    socks = sent_on_new_connections(server, CONNECTIONS, b"GET /sleep?ms=10000 HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        time.sleep(0.5)  # the worker sleeps, the queue is full, the connections beyond it wait
        with server.connect(timeout=5) as probe:
            probe.sendall(b"GET / HTTP/1.x\r\nHost: x\r\n\r\n")
            response = answered_within(probe, 1.5)
        assert response is not None, "no answer within 1.5 s to a malformed request: the loop is stuck"
        assert response.status == 400, f"got {response.status}, not 400"
    finally:
        for sock in socks:
            sock.close()

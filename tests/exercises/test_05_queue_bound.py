"""Exercise queue-bound (chapter 05): a full request queue pushes back on the clients.

The starting copy's queue always has room, so the loop reads every request it is sent and the
queue grows with the clients' patience (and their memory with it). The reference bounds the
queue at 64 jobs per worker; a connection whose request finds the queue full is no longer read,
so its next bytes stay in the kernel, where `ss -tn` shows them as Recv-Q, and TCP flow control
eventually stops the client. The test reads that Recv-Q from /proc/net/tcp.
"""

import time

from harness import sent_on_new_connections, wait_until

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

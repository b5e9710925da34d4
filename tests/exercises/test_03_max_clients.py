"""Exercise max-clients (chapter 03): at --max-clients, wait for a thread to finish.

The starting copy counts threads but never waits, so every client gets a thread at once and a
flood of idle clients (slowloris) makes as many threads as it likes. The reference waits on a
condition variable while --max-clients threads are live; the clients beyond the cap wait in the
kernel's listen backlog, and the thread count stays bounded.
"""

from harness import Reader

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def threads(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    raise AssertionError("no Threads line")


def answered_within(sock, seconds):
    sock.settimeout(seconds)
    try:
        return Reader(sock).read()
    except OSError:
        return None


def test_third_client_waits_for_a_free_thread(fresh_server):
    srv = fresh_server("--max-clients", "2")
    held = []
    try:
        for _ in range(2):
            sock = srv.connect()
            sock.sendall(GET)
            assert Reader(sock).read().status == 200
            held.append(sock)
        third = srv.connect()
        held.append(third)
        third.sendall(GET)
        assert answered_within(third, 1.0) is None, "a third client got a thread past --max-clients 2"
        held[0].close()
        response = answered_within(third, 5.0)
        assert response is not None and response.status == 200, "the third client was never served"
    finally:
        for sock in held:
            sock.close()


def test_thread_count_stays_bounded(fresh_server):
    """Twenty idle clients with --max-clients 4: main plus at most 4 connection threads."""
    srv = fresh_server("--max-clients", "4")
    held = [srv.connect() for _ in range(20)]
    try:
        for sock in held:
            sock.sendall(GET)
        answered_within(held[0], 2.0)  # give the server time to start whatever it will start
        assert threads(srv.pid) <= 5, f"{threads(srv.pid)} threads with --max-clients 4"
    finally:
        for sock in held:
            sock.close()

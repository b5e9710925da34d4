"""Exercise max-clients (chapter 03): at --max-clients, wait for a thread to finish.

The starting copy counts threads but never waits, so every client gets a thread at once and a
flood of idle clients (slowloris) makes as many threads as it likes. The reference waits on a
condition variable while --max-clients threads are live; the clients beyond the cap wait in the
kernel's listen backlog, and the thread count stays bounded.
"""

from harness import answered_within, sent_on_new_connections
from test_processes import test_max_clients_cap  # noqa: F401  (collected by pytest: the cap itself)

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def threads(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    raise AssertionError("no Threads line")


def test_thread_count_stays_bounded(fresh_server):
    """Twenty idle clients with --max-clients 4: main plus at most 4 connection threads."""
    srv = fresh_server("--max-clients", "4")
    held = sent_on_new_connections(srv, 20, GET)
    try:
        answered_within(held[0], 2.0)  # give the server time to start whatever it will start
        assert threads(srv.pid) <= 5, f"{threads(srv.pid)} threads with --max-clients 4"
    finally:
        for sock in held:
            sock.close()

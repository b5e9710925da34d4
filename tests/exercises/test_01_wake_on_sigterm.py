"""Exercise wake-on-sigterm (chapter 01): an idle server must notice SIGTERM at once.

The starting copy waits for clients inside accept() on a blocking listener. A signal does
interrupt accept() (EINTR), but common::accept_client() retries EINTR, as it should, so the
server goes straight back to sleep and never looks at the shutdown flag again: SIGTERM is lost
until the next client arrives. The reference waits in poll() on the listener *and* on the
shutdown eventfd, which turns readable for good on SIGTERM.
"""

import signal

from harness import STOP_TIMEOUT, cpu_during

GET = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"


def stop(srv, sig):
    """Sends sig; returns (exit code or None if it had to be killed, seconds taken)."""
    code, elapsed, _ = srv.stop(STOP_TIMEOUT + 2, sig)
    return code, elapsed


def test_sigterm_with_no_client_yet(fresh_server):
    """SIGTERM before any client came: exit 0 within 2 s."""
    srv = fresh_server()
    code, elapsed = stop(srv, signal.SIGTERM)
    assert code is not None, "still running after SIGTERM: the wait for a client never ended"
    assert code == 0 and elapsed < STOP_TIMEOUT


def test_sigint_after_serving_a_client(fresh_server):
    """A client is served and leaves; then Ctrl-C (SIGINT) must stop the idle server."""
    srv = fresh_server()
    assert srv.request(GET).status == 200
    code, elapsed = stop(srv, signal.SIGINT)
    assert code is not None, "still running after SIGINT: the wait for a client never ended"
    assert code == 0 and elapsed < STOP_TIMEOUT


def test_still_serves_one_client_after_another(fresh_server):
    """The fix must not change the model: clients are still served, one after the other."""
    srv = fresh_server()
    for _ in range(3):
        assert srv.request(GET).status == 200


def test_an_idle_server_sleeps(fresh_server):
    """An idle server uses under 0.1 s of CPU in 1 s, before its first client and after one: it
    waits for a client (and for SIGTERM) in poll(). A non-blocking listener with no wait turns the
    accept loop into a busy spin that notices SIGTERM at once but burns a core while nobody comes."""
    srv = fresh_server()
    used = cpu_during(srv.pid, 1.0)
    assert used < 0.1, f"{used:.2f} s of CPU in 1 s with no client: the accept loop spins"
    assert srv.request(GET).status == 200
    used = cpu_during(srv.pid, 1.0)
    assert used < 0.1, f"{used:.2f} s of CPU in 1 s after its client left: the accept loop spins"

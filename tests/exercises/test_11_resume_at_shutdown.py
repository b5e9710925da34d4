"""Exercise resume-at-shutdown (chapter 11): at shutdown, the loop resumes every suspended frame.

A suspended coroutine is only memory: nothing runs it again unless the loop does. The starting
copy's loop notes the shutdown and resumes nobody, so the listener's coroutine never learns it
must stop accepting, an idle client's coroutine sleeps until its idle timeout, and the loop, which
ends when its last frame does, outlives the 2 s the protocol promises. The reference resumes every
waiting frame once with kShutdown: each then lets its protocol decide (close an idle client, let
a response in flight finish within the grace).
"""

from harness import answered_keep_alive


def test_sigterm_with_idle_clients_exits_within_two_seconds(fresh_server):
    """Three idle keep-alive clients, then SIGTERM: the server exits 0 within 2 s, and each client
    sees its connection closed."""
    server = fresh_server()
    socks = answered_keep_alive(server, 3)
    try:
        code, elapsed, err = server.stop(timeout=2.0)
        assert code == 0, (f"still running {elapsed:.1f} s after SIGTERM: the suspended frames were "
                           f"never resumed" if code is None else f"exit status {code}: {err}")
        for sock in socks:
            sock.settimeout(1.0)
            assert sock.recv(1) == b"", "an idle client's connection was left open"
    finally:
        for sock in socks:
            sock.close()


def test_sigterm_with_no_client_exits_within_two_seconds(fresh_server):
    """No client at all, then SIGTERM: the listener's coroutine must be resumed too."""
    server = fresh_server()
    assert server.request(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").status == 200
    code, elapsed, err = server.stop(timeout=2.0)
    assert code == 0, (f"still running {elapsed:.1f} s after SIGTERM" if code is None
                       else f"exit status {code}: {err}")

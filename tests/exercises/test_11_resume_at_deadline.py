"""Exercise resume-at-deadline (chapter 11): a suspended coroutine is resumed at its deadline.

The starting copy leaves a frame's handle with its descriptor and forgets its deadline: a
coroutine that waits for input is resumed only by its socket. An idle keep-alive client then holds
its connection (and its frame) for good, and a half-sent request waits for ever instead of getting
408. The reference puts each wait's deadline in the loop's timer heap, and the loop resumes the
frame with kTimeout when it passes; a wait whose deadline is earlier than the one already queued
for the frame needs an entry of its own.
"""

import time

from harness import Reader, answered_within


def test_an_idle_client_is_closed_at_the_idle_timeout(fresh_server):
    """With --idle-timeout 1, a keep-alive client that sends nothing more is closed within 3 s."""
    server = fresh_server("--idle-timeout", "1")
    with server.connect(timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert Reader(sock).read().status == 200
        sock.settimeout(3.0)
        start = time.monotonic()
        try:
            data = sock.recv(1)
        except OSError:
            data = None
        assert data == b"", f"the idle connection was not closed within 3 s ({time.monotonic() - start:.1f} s)"


def test_a_half_request_gets_408_at_the_request_timeout(fresh_server):
    """With --request-timeout 1 (and the idle timeout at its default 5 s), a request that stops
    half-way gets 408 within 3 s: its wait's deadline is earlier than the idle one queued first."""
    server = fresh_server("--request-timeout", "1")
    with server.connect(timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHo")
        response = answered_within(sock, 3.0)
        assert response is not None, "no answer within 3 s to a request that stopped half-way"
        assert response.status == 408, f"got {response.status}, not 408"


def test_a_half_request_after_an_answer_gets_408_at_the_request_timeout(fresh_server):
    """With --request-timeout 1 and the default 5 s idle timeout, a keep-alive client gets one
    answer and then sends half a request: 408 within 3 s. The frame's wait after the answer is an
    idle one, so the heap already holds its 5 s deadline when it waits for the rest of the request
    with a deadline 4 s earlier: that wait needs an entry of its own."""
    server = fresh_server("--request-timeout", "1")
    with server.connect(timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = Reader(sock)
        assert reader.read().status == 200
        time.sleep(0.2)  # the frame waits, idle, with its idle deadline in the heap
        sock.sendall(b"GET / HTTP/1.1\r\nHo")
        response = answered_within(sock, 3.0)  # the reader before it holds no byte more
        assert response is not None, ("no answer within 3 s to a request that stopped half-way after an "
                                      "answer: its deadline was earlier than the idle one already queued, "
                                      "and only that one was in the heap")
        assert response.status == 408, f"got {response.status}, not 408"

"""Exercise read-until-eagain (chapter 04): an edge-triggered event is reported once.

The starting copy reads once per event, as a level-triggered loop could afford to: whatever the
socket still holds is left for the next event. With EPOLLET there is no next event for bytes that
were already there: the kernel reports the transition to "readable" once, and only new bytes
make a new one. A request that arrived whole while the loop was busy is read 16 KiB at a time,
once, and the rest waits in the kernel until the request timeout gives the client a 408. It works
in a demo, where each request arrives in one segment and the loop is idle. The reference reads
until EAGAIN (common::read_available()), within a budget that it retries itself.
"""

import time

from harness import Reader, answered_within


def _busy_loop(server, ms):
    """Keeps the loop in a handler for ms milliseconds, on a connection of its own."""
    sock = server.connect(timeout=10)
    sock.sendall(f"GET /sleep?ms={ms} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    return sock


def test_body_that_arrived_while_the_loop_was_busy_is_read_whole(server):
    """A POST /echo of 60,000 bytes, sent whole while the loop sleeps in a handler, is echoed whole
    within 3 s of the loop waking up."""
    body = bytes(range(256)) * 234 + b"x" * 96  # 60,000 bytes
    sleeper = _busy_loop(server, 600)
    try:
        time.sleep(0.1)  # the loop is in the handler now
        with server.connect(timeout=5) as sock:
            sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n" + body)
            response = answered_within(sock, 3.6)
        assert response is not None, (
            "no answer within 3 s of the loop waking: after one read per event, the rest of the body "
            "waits in the kernel, and no new event comes for it")
        assert response.status == 200, f"got {response.status}, not 200"
        assert response.body == body, f"echoed {len(response.body)} bytes of 60000"
    finally:
        sleeper.close()


def test_pipelined_burst_that_arrived_while_the_loop_was_busy_is_answered_whole(server):
    """1,000 pipelined GET / (27 KB), sent at once while the loop sleeps, all get their answers."""
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    sleeper = _busy_loop(server, 600)
    try:
        time.sleep(0.1)
        with server.connect(timeout=5) as sock:
            sock.sendall(request * 1000)
            sock.settimeout(3.6)
            reader = Reader(sock)
            answered = 0
            try:
                while answered < 1000:
                    reader.read()
                    answered += 1
            except OSError:  # the timeout: the rest never came
                pass
        assert answered == 1000, (
            f"{answered} of 1,000 pipelined requests answered: the rest were never read, since one "
            "read per event leaves them in the kernel and no new event comes")
    finally:
        sleeper.close()

"""Exercise rearm (chapter 06): a worker that lets go of a connection must re-arm it.

With EPOLLONESHOT the kernel reports a descriptor once and then stays silent until it is armed
again. The starting copy marks the connection parked after answering but never calls
epoll_ctl(EPOLL_CTL_MOD): the first request is answered, and the next request on the same
keep-alive connection waits forever (until the idle timeout closes it, unanswered).
"""

import os
import signal
import subprocess
import time

from harness import STOP_TIMEOUT, Reader, answered_within, received_body

GET = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"


def test_second_request_on_a_keep_alive_connection_is_answered(server):
    """Three requests, one after the other on one keep-alive connection: each answered within 2 s."""
    with server.connect(timeout=5) as sock:
        for n in (1, 2, 3):
            sock.sendall(GET)
            response = answered_within(sock, 2.0)
            assert response is not None, (f"request {n} on a keep-alive connection got no answer within 2 s: "
                                          "the connection was never armed again")
            assert response.status == 200


def test_a_response_larger_than_the_socket_buffer_is_finished(server, big_file):
    """big.bin (4 MiB) needs many writes, each after the socket turns writable again: a worker
    that re-arms for output lets the next one finish it."""
    with server.connect(timeout=5) as sock:
        sock.sendall(b"GET /static/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(5)
        reader = Reader(sock)
        head = reader.read(head_only=True)
        body = received_body(reader, len(big_file))
        assert len(body) >= len(big_file), (f"{len(body)} of {len(big_file)} bytes of big.bin arrived: "
                                            "the rest waited for a re-arm that never came")
        assert head.status == 200


SIZE = 16 * 1024 * 1024  # far more than the socket buffers on the way hold


def test_a_download_in_flight_at_sigterm_is_finished(fresh_server, tmp_path):
    """A 16 MiB download whose client paused, so that the server waits for room (the connection is
    parked, armed for output), when SIGTERM arrives: it completes whole, and the server exits 0
    within 2 s. The shutdown takes a parked connection out of the epoll set to hand it to a worker,
    and so does a deadline: the worker's re-arm must then add it back (EPOLL_CTL_ADD), since
    EPOLL_CTL_MOD fails on a descriptor the set no longer holds, and no event would ever come."""
    content = os.urandom(SIZE)
    (tmp_path / "huge.bin").write_bytes(content)
    srv = fresh_server(docroot=tmp_path)
    # A small receive buffer keeps most of the file in the server's hands when the signal lands.
    with srv.connect(rcvbuf=65536) as sock:
        sock.sendall(b"GET /static/huge.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = Reader(sock)
        assert reader.read(head_only=True).status == 200
        time.sleep(0.3)  # not a start-up wait: the server fills the socket, then waits for room
        start = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        sock.settimeout(5)
        body = received_body(reader, SIZE)
        got = len(body)
        assert got >= SIZE, (f"{got} of {SIZE} bytes arrived: the download stopped short after SIGTERM, "
                             "the connection never armed again once the shutdown had taken it")
        assert body[:SIZE] == content
    try:
        code = srv.proc.wait(timeout=STOP_TIMEOUT + 3)
    except subprocess.TimeoutExpired:
        raise AssertionError("the server did not exit") from None
    assert code == 0
    assert time.monotonic() - start < STOP_TIMEOUT

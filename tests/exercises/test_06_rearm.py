"""Exercise rearm (chapter 06): a worker that lets go of a connection must re-arm it.

With EPOLLONESHOT the kernel reports a descriptor once and then stays silent until it is armed
again. The starting copy marks the connection parked after answering but never calls
epoll_ctl(EPOLL_CTL_MOD): the first request is answered, and the next request on the same
keep-alive connection waits forever (until the idle timeout closes it, unanswered).
"""

from harness import Reader, answered_within

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
        body = reader.buffer
        try:
            while len(body) < len(big_file):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                body += chunk
        except OSError:
            pass
        assert len(body) >= len(big_file), (f"{len(body)} of {len(big_file)} bytes of big.bin arrived: "
                                            "the rest waited for a re-arm that never came")
        assert head.status == 200

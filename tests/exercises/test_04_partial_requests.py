"""Exercise partial-requests (chapter 04): a request may arrive in any number of pieces.

The starting copy parses each read on its own, as the classic epoll tutorial does: whatever an
earlier read left in the connection's buffer is thrown away. It works while every request fits
in one TCP segment and the client is fast, which is why the bug survives a demo. The reference
keeps the unconsumed bytes and hands the parser the whole of them each time.
"""

import time

from harness import answered_within


def test_request_in_two_pieces_is_answered(server):
    """A GET / whose head arrives in two reads (0.3 s apart) is answered 200 "Hello, World!"."""
    with server.connect(timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHo")
        time.sleep(0.3)  # two reads on the server, whatever the network does
        sock.sendall(b"st: x\r\n\r\n")
        response = answered_within(sock, 3.0)
    assert response is not None, "no answer within 3 s to a request sent in two pieces: the first piece was lost"
    assert response.status == 200, f"a request split in two got {response.status}: only its second piece was parsed"
    assert response.body == b"Hello, World!"


def test_post_body_in_pieces_is_echoed(server):
    """A POST /echo whose 3,000-byte body arrives in three pieces is echoed whole."""
    body = b"x" * 3000
    with server.connect(timeout=5) as sock:
        sock.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3000\r\n\r\n" + body[:1000])
        for start in (1000, 2000):
            time.sleep(0.2)
            sock.sendall(body[start : start + 1000])
        response = answered_within(sock, 3.0)
    assert response is not None, "no answer within 3 s to a body sent in three pieces: its pieces were thrown away"
    assert response.status == 200, f"a body in three pieces got {response.status}"
    assert response.body == body, f"echoed {len(response.body)} bytes of 3000"

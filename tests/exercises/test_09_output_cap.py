"""Exercise output-cap (chapter 09): a client that never reads must not be read either.

A multishot receive stays armed until it is cancelled, so the starting copy, which never
cancels it, takes every byte a client sends: a client that pipelines requests and never reads
its answers makes the server buffer its whole flood, and TCP flow control never stops it. The
reference cancels the receive while the connection's unsent output is over kOutputCap and arms
it again once the output drains. This is the black-box suite's own test of that client, run on
the learner's copy. The cap is the protocol's rule, not the whole of it: after a closing answer
the protocol wants input even over the cap, to discard it (Protocol::wants_input()), and a
second test sends after a closing request before it reads.
"""

import os

from harness import Reader, received_body
from test_faults import push_until_stalled
from test_faults import test_client_that_never_reads_is_held_back  # noqa: F401  (collected by pytest)

SIZE = 16 * 1024 * 1024  # the closing answer: far more than kOutputCap and every socket buffer
JUNK = 32 * 1024 * 1024  # sent after the request, before reading: more than the buffers on the way hold


def test_input_after_a_closing_answer_is_still_read(fresh_server, tmp_path):
    """A client asks for a 16 MiB file with Connection: close, then sends 32 MiB more before it
    reads anything: all of it is taken, and then the whole answer arrives. After a closing answer
    the server reads only to discard (Protocol::wants_input() says yes even over kOutputCap), so
    that a client that sends before it reads is not blocked on a full window while the server
    waits for it to read. Receiving only while the output is under the cap deadlocks here."""
    content = os.urandom(SIZE)
    (tmp_path / "huge.bin").write_bytes(content)
    srv = fresh_server(docroot=tmp_path)
    sock = srv.connect(rcvbuf=65536)
    try:
        sock.sendall(b"GET /static/huge.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        pushed = push_until_stalled(sock, b"x" * JUNK, stall=2.0, limit=30.0)
        assert pushed == JUNK, (
            f"the server took {pushed / 2**20:.1f} of {JUNK // 2**20} MiB sent after a closing request: "
            "it stopped receiving while its answer was over the output cap, and the client, which "
            "reads only once it has sent everything, can never drain it")
        sock.setblocking(True)
        sock.settimeout(10)
        reader = Reader(sock)
        assert reader.read(head_only=True).status == 200
        body = received_body(reader, SIZE)
        assert len(body) >= SIZE, f"{len(body)} of {SIZE} bytes of the answer arrived"
        assert body[:SIZE] == content
    finally:
        sock.close()

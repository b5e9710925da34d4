"""Exercise drain-threads (chapter 03): on SIGTERM, finish the responses in flight, then exit.

The connection threads are detached, so nothing makes main wait for them: in the starting copy
main returns as soon as the accept loop ends, and the process exits (destroying the App the
threads still use) while a thread is halfway through sending a response. The reference counts
the live threads and waits, at most 1.7 s, until they are done. The response is a 16 MiB file,
more than a socket's send buffer can take, so an early exit cannot leave the rest to the kernel.
"""

import os
import signal
import subprocess
import time

from harness import LONGEST_COMPUTE, STOP_TIMEOUT, on_one_cpu, sent_on_new_connections, thread_count, wait_until


SIZE = 16 * 1024 * 1024  # four times what the kernel may buffer for one socket (tcp_wmem)
PACE = 0.002  # seconds between two reads of at most 64 KiB: about half a second for SIZE


def read_slowly(sock, first, body_size):
    """Reads the rest of one response at a reader's pace; returns its body, or None if the
    connection ended before the body did."""
    data = bytearray(first)
    while True:
        head_end = data.find(b"\r\n\r\n")
        if head_end >= 0 and len(data) >= head_end + 4 + body_size:
            return bytes(data[head_end + 4 : head_end + 4 + body_size])
        time.sleep(PACE)
        try:
            chunk = sock.recv(65536)
        except ConnectionError:
            return None
        if not chunk:
            return None
        data += chunk


def test_sigterm_during_big_response_completes_it(fresh_server, tmp_path):
    # A file larger than any socket send buffer, so that an exit cannot leave the rest of it to
    # the kernel, and a paced reader that keeps most of it in the server's hands for about half
    # a second after the signal: a process that exits at once cuts the response.
    content = os.urandom(SIZE)
    (tmp_path / "huge.bin").write_bytes(content)
    srv = fresh_server(docroot=tmp_path)
    with srv.connect(rcvbuf=65536) as sock:
        sock.sendall(b"GET /static/huge.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        first = sock.recv(4096)
        assert first.startswith(b"HTTP/1.1 200 ")
        start = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        body = read_slowly(sock, first, SIZE)
        assert body is not None, "the connection closed in the middle of the response"
        assert body == content
    try:
        code = srv.proc.wait(timeout=STOP_TIMEOUT + 3)
    except subprocess.TimeoutExpired:
        srv.proc.kill()
        raise AssertionError("the server did not exit")
    assert code == 0
    assert time.monotonic() - start < STOP_TIMEOUT + 0.5


def test_sigterm_does_not_wait_for_work_that_outlasts_the_grace(fresh_server):
    """Three /compute requests that share one CPU and need many seconds are in flight at SIGTERM:
    the server still exits 0 within 3 s. It waits for the threads at most the grace (1.7 s), then
    leaves without destroying what they use: the protocol's 2 s bound holds even for work that
    cannot be cut short."""
    srv = fresh_server(preexec_fn=on_one_cpu())
    busy = sent_on_new_connections(srv, 3, LONGEST_COMPUTE)
    try:
        assert wait_until(lambda: thread_count(srv.pid) >= 4, 5.0), "the three computations never started"
        time.sleep(0.3)  # they are computing
        code, elapsed, err = srv.stop(timeout=STOP_TIMEOUT + 1)
        assert code is not None, (f"still running {elapsed:.1f} s after SIGTERM: main waits for the "
                                  "connection threads without a bound")
        assert code == 0, f"exit status {code}: {err}"
    finally:
        for sock in busy:
            sock.close()

"""Exercise oneshot (chapter 06): two workers must never hold one connection.

The starting copy registers clients without EPOLLONESHOT. A registration then stays armed while
a worker serves the connection, so every event (more bytes arriving, the socket turning
writable) pushes the same connection onto the queue again, and a second worker reads into the
same buffer, or writes from the same output queue, at the same time as the first: answers come
back torn, repeated, out of order, or not at all. With EPOLLONESHOT the kernel disarms the
descriptor as it reports it, and only the worker's re-arm makes it report again.
"""

import socket
import threading
import time

from harness import Reader

GET_BIG = b"GET /static/big.bin HTTP/1.1\r\nHost: x\r\n\r\n"


def primes_up_to(n):
    return sum(1 for p in range(2, n + 1) if all(p % d for d in range(2, int(p**0.5) + 1)))


def test_requests_sent_one_by_one_are_answered_whole_and_in_order(server):
    """Four connections each send 300 pipelined /compute requests, one send() apiece, while
    their answers are read: every answer arrives, whole, in order."""
    count, connections = 300, 4
    expected = [f"{primes_up_to(n)}\n".encode() for n in range(1, count + 1)]
    socks = [server.connect(timeout=10) for _ in range(connections)]
    problems = []

    def sender(sock):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for n in range(1, count + 1):
                sock.sendall(f"GET /compute?n={n} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        except OSError as e:
            problems.append(f"send failed: {e}")

    threads = [threading.Thread(target=sender, args=(sock,)) for sock in socks]
    for thread in threads:
        thread.start()
    try:
        for index, sock in enumerate(socks):
            reader = Reader(sock)
            for n in range(1, count + 1):
                try:
                    response = reader.read()
                except (OSError, ValueError, AssertionError) as e:
                    problems.append(f"connection {index}: answer {n} of {count} never came whole ({e!r})")
                    break
                if response.status != 200 or response.body != expected[n - 1]:
                    problems.append(f"connection {index}, answer {n}: {response.status} {response.body!r}, "
                                    f"expected {expected[n - 1]!r}: torn or out of order")
                    break
    finally:
        for thread in threads:
            thread.join(timeout=10)
        for sock in socks:
            sock.close()
    assert not problems, "; ".join(problems[:3])


def test_a_big_file_read_slowly_arrives_intact(server, big_file):
    """Two pipelined requests for the 4 MiB big.bin, read slowly: both bodies arrive byte for byte
    (a second worker flushing the same output queue would tear them)."""
    with server.connect(timeout=10) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.sendall(GET_BIG + GET_BIG)
        reader = Reader(sock)
        for copy in (1, 2):
            try:
                head = reader.read(head_only=True)
            except (OSError, ValueError, AssertionError) as e:
                raise AssertionError(f"copy {copy} of big.bin: no intact response head ({e!r})") from e
            assert head.status == 200, f"copy {copy}: status {head.status}"
            body = reader.buffer
            reader.buffer = b""
            while len(body) < len(big_file):
                time.sleep(0.001)
                chunk = sock.recv(min(65536, len(big_file) - len(body)))
                if not chunk:
                    break
                body += chunk
            reader.buffer = body[len(big_file):]
            body = body[: len(big_file)]
            assert len(body) == len(big_file), f"copy {copy}: {len(body)} of {len(big_file)} bytes"
            assert body == big_file, f"copy {copy} of big.bin differs: torn by two writers"
    assert server.alive(), "the server died"

"""Pipelined answers leave in request order, however the server schedules the work.

A server that runs handlers on several threads finishes them in any order; HTTP/1.1 still
requires the answers of one connection in the order of its requests. And a server with bounded
queues must slow clients down when the queues are full, never drop or reorder their requests.
"""

import socket
import struct
import time

import pytest

from harness import Reader


def pipeline(sock, targets, close=False):
    """Sends one GET per target at once; with close, the last one asks to close the connection."""
    requests = [b"GET " + t.encode() + b" HTTP/1.1\r\nHost: x\r\n\r\n" for t in targets]
    if close:
        requests[-1] = requests[-1][:-2] + b"Connection: close\r\n\r\n"
    sock.sendall(b"".join(requests))


def test_slow_request_first_is_still_answered_first(server):
    # The sleep finishes last everywhere except on a server that runs one request at a time.
    targets = ["/sleep?ms=300", "/", "/compute?n=10", "/static/style.css", "/sleep?ms=1", "/"]
    with server.connect(timeout=10) as sock:
        pipeline(sock, targets)
        reader = Reader(sock)
        responses = [reader.read() for _ in targets]
    assert [r.status for r in responses] == [200] * len(targets)
    assert responses[0].body == b"slept 300 ms\n"
    assert responses[1].body == b"Hello, World!"
    assert responses[2].body == b"4\n"
    assert responses[3].header("Content-Type").startswith("text/css")
    assert responses[4].body == b"slept 1 ms\n"
    assert responses[5].body == b"Hello, World!"


def test_many_pipelined_requests_on_many_connections(chapter, fresh_server):
    """1,280 requests at once (80 connections x 16 pipelined): all answered, each in order.

    With one worker, more requests arrive than a bounded request queue may hold. A model that
    holds the rest back (back-pressure) answers every one of them later. A model with admission
    control (it claims to stay responsive past capacity) refuses some at once with 503 and
    Retry-After instead, and must: it may not queue them all. Either way, every answer of a
    connection comes in request order, and every 200 is the right one.
    """
    server = fresh_server(*(["--threads", "1"] if "threads" in chapter.flags else []))
    refuses = chapter.caps["responsive_past_capacity"]
    connections, depth = 80, 16
    socks = [server.connect(timeout=30) for _ in range(connections)]
    refused = 0
    try:
        for index, sock in enumerate(socks):
            # The last request closes: a server that serves one connection at a time moves on.
            pipeline(sock, [f"/compute?n={index * depth + k + 1}" for k in range(depth)], close=True)
        deadline = time.monotonic() + 60
        for index, sock in enumerate(socks):
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            reader = Reader(sock)
            for k in range(depth):
                response = reader.read()
                if refuses and response.status == 503:
                    assert response.header("Retry-After") is not None, "a 503 without Retry-After"
                    refused += 1
                    continue
                n = index * depth + k + 1
                expected = sum(1 for p in range(2, n + 1) if all(p % d for d in range(2, int(p**0.5) + 1)))
                assert response.status == 200, f"connection {index}, request {k}: {response.status}"
                assert response.body == f"{expected}\n".encode(), f"connection {index}, request {k} answered out of order"
    finally:
        for sock in socks:
            sock.close()
    if refuses:
        assert refused > 0, "claims admission control, but queued all 1,280 requests on one thread"


def data_segments_from(port, action):
    """TCP segments with a payload that leave `port` on loopback while action() runs, counted with a
    raw packet socket (root only): with TCP_NODELAY every write of the server is at least one."""
    try:
        raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))  # ETH_P_ALL
    except PermissionError:
        pytest.skip("counting segments needs a raw packet socket (root, or CAP_NET_RAW)")
    with raw:
        raw.bind(("lo", 0))
        raw.setblocking(False)
        action()
        time.sleep(0.1)
        segments = 0
        while True:
            try:
                packet, address = raw.recvfrom(65535)
            except BlockingIOError:
                return segments
            if address[2] == socket.PACKET_OUTGOING:
                continue  # loopback shows each packet twice: as sent, and as received
            ip = packet[14:]
            header, total = (ip[0] & 0x0F) * 4, struct.unpack("!H", ip[2:4])[0]
            tcp = ip[header:]
            if struct.unpack("!H", tcp[:2])[0] == port and total - header - (tcp[12] >> 4) * 4 > 0:
                segments += 1


def test_pipelined_burst_and_the_writes_it_costs(chapter, server):
    """16 pipelined GET / in one write. An event-driven chapter (one that holds 10,000
    connections) reads them with one read and answers them with one write: its output queue
    gathers the responses. A lock-step chapter answers and writes one request at a time: at least
    one segment per response. Both ways, as documented on the chapter pages."""
    depth = 16
    with server.connect(timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # the connection is set up and served
        Reader(sock).read()

        def burst():
            pipeline(sock, ["/"] * depth)
            reader = Reader(sock)
            assert all(reader.read().body == b"Hello, World!" for _ in range(depth))

        segments = data_segments_from(server.port, burst)
    if chapter.caps["c10k"]:
        assert segments <= depth // 4, f"{segments} segments for {depth} pipelined answers: written one by one"
    else:
        assert segments >= depth * 3 // 4, f"{segments} segments for {depth} answers: the lock-step model gathers?"


def test_requests_behind_an_answer_over_the_output_cap_are_answered(server, big_file):
    """A server stops answering pipelined requests while its output holds more than it allows
    (kOutputCap, 1 MiB): big.bin is 4 MiB. When the kernel then takes the whole file at once, as it
    can for a client with a big receive window, the requests behind it are already in the server's
    hands and no more input will come: they must be answered without waiting for any."""
    with server.connect(timeout=3, rcvbuf=4 << 20) as sock:
        reader = Reader(sock)
        for _ in range(3):
            pipeline(sock, ["/static/big.bin", "/"])
            time.sleep(0.2)  # the file leaves while the client is not reading
            assert reader.read().body == big_file
            assert reader.read().body == b"Hello, World!", "the request behind a big answer waits"


def test_cheap_answers_over_the_output_cap_are_all_sent(server):
    """30,000 pipelined GET / in one write: their answers, about 4 MiB, pass the output cap again
    and again, and a server that answers them on the thread that reads (or refuses them there)
    stops at the cap with requests still in hand. The client's big receive window takes all that
    is sent at once, and nothing more will arrive: the rest must be answered without waiting for
    input."""
    count = 30_000
    with server.connect(timeout=5, rcvbuf=4 << 20) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * count)
        reader = Reader(sock)
        first = reader.read()
        assert first.body == b"Hello, World!"
        want = len(first.raw) * (count - 1)  # every answer has the same length
        got = len(reader.buffer)
        try:
            while got < want:
                chunk = sock.recv(1 << 20)
                if not chunk:
                    break
                got += len(chunk)
        except OSError:
            pass
    assert got == want, f"{got // len(first.raw) + 1} of {count} answers arrived: the rest waited for input"

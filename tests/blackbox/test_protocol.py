"""HTTP/1.x parsing, limits, framing and persistence, checked on raw sockets.

Every malformed request must get its exact status; a request whose framing cannot be trusted
(any error found by the parser) is answered with "Connection: close" and the connection ends.
"""

import shutil
import socket
import subprocess
import time

import pytest

from harness import Reader

H = b"Host: x\r\n"


def error_then_eof(server, raw, timeout=10.0):
    """Sends raw, reads one response, and checks that the server closes right after it."""
    with server.connect(timeout) as sock:
        sock.sendall(raw)
        reader = Reader(sock)
        response = reader.read()
        eof = reader.at_eof(timeout=5.0)
    return response, eof


def assert_rejected(server, raw, status):
    response, eof = error_then_eof(server, raw)
    assert response.status == status, response
    assert response.header("Connection") == "close", response
    status_line, why = response.body.split(b"\n", 1)
    assert status_line == b"%d %s" % (status, response.reason.encode())
    assert b"RFC" in why and why.endswith(b"\n"), f"the body does not say which rule was broken: {response.body!r}"
    assert eof, "the connection stayed open after a framing error"


# --- request line ----------------------------------------------------------------------------

@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/3.0", b"HTTP/0.9"])
def test_unsupported_version_is_505(server, version):
    assert_rejected(server, b"GET / %s\r\nHost: x\r\n\r\n" % version, 505)


@pytest.mark.parametrize(
    "line",
    [b"GET / HTTP/1.10", b"GET / HTTP/11", b"GET / http/1.1", b"GET / HTTP/1", b"GET / HTTP/1.x",
     b"GET / HTTPS/1.1", b"GET / HTTP/1.1 ", b"GET /", b"GET", b"GET  / HTTP/1.1", b" GET / HTTP/1.1",
     b"GE(T / HTTP/1.1", b"GET /a\x01b HTTP/1.1", b"GET /a#frag HTTP/1.1", b"GET /\xc3\xa9 HTTP/1.1",
     b"GET / x HTTP/1.1", b"GET\t/ HTTP/1.1", b"GET nohost HTTP/1.1"],
    ids=lambda line: repr(line)[2:-1],
)
def test_malformed_request_line_is_400(server, line):
    assert_rejected(server, line + b"\r\nHost: x\r\n\r\n", 400)


def test_empty_line_before_request_line_is_ignored(server):
    response = server.request(b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (response.status, response.body) == (200, b"Hello, World!")


def test_absolute_form_target_is_accepted(server):
    response = server.request(b"GET http://x/echo?q=1 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.status == 200
    assert response.body.startswith(b"GET http://x/echo?q=1 HTTP/1.1\r\n")


def test_http_1_0_without_host_is_fine(server):
    response, eof = error_then_eof(server, b"GET / HTTP/1.0\r\n\r\n")
    assert (response.status, response.body) == (200, b"Hello, World!")
    assert response.header("Connection") == "close" and eof


@pytest.mark.parametrize("hosts", [b"", b"Host: a\r\nHost: b\r\n", b"Host: a\r\nhost: a\r\n"], ids=["none", "two", "same-twice"])
def test_http_1_1_needs_exactly_one_host(server, hosts):
    assert_rejected(server, b"GET / HTTP/1.1\r\n" + hosts + b"\r\n", 400)


def test_http_1_0_with_two_hosts_is_400(server):
    assert_rejected(server, b"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400)


# --- header lines ----------------------------------------------------------------------------

@pytest.mark.parametrize(
    "raw",
    [
        b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",                       # whitespace before the colon
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A\t: 1\r\n\r\n",             # tab before the colon
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n",   # obs-fold
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n\tfolded\r\n\r\n",   # obs-fold with a tab
        b"GET / HTTP/1.1\r\n folded: 1\r\nHost: x\r\n\r\n",           # a first header that folds
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",            # bare CR in a value
        b"GET / HTTP/1.1\rHost: x\r\n\r\n",                           # bare CR ending a line
        b"GET / HTTP/1.1\nHost: x\n\n",                               # bare LF everywhere
        b"GET / HTTP/1.1\r\nHost: x\nX-A: 1\r\n\r\n",                 # one bare LF
        b"GET / HTTP/1.1\r\nHost: x\r\n\n",                           # bare LF as the blank line
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n",          # control character
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",          # NUL
        b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x7fb\r\n\r\n",          # DEL
        b"GET / HTTP/1.1\r\nHost: x\r\nX(A): 1\r\n\r\n",              # invalid name character
        b"GET / HTTP/1.1\r\nHost: x\r\nX A: 1\r\n\r\n",               # space inside the name
        b"GET / HTTP/1.1\r\nHost: x\r\n: no-name\r\n\r\n",            # empty name
        b"GET / HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n",        # no colon
        b"GET / HTTP/1.1\r\nHost: x\r\nX-\xc3\xa9: 1\r\n\r\n",        # non-ASCII name
    ],
    ids=lambda raw: repr(raw)[2:-1][:60],
)
def test_malformed_header_is_400(server, raw):
    assert_rejected(server, raw, 400)


def test_header_values_are_trimmed_and_obs_text_allowed(server):
    head = b"GET /echo HTTP/1.1\r\nHost: x\r\nX-A: \t caf\xc3\xa9 \t\r\nX-Empty:\r\n"
    response = server.request(head + b"\r\n")
    assert response.status == 200
    assert response.body == head


# --- limits ----------------------------------------------------------------------------------

def test_target_of_8192_bytes_is_accepted(server):
    target = b"/" + b"a" * 8191
    response = server.request(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % target)
    assert response.status == 404  # parsed: no such route


def test_target_over_8192_bytes_is_414(server):
    target = b"/" + b"a" * 8192
    assert_rejected(server, b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % target, 414)


def test_huge_target_is_414_before_the_line_ends(server):
    # The server must not wait for the end of a line that is already too long.
    with server.connect(timeout=5) as sock:
        sock.sendall(b"GET /" + b"a" * 20000)
        reader = Reader(sock)
        response = reader.read()
        assert response.status == 414
        assert response.header("Connection") == "close"


def header_lines(total):
    """Header lines (Host first), each with its CRLF, exactly total bytes long."""
    host = b"Host: x\r\n"
    filler = total - len(host) - len(b"X-Fill: \r\n")
    return host + b"X-Fill: " + b"f" * filler + b"\r\n"


def test_header_section_of_32_kib_is_accepted(server):
    lines = header_lines(32 * 1024)
    assert len(lines) == 32768
    response = server.request(b"GET / HTTP/1.1\r\n" + lines + b"\r\n")
    assert response.status == 200


def test_header_section_over_32_kib_is_431(server):
    assert_rejected(server, b"GET / HTTP/1.1\r\n" + header_lines(32 * 1024 + 1) + b"\r\n", 431)


def test_endless_header_section_is_431_before_it_ends(server):
    with server.connect(timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 5000)
        response = Reader(sock).read()
        assert response.status == 431
        assert response.header("Connection") == "close"


def test_100_header_fields_are_accepted(server):
    fields = b"Host: x\r\n" + b"".join(b"X-F%d: v\r\n" % i for i in range(99))
    response = server.request(b"GET / HTTP/1.1\r\n" + fields + b"\r\n")
    assert response.status == 200


def test_101_header_fields_are_431(server):
    fields = b"Host: x\r\n" + b"".join(b"X-F%d: v\r\n" % i for i in range(100))
    assert_rejected(server, b"GET / HTTP/1.1\r\n" + fields + b"\r\n", 431)


def test_one_mib_body_is_echoed_exactly(server):
    body = bytes((i * 7 + i // 251) % 256 for i in range(1024 * 1024))
    response = server.request(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    assert response.status == 200
    assert response.header("Content-Length") == str(len(body))
    assert response.body == body


def test_body_over_one_mib_is_413(server):
    body = b"z" * (1024 * 1024 + 1)
    assert_rejected(server, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body, 413)


def test_announced_body_over_one_mib_is_413_without_waiting_for_it(server):
    assert_rejected(server, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n", 413)


def test_huge_content_length_is_413(server):
    assert_rejected(server, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999999\r\n\r\n", 413)


def test_chunked_body_of_one_mib_is_echoed(server):
    body = bytes(range(256)) * 4096
    chunks = b"".join(b"%x\r\n" % 65536 + body[i:i + 65536] + b"\r\n" for i in range(0, len(body), 65536))
    raw = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    response = server.request(raw)
    assert response.status == 200
    assert response.body == body


def test_chunked_body_over_one_mib_is_413(server):
    chunks = b"%x\r\n" % (1024 * 1024) + b"a" * (1024 * 1024) + b"\r\n1\r\nb\r\n0\r\n\r\n"
    assert_rejected(server, b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks, 413)


# --- Content-Length and Transfer-Encoding ----------------------------------------------------

@pytest.mark.parametrize(
    "lengths",
    [[b"abc"], [b"+5"], [b"-5"], [b"5.0"], [b"0x5"], [b""], [b"5 5"], [b"5", b"6"], [b"5, 6"], [b"1e3"]],
    ids=lambda v: b"|".join(v).decode(),
)
def test_bad_content_length_is_400(server, lengths):
    head = b"POST /echo HTTP/1.1\r\nHost: x\r\n" + b"".join(b"Content-Length: %s\r\n" % v for v in lengths)
    assert_rejected(server, head + b"\r\nhello", 400)


@pytest.mark.parametrize("lengths", [[b"5", b"5"], [b"5, 5"], [b"05"], [b" 5 "]], ids=["repeated", "list", "leading-zero", "spaces"])
def test_agreeing_content_lengths_are_accepted(server, lengths):
    head = b"POST /echo HTTP/1.1\r\nHost: x\r\n" + b"".join(b"Content-Length:%s\r\n" % v for v in lengths)
    response = server.request(head + b"\r\nhello")
    assert (response.status, response.body) == (200, b"hello")


def test_transfer_encoding_with_content_length_is_400_and_closes(server):
    raw = (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert_rejected(server, raw, 400)


def test_content_length_with_transfer_encoding_after_it_is_400(server):
    raw = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    assert_rejected(server, raw, 400)


@pytest.mark.parametrize("coding", [b"gzip, chunked", b"deflate, chunked", b"gzip;level=1, chunked"])
def test_other_transfer_codings_before_chunked_are_501(server, coding):
    raw = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: %s\r\n\r\n0\r\n\r\n" % coding
    assert_rejected(server, raw, 501)


@pytest.mark.parametrize("coding", [b"gzip", b"deflate", b"chunked, gzip", b"identity", b"chunked;", b"chunked;a=b"])
def test_chunked_not_final_or_malformed_is_400(server, coding):
    raw = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: %s\r\n\r\n0\r\n\r\n" % coding
    assert_rejected(server, raw, 400)


@pytest.mark.parametrize("coding", [[b"chunked, chunked"], [b"chunked", b"chunked"], [b""]], ids=["list", "repeated", "empty"])
def test_bad_chunked_coding_is_400(server, coding):
    head = b"POST /echo HTTP/1.1\r\nHost: x\r\n" + b"".join(b"Transfer-Encoding: %s\r\n" % c for c in coding)
    assert_rejected(server, head + b"\r\n0\r\n\r\n", 400)


def test_transfer_encoding_in_http_1_0_is_400(server):
    assert_rejected(server, b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400)


# --- chunked bodies --------------------------------------------------------------------------

def test_chunked_post_with_extensions_and_trailers(server):
    body = b"hello\r\n\x00\xff world, chunked!"
    raw = (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n"
           + b"7;name=value\r\n" + body[:7] + b"\r\n"
           + b"a ; a=1;b=\"q s\"\r\n" + body[7:17] + b"\r\n"
           + b"%X\r\n" % len(body[17:]) + body[17:] + b"\r\n"
           + b"0;last\r\nX-Trailer: one\r\nX-Other: two\r\n\r\n")
    with server.connect() as sock:
        sock.sendall(raw + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = Reader(sock)
        echoed = reader.read()
        after = reader.read()  # the chunked body ended exactly where it should
    assert echoed.status == 200
    assert echoed.header("Content-Length") == str(len(body))
    assert echoed.body == body
    assert after.body == b"Hello, World!"


def test_empty_chunked_body(server):
    response = server.request(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert (response.status, response.body) == (200, b"")


def test_chunk_sizes_are_hex_in_either_case(server):
    body = b"0123456789abcdefXYZ!?"
    raw = (b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"A\r\n" + body[:10] + b"\r\nb\r\n" + body[10:21] + b"\r\n0\r\n\r\n")
    assert server.request(raw).body == body


@pytest.mark.parametrize(
    "chunks",
    [b"zz\r\nhello\r\n0\r\n\r\n", b"5\r\nhelloXX0\r\n\r\n", b"5 x\r\nhello\r\n0\r\n\r\n", b";ext\r\n\r\n0\r\n\r\n",
     b"-5\r\nhello\r\n0\r\n\r\n", b"0\r\nbad trailer\r\n\r\n", b"0\r\nX-T : v\r\n\r\n", b"5\r\nhello\n0\r\n\r\n"],
    ids=["not-hex", "no-crlf-after-data", "junk-after-size", "no-size", "negative", "trailer-no-colon",
         "trailer-space-before-colon", "bare-lf-after-data"],
)
def test_malformed_chunked_body_is_400(server, chunks):
    assert_rejected(server, b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks, 400)


def test_giant_chunk_size_is_413(server):
    raw = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFFFFFF\r\n"
    assert_rejected(server, raw, 413)


# --- routing statuses keep the connection ----------------------------------------------------

def test_404_and_405_keep_the_connection(server):
    with server.connect() as sock:
        sock.sendall(b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                     b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = Reader(sock)
        statuses = [reader.read() for _ in range(3)]
    assert [r.status for r in statuses] == [404, 405, 200]
    assert all(r.header("Connection") is None for r in statuses)
    assert statuses[1].header("Allow") == "GET, HEAD"
    assert statuses[1].header_names()[:5] == ["Server", "Date", "Content-Type", "Content-Length", "Allow"]


def test_error_ends_the_pipeline(server):
    # After a framing error the server cannot know where the next request starts: it must not
    # answer what follows.
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
                     b"GET / HTTP/1.1\r\nHost : x\r\n\r\n"
                     b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        reader = Reader(sock)
        first = reader.read()
        bad = reader.read()
        assert reader.at_eof()
    assert first.status == 200 and first.header("Connection") is None
    assert bad.status == 400 and bad.header("Connection") == "close"


def test_connection_close_is_last_header(server):
    response, _ = error_then_eof(server, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    assert response.status == 405
    assert response.header_names() == ["Server", "Date", "Content-Type", "Content-Length", "Allow", "Connection"]


# --- persistence -----------------------------------------------------------------------------

def test_http_1_1_keeps_the_connection_by_default(server):
    with server.connect() as sock:
        reader = Reader(sock)
        for _ in range(3):
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            response = reader.read()
            assert response.status == 200
            assert response.header("Connection") is None


@pytest.mark.parametrize("value", [b"close", b"Close", b"keep-alive, close", b"foo,close"])
def test_http_1_1_connection_close_is_honoured(server, value):
    response, eof = error_then_eof(server, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: %s\r\n\r\n" % value)
    assert response.status == 200 and response.body == b"Hello, World!"
    assert response.header("Connection") == "close"
    assert eof


def test_http_1_0_closes_by_default(server):
    with server.connect() as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n")
        reader = Reader(sock)
        response = reader.read()
        assert response.status == 200
        assert response.header("Connection") == "close"
        assert reader.at_eof()  # the second request is not answered


@pytest.mark.parametrize("value", [b"keep-alive", b"Keep-Alive"])
def test_http_1_0_keep_alive_keeps_the_connection(server, value):
    with server.connect() as sock:
        reader = Reader(sock)
        for _ in range(2):
            sock.sendall(b"GET / HTTP/1.0\r\nConnection: %s\r\n\r\n" % value)
            response = reader.read()
            assert response.status == 200 and response.body == b"Hello, World!"
            assert response.header("Connection") == "keep-alive"
            assert response.header_names()[-1] == "Connection"
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        last = reader.read()
        assert last.header("Connection") == "close"
        assert reader.at_eof()


def test_http_1_0_keep_alive_and_close_means_close(server):
    response, eof = error_then_eof(server, b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n")
    assert response.header("Connection") == "close" and eof


def test_http_1_1_response_has_no_keep_alive_header(server):
    response = server.request(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n")
    assert response.header("Connection") is None


# --- pipelining and split delivery -----------------------------------------------------------

def test_pipelined_requests_are_answered_in_order(server):
    raw = (b"GET /echo?n=1 HTTP/1.1\r\nHost: x\r\n\r\n"
           b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nfirst"
           b"GET /compute?n=10 HTTP/1.1\r\nHost: x\r\n\r\n"
           b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nsec\r\n3\r\nond\r\n0\r\n\r\n"
           b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"
           b"GET /echo?n=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    with server.connect() as sock:
        sock.sendall(raw)
        reader = Reader(sock)
        responses = [reader.read() for _ in range(4)]
        responses.append(reader.read(head_only=True))
        responses.append(reader.read())
        assert reader.at_eof()
    assert [r.status for r in responses] == [200] * 6
    assert responses[0].body == b"GET /echo?n=1 HTTP/1.1\r\nHost: x\r\n"
    assert responses[1].body == b"first"
    assert responses[2].body == b"4\n"
    assert responses[3].body == b"second"
    assert responses[4].header("Content-Length") == "13"
    assert responses[5].body == b"GET /echo?n=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
    assert responses[5].header("Connection") == "close"


def test_many_pipelined_requests(server):
    count = 200
    raw = b"".join(b"GET /echo?i=%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(count))
    with server.connect() as sock:
        sock.sendall(raw)
        reader = Reader(sock)
        for i in range(count):
            assert reader.read().body == b"GET /echo?i=%d HTTP/1.1\r\nHost: x\r\n" % i


def send_byte_by_byte(sock, raw):
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(len(raw)):
        sock.sendall(raw[i:i + 1])
        time.sleep(0.001)  # let each byte leave in its own segment


def test_request_sent_one_byte_at_a_time(server):
    head = b"GET /echo?split=1 HTTP/1.1\r\nHost: x\r\nX-A: b\r\n"
    with server.connect() as sock:
        send_byte_by_byte(sock, head + b"\r\n")
        response = Reader(sock).read()
    assert (response.status, response.body) == (200, head)


def test_post_sent_one_byte_at_a_time(server):
    body = b"a\r\nb\x00c"
    chunked = b"3;x=y\r\n" + body[:3] + b"\r\n" + b"3\r\n" + body[3:] + b"\r\n0\r\nT: v\r\n\r\n"
    with server.connect() as sock:
        send_byte_by_byte(sock, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\n" + body)
        send_byte_by_byte(sock, b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked)
        reader = Reader(sock)
        first = reader.read()
        second = reader.read()
    assert (first.status, first.body) == (200, body)
    assert (second.status, second.body) == (200, body)


def test_bad_request_sent_one_byte_at_a_time(server):
    with server.connect() as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        raw = b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n"
        try:
            send_byte_by_byte(sock, raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before the last bytes are sent
        reader = Reader(sock)
        response = reader.read()
        assert response.status == 400
        assert response.header("Connection") == "close"


# --- Expect: 100-continue, with curl itself -------------------------------------------------

def curl_post(server, body_path, expect=True):
    """curl POSTs a file to /echo; returns (HTTP status, seconds, bytes echoed). curl waits up to
    1 s for a 100 Continue before it sends a body announced with Expect (its default)."""
    curl = shutil.which("curl")
    if not curl:
        pytest.skip("curl is not installed (scripts/setup.sh test installs it)")
    cmd = [curl, "-s", "-o", "-", "-w", "\n%{http_code} %{time_total}", "--data-binary", f"@{body_path}",
           "-H", "Expect: 100-continue" if expect else "Expect:", f"http://{server.host}:{server.port}/echo"]
    out = subprocess.run(cmd, capture_output=True, timeout=20).stdout
    body, _, tail = out.rpartition(b"\n")
    status, seconds = tail.split()
    return int(status), float(seconds), len(body)


def test_curl_expect_continue_gets_100_at_once(server, tmp_path):
    """curl announces 500 KiB with Expect: 100-continue: the 100 comes at once, not after curl's
    1 s wait, and the body is echoed whole."""
    body = tmp_path / "body.bin"
    body.write_bytes(b"x" * 500 * 1024)
    status, seconds, echoed = curl_post(server, body)
    assert status == 200 and echoed == 500 * 1024
    assert seconds < 0.8, f"{seconds:.2f} s: curl waited for a 100 Continue that did not come"


def test_curl_body_over_the_limit_gets_413_at_once(server, tmp_path):
    """curl announces 2 MiB with Expect: 100-continue: 413 comes from the head alone, at once."""
    body = tmp_path / "big.bin"
    body.write_bytes(b"x" * 2 * 1024 * 1024)
    status, seconds, _ = curl_post(server, body)
    assert status == 413
    assert seconds < 0.8, f"{seconds:.2f} s: the refusal waited for the body"

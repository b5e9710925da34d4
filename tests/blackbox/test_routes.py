"""Every route and status, checked byte for byte on raw sockets and again with http.client."""

import http.client
import json
import re

import pytest

from harness import mask_date

HELLO = (
    b"HTTP/1.1 200 OK\r\n"
    b"Server: progressive/1.0\r\n"
    b"Date: <date>\r\n"
    b"Content-Type: text/plain\r\n"
    b"Content-Length: 13\r\n"
    b"\r\n"
    b"Hello, World!"
)


def test_hello_exact_bytes(server):
    response = server.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert mask_date(response.raw) == HELLO


def test_date_header_is_an_imf_fixdate(server):
    response = server.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert re.fullmatch(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT", response.header("Date"))


def test_head_has_get_headers_and_no_body(server):
    with server.connect() as sock:
        sock.sendall(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        from harness import Reader
        reader = Reader(sock)
        head = reader.read(head_only=True)
        get = reader.read()
    assert head.status == 200 and head.body == b""
    assert head.header("Content-Length") == "13"
    assert mask_date(head.raw) == HELLO[: -len(b"Hello, World!")]
    assert get.body == b"Hello, World!"  # proves HEAD sent no body bytes


def test_http_client_hello(server):
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type") == "text/plain"
        assert response.read() == b"Hello, World!"
        conn.request("GET", "/stats")  # same connection: keep-alive
        stats = json.loads(conn.getresponse().read())
        assert stats["model"]
    finally:
        conn.close()


def test_echo_post_returns_body_byte_for_byte(server):
    body = bytes(range(256)) * 40
    raw = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    response = server.request(raw)
    assert response.status == 200
    assert response.header("Content-Type") == "application/octet-stream"
    assert response.body == body


def test_echo_get_returns_head_as_received(server):
    head = b"GET /echo?x=1 HTTP/1.1\r\nHost: example\r\nX-Odd-Case:  spaced value \r\n"
    response = server.request(head + b"\r\n")
    assert response.status == 200
    assert response.header("Content-Type") == "text/plain"
    assert response.body == head


@pytest.mark.parametrize("n,count", [(1, 0), (2, 1), (10, 4), (100, 25), (10000, 1229)])
def test_compute_counts_primes(server, n, count):
    response = server.request(b"GET /compute?n=%d HTTP/1.1\r\nHost: x\r\n\r\n" % n)
    assert (response.status, response.body) == (200, b"%d\n" % count)


@pytest.mark.parametrize("query", [b"", b"?n=0", b"?n=10000001", b"?n=abc", b"?n=-5", b"?n=", b"?m=5", b"?n=5x"])
def test_compute_rejects_bad_n(server, query):
    response = server.request(b"GET /compute%s HTTP/1.1\r\nHost: x\r\n\r\n" % query)
    assert response.status == 400


def test_sleep_sleeps(server):
    import time
    start = time.monotonic()
    response = server.request(b"GET /sleep?ms=300 HTTP/1.1\r\nHost: x\r\n\r\n")
    elapsed = time.monotonic() - start
    assert (response.status, response.body) == (200, b"slept 300 ms\n")
    assert 0.29 <= elapsed < 5


@pytest.mark.parametrize("query", [b"", b"?ms=10001", b"?ms=-1", b"?ms=1.5", b"?ms=x"])
def test_sleep_rejects_bad_ms(server, query):
    assert server.request(b"GET /sleep%s HTTP/1.1\r\nHost: x\r\n\r\n" % query).status == 400


def test_stats_counts_requests_and_connections(chapter, server):
    def stats():
        return json.loads(server.request(b"GET /stats HTTP/1.1\r\nHost: x\r\n\r\n").body)

    before = stats()
    for _ in range(3):
        server.request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    after = stats()
    assert after["chapter"] == chapter.name
    assert after["model"] == chapter.model
    assert after["workers"] >= 1
    # Three requests and the first /stats were served in between; four connections were opened.
    assert after["requests"] - before["requests"] == 4
    assert after["connections"] - before["connections"] == 4
    assert after["open_connections"] >= 1  # the /stats connection itself


def test_stats_content_type(chapter, server):
    """/stats is JSON with the members every chapter has, plus exactly the model's own figures that
    the registry lists for the chapter ("stats")."""
    response = server.request(b"GET /stats HTTP/1.1\r\nHost: x\r\n\r\n")
    assert response.header("Content-Type") == "application/json"
    assert set(json.loads(response.body)) == {"chapter", "model", "workers", "requests", "connections",
                                              "open_connections", *chapter.stats}


@pytest.mark.parametrize("path", [b"/nope", b"/echo/", b"/static", b"/STATS", b"/stats/x", b"//"])
def test_unknown_path_is_404(server, path):
    response = server.request(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path)
    assert response.status == 404
    assert response.body == b"404 Not Found\n"


@pytest.mark.parametrize(
    "method,path,allow",
    [(b"POST", b"/", "GET, HEAD"), (b"POST", b"/stats", "GET, HEAD"), (b"POST", b"/static/index.html", "GET, HEAD"),
     (b"POST", b"/compute?n=5", "GET, HEAD"), (b"POST", b"/sleep?ms=1", "GET, HEAD")],
)
def test_known_method_on_wrong_route_is_405_with_allow(server, method, path, allow):
    raw = b"%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n" % (method, path)
    response = server.request(raw)
    assert response.status == 405
    assert response.header("Allow") == allow


@pytest.mark.parametrize("method", [b"PUT", b"DELETE", b"OPTIONS", b"PATCH", b"BREW", b"get"])
def test_unknown_method_is_501(server, method):
    response = server.request(b"%s / HTTP/1.1\r\nHost: x\r\n\r\n" % method)
    assert response.status == 501


def test_every_response_has_the_common_headers(server):
    for raw in [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n",
                b"GET /static/style.css HTTP/1.1\r\nHost: x\r\n\r\n", b"BREW / HTTP/1.1\r\nHost: x\r\n\r\n"]:
        response = server.request(raw)
        assert response.header_names()[:4] == ["Server", "Date", "Content-Type", "Content-Length"], raw
        assert response.header("Server") == "progressive/1.0"
